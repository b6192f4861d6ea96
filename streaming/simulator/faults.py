"""Faults the simulator injects on demand (pure bookkeeping and bad payloads).

- gap: the next event of a symbol is generated but never sent (clients see `U > u+1`).
- crossed: the next event of a symbol puts a bid at/above the best ask (not applied to
  the model, so a fresh REST snapshot is clean again).
- malformed: extra frames that no valid parser accepts (bad JSON, NaN, negative qty,
  missing field, unparsable decimal, crossed top-N); they consume no update ids.
- drop / stall: connection faults, applied by the server (abort TCP; stop reading, so
  client pings get no pong).
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict, deque
from enum import Enum

from streaming.simulator.protocol import dumps
from streaming.simulator.model import SymbolModel


class Fault(str, Enum):
    gap = "gap"
    crossed = "crossed"
    malformed = "malformed"
    drop = "drop"
    stall = "stall"


MALFORMED_DIFF = ("truncated json", "nan qty", "negative qty", "missing u", "unparsable price")
MALFORMED_PARTIAL = ("truncated json", "nan qty", "negative qty", "missing lastUpdateId", "crossed book")


class FaultPlan:
    """Per-symbol faults waiting for the symbol's next event."""

    def __init__(self) -> None:
        self._event_faults: dict[str, deque[Fault]] = defaultdict(deque)
        self._malformed: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()
        self._variant = itertools.count()

    def add(self, fault: Fault, symbol: str, count: int = 1) -> None:
        if fault in (Fault.gap, Fault.crossed):
            self._event_faults[symbol].extend([fault] * count)
        elif fault is Fault.malformed:
            self._malformed[symbol] += count
        else:
            raise ValueError(f"{fault.value} is a connection fault, not a symbol fault")
        self.injected[fault.value] += count

    def take_event_fault(self, symbol: str) -> Fault | None:
        queue = self._event_faults.get(symbol)
        return queue.popleft() if queue else None

    def take_malformed(self, symbol: str) -> int:
        return self._malformed.pop(symbol, 0)

    def next_variant(self) -> int:
        return next(self._variant)


def malformed_diff(model: SymbolModel, event_time_ms: int, variant: int) -> str:
    """A bad diff payload (JSON text) reusing the last sent ids, so it cannot move a book."""
    kind = MALFORMED_DIFF[variant % len(MALFORMED_DIFF)]
    bids, asks = model.top(1)
    price = bids[0][0] if bids else "1.00000000"
    last = model.last_update_id
    payload = {"e": "depthUpdate", "E": event_time_ms, "s": model.symbol, "U": last, "u": last,
               "b": [[price, "1.00000000"]], "a": []}
    if kind == "truncated json":
        return dumps(payload)[:40]
    if kind == "nan qty":
        payload["b"] = [[price, "NaN"]]
    elif kind == "negative qty":
        payload["b"] = [[price, "-1.00000000"]]
    elif kind == "missing u":
        del payload["u"]
    elif kind == "unparsable price":
        payload["b"] = [["12.3.4", "1.00000000"]]
    return dumps(payload)


def malformed_partial(model: SymbolModel, levels: int, variant: int) -> str:
    kind = MALFORMED_PARTIAL[variant % len(MALFORMED_PARTIAL)]
    bids, asks = model.top(levels)
    payload = {"lastUpdateId": model.last_update_id, "bids": [list(b) for b in bids],
               "asks": [list(a) for a in asks]}
    if kind == "truncated json":
        return dumps(payload)[:40]
    if kind == "nan qty" and bids:
        payload["bids"][0][1] = "NaN"
    elif kind == "negative qty" and asks:
        payload["asks"][0][1] = "-1.00000000"
    elif kind == "missing lastUpdateId":
        del payload["lastUpdateId"]
    elif kind == "crossed book":
        return crossed_partial(model, levels)
    return dumps(payload)


def crossed_partial(model: SymbolModel, levels: int) -> str:
    """A top-N frame whose best bid is above its best ask."""
    bids, asks = model.top(levels)
    return dumps({"lastUpdateId": model.last_update_id, "bids": [list(a) for a in reversed(asks)],
                  "asks": [list(b) for b in reversed(bids)]})
