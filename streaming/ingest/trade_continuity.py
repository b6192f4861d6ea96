"""Trade-id continuity per symbol (pure): what a shard publishes of a symbol's trades.

Binance numbers a symbol's trades (and, separately, its aggregate trades) one by one, so
the next id is always the previous + 1:

- the next id: in sequence, published;
- a jump: a gap (trades the shard never received: a dropped connection, a lost frame).
  The trade is still published (it is real); the gap and the ids it skipped are counted
  per symbol and the caller logs it, the way a book gap is counted;
- the same id again or an older one: a repeat (a frame seen on two connections at a
  reconnect or handover), dropped and counted, so Kafka holds each trade once.

The first trade of a symbol is accepted whatever its id: there is nothing to compare with.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Step(Enum):
    FIRST = "first"
    NEXT = "next"
    GAP = "gap"
    REPEAT = "repeat"


@dataclass(frozen=True, slots=True)
class Checked:
    """The verdict on one trade id: its step, the previous id, and how many ids a gap skipped."""

    step: Step
    previous: int | None = None
    missing: int = 0

    @property
    def publish(self) -> bool:
        return self.step is not Step.REPEAT


@dataclass
class SymbolGaps:
    gaps: int = 0
    missing: int = 0  # trade ids the gaps skipped


class TradeContinuity:
    """The last trade id accepted per symbol, and the gaps and repeats seen."""

    def __init__(self) -> None:
        self._last: dict[str, int] = {}
        self.gaps: dict[str, SymbolGaps] = {}  # only symbols that had one
        self.repeats = 0

    def check(self, symbol: str, trade_id: int) -> Checked:
        """Accept `trade_id` as `symbol`'s newest trade, or reject it as a repeat."""
        previous = self._last.get(symbol)
        if previous is None:
            self._last[symbol] = trade_id
            return Checked(Step.FIRST)
        if trade_id <= previous:
            self.repeats += 1
            return Checked(Step.REPEAT, previous)
        self._last[symbol] = trade_id
        if trade_id == previous + 1:
            return Checked(Step.NEXT, previous)
        missing = trade_id - previous - 1
        counts = self.gaps.setdefault(symbol, SymbolGaps())
        counts.gaps += 1
        counts.missing += missing
        return Checked(Step.GAP, previous, missing)

    def last(self, symbol: str) -> int | None:
        return self._last.get(symbol)
