"""The pure, seeded order-book model behind the simulator (no I/O, no clocks).

Each symbol has a book of integer price levels (ticks -> lots) that evolves one event
at a time: the touch random-walks (a level is consumed and the quote steps), levels
arrive, change and cancel (mostly near the top), the spread is sometimes improved, and
occasionally a sweep takes out several levels of one side. Every event consumes as many
update ids as it changes levels, exactly like Binance's `U..u` ranges, so a client that
misses one sees a gap. The same seed gives the same books, whatever the clock.
"""

from __future__ import annotations

import hashlib
import random
from bisect import bisect_left, insort
from dataclasses import dataclass, field

from streaming.simulator.instruments import Instrument, format_units, instrument

P_TICK_MOVE = 0.25  # per event: the touch moves one tick
P_SWEEP = 0.005  # per event: a sweep takes 2-5 levels of one side
P_IMPROVE = 0.08  # per event: a new level inside a wide spread
MAX_LEVEL_CHANGES = 4  # random arrivals/changes/cancels per event
MEAN_DEPTH = 4.0  # levels from the touch where changes happen, on average

Level = tuple[str, str]  # (price, qty) exactly as printed on the wire


@dataclass(frozen=True)
class BookEvent:
    """One diff: levels whose quantity changed (qty 0 = removed), ids U..u."""

    symbol: str
    first_id: int
    last_id: int
    bids: list[Level]
    asks: list[Level]


def _seed_of(seed: int, symbol: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{symbol}".encode()).digest()[:8], "big")


@dataclass
class _Side:
    """Price levels of one side: ticks -> lots, plus the ticks sorted ascending."""

    levels: dict[int, int] = field(default_factory=dict)
    sorted_ticks: list[int] = field(default_factory=list)

    def set(self, ticks: int, lots: int) -> None:
        if lots <= 0:
            if self.levels.pop(ticks, None) is not None:
                del self.sorted_ticks[bisect_left(self.sorted_ticks, ticks)]
        else:
            if ticks not in self.levels:
                insort(self.sorted_ticks, ticks)
            self.levels[ticks] = lots


class SymbolModel:
    """The book of one symbol; `step()` advances it by one event."""

    def __init__(self, symbol: str, seed: int, levels: int = 100) -> None:
        self.instrument: Instrument = instrument(symbol)
        self.symbol = self.instrument.symbol
        self.max_levels = levels
        self._rng = random.Random(_seed_of(seed, self.symbol))
        self.last_update_id = self._rng.randrange(10**9, 10**10)
        self._bids = _Side()
        self._asks = _Side()
        self._changes: tuple[dict[int, int], dict[int, int]] = ({}, {})
        self._seed_book()

    # --- reading ------------------------------------------------------------------
    def best_bid(self) -> int | None:
        return self._bids.sorted_ticks[-1] if self._bids.sorted_ticks else None

    def best_ask(self) -> int | None:
        return self._asks.sorted_ticks[0] if self._asks.sorted_ticks else None

    def top(self, limit: int) -> tuple[list[Level], list[Level]]:
        """Best-first levels of each side (bids descending, asks ascending)."""
        bids = [self._level(t, self._bids.levels[t]) for t in reversed(self._bids.sorted_ticks[-limit:])]
        asks = [self._level(t, self._asks.levels[t]) for t in self._asks.sorted_ticks[:limit]]
        return bids, asks

    def snapshot(self, limit: int) -> dict:
        """The REST depth snapshot: `{lastUpdateId, bids, asks}`."""
        bids, asks = self.top(limit)
        return {"lastUpdateId": self.last_update_id, "bids": [list(b) for b in bids],
                "asks": [list(a) for a in asks]}

    def _level(self, ticks: int, lots: int) -> Level:
        return (format_units(ticks * self.instrument.tick_units), format_units(lots * self.instrument.lot_units))

    # --- evolving -------------------------------------------------------------------
    def step(self) -> BookEvent:
        """Advance by one event and return the diff that describes it."""
        rng = self._rng
        self._changes = ({}, {})
        if rng.random() < P_TICK_MOVE:
            self._move_touch(up=rng.random() < 0.5)
        if rng.random() < P_SWEEP:
            self._sweep(bid_side=rng.random() < 0.5, depth=rng.randint(2, 5))
        if rng.random() < P_IMPROVE:
            self._improve_spread()
        for _ in range(rng.randint(1, MAX_LEVEL_CHANGES)):
            self._random_change()
        self._refill_empty_sides()
        self._trim()
        return self._event()

    def crossed_event(self) -> BookEvent:
        """A bogus diff putting a bid at or above the best ask (a fault: not applied here)."""
        ask = self.best_ask()
        ticks = (ask if ask is not None else self.instrument.ref_ticks) + self._rng.randint(0, 2)
        self.last_update_id += 1
        return BookEvent(self.symbol, self.last_update_id, self.last_update_id,
                         [self._level(ticks, self._random_lots())], [])

    def _event(self) -> BookEvent:
        bid_changes, ask_changes = self._changes
        count = max(1, len(bid_changes) + len(ask_changes))
        first = self.last_update_id + 1
        self.last_update_id += count
        bids = [self._level(t, bid_changes[t]) for t in sorted(bid_changes, reverse=True)]
        asks = [self._level(t, ask_changes[t]) for t in sorted(ask_changes)]
        return BookEvent(self.symbol, first, self.last_update_id, bids, asks)

    def _set(self, bid_side: bool, ticks: int, lots: int) -> None:
        side = self._bids if bid_side else self._asks
        if lots <= 0 and ticks not in side.levels:
            return
        side.set(ticks, lots)
        self._changes[0 if bid_side else 1][ticks] = max(lots, 0)

    def _random_lots(self) -> int:
        return max(1, int(self.instrument.typical_lots * self._rng.lognormvariate(0.0, 0.9)))

    def _touches(self) -> tuple[int, int]:
        """(best bid, best ask) in ticks, inventing the missing side one tick away."""
        bid, ask = self.best_bid(), self.best_ask()
        if bid is None and ask is None:
            bid = self.instrument.ref_ticks
        if bid is None:
            bid = ask - 1
        if ask is None:
            ask = bid + 1
        return bid, ask

    def _seed_book(self) -> None:
        ref = self.instrument.ref_ticks
        for distance in range(self.max_levels):
            for bid_side, ticks in ((True, ref - distance), (False, ref + 1 + distance)):
                if ticks > 0 and (distance == 0 or self._rng.random() < 0.8):
                    (self._bids if bid_side else self._asks).set(ticks, self._random_lots())

    def _move_touch(self, up: bool) -> None:
        """A trade consumes the best level on one side; the other side may follow."""
        bid, ask = self._touches()
        if up:
            self._set(False, ask, 0)
            if self._rng.random() < 0.5 and bid + 1 < ask:
                self._set(True, bid + 1, self._random_lots())
        else:
            self._set(True, bid, 0)
            if self._rng.random() < 0.5 and ask - 1 > bid and ask - 1 > 0:
                self._set(False, ask - 1, self._random_lots())

    def _sweep(self, bid_side: bool, depth: int) -> None:
        side = self._bids if bid_side else self._asks
        ticks = side.sorted_ticks[-depth:] if bid_side else side.sorted_ticks[:depth]
        for t in list(ticks):
            self._set(bid_side, t, 0)

    def _improve_spread(self) -> None:
        bid, ask = self._touches()
        if ask - bid > 1:
            bid_side = self._rng.random() < 0.5
            self._set(bid_side, bid + 1 if bid_side else ask - 1, self._random_lots())

    def _random_change(self) -> None:
        rng = self._rng
        bid_side = rng.random() < 0.5
        bid, ask = self._touches()
        distance = min(int(rng.expovariate(1.0 / MEAN_DEPTH)), self.max_levels - 1)
        ticks = bid - distance if bid_side else ask + distance
        if ticks <= 0:
            return
        levels = (self._bids if bid_side else self._asks).levels
        if ticks in levels and rng.random() < 0.35:
            self._set(bid_side, ticks, 0)  # cancel
        else:
            self._set(bid_side, ticks, self._random_lots())  # arrival or change

    def _refill_empty_sides(self) -> None:
        bid, ask = self._touches()
        if not self._bids.levels and bid > 0:
            self._set(True, bid, self._random_lots())
        if not self._asks.levels:
            self._set(False, ask, self._random_lots())

    def _trim(self) -> None:
        """Keep `max_levels` per side: far levels leave the book (and the diff says so)."""
        while len(self._bids.sorted_ticks) > self.max_levels:
            self._set(True, self._bids.sorted_ticks[0], 0)
        while len(self._asks.sorted_ticks) > self.max_levels:
            self._set(False, self._asks.sorted_ticks[-1], 0)


class Market:
    """Independent models for a set of symbols (each seeded from `seed` and its name)."""

    def __init__(self, symbols: list[str], seed: int, levels: int = 100) -> None:
        self.models = {s.upper(): SymbolModel(s, seed, levels) for s in symbols}

    def __getitem__(self, symbol: str) -> SymbolModel:
        return self.models[symbol.upper()]

    def __contains__(self, symbol: str) -> bool:
        return symbol.upper() in self.models

    @property
    def symbols(self) -> list[str]:
        return list(self.models)
