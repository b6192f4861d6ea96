"""A local order book maintained exactly by Binance's rules (pure, no I/O).

1. Buffer diff events until a REST snapshot arrives (the caller fetches it when asked).
2. A snapshot older than the first buffered event (lastUpdateId + 1 < U) is useless:
   ask for another one.
3. Drop events with u <= lastUpdateId; the first kept event must satisfy
   U <= lastUpdateId + 1 <= u, and every next one U == previous u + 1. Anything else is a
   gap: drop the book, keep buffering from that event, ask for a new snapshot.
4. Quantities are absolute; 0 removes the level (removing an absent level is normal).
5. A crossed book after an event (best bid >= best ask) means the book is wrong: drop
   it, ask for a new snapshot, never emit it.

Prices are ordered by their exact `Decimal` value; the strings are kept as received.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from decimal import Decimal
from typing import NamedTuple

from streaming.ingest.frames import DepthSnapshot, DiffEvent, Level

DEFAULT_MAX_BUFFER = 10_000  # events kept while waiting for a snapshot (oldest dropped first)


class Applied(NamedTuple):
    """An event was applied; the top-N of the book right after it."""

    event: DiffEvent
    bids: list[Level]
    asks: list[Level]


class Resync(NamedTuple):
    """The book was dropped (reason: 'gap' or 'crossed'); a new snapshot is needed."""

    reason: str
    event: DiffEvent | None


class Buffered(NamedTuple):
    """Kept until a snapshot arrives."""


class Stale(NamedTuple):
    """Already covered by the book (u <= its update id): dropped."""


class SnapshotTooOld(NamedTuple):
    """The snapshot predates the buffered events: fetch another one."""

    last_update_id: int
    first_buffered_id: int


class InvalidSnapshot(NamedTuple):
    """The snapshot itself is unusable (crossed): fetch another one."""

    reason: str


Outcome = Applied | Resync | Buffered | Stale
BUFFERED, STALE = Buffered(), Stale()


class BookSide:
    """Levels of one side, kept sorted best-first (bids by -price, asks by price)."""

    __slots__ = ("_keys", "_levels", "_sign")

    def __init__(self, descending: bool) -> None:
        self._sign = -1 if descending else 1
        self._keys: list[Decimal] = []  # sorted ascending = best first
        self._levels: dict[Decimal, Level] = {}

    def set(self, price: str, qty: str) -> None:
        key = Decimal(price) * self._sign
        if Decimal(qty) == 0:
            if self._levels.pop(key, None) is not None:
                del self._keys[bisect_left(self._keys, key)]
        else:
            if key not in self._levels:
                insort(self._keys, key)
            self._levels[key] = (price, qty)

    def best(self) -> Decimal | None:
        """The best price (as a positive Decimal) or None if empty."""
        return self._keys[0] * self._sign if self._keys else None

    def top(self, n: int) -> list[Level]:
        levels = self._levels
        return [levels[k] for k in self._keys[:n]]

    def clear(self) -> None:
        self._keys.clear()
        self._levels.clear()

    def __len__(self) -> int:
        return len(self._keys)


class LocalBook:
    """One symbol's book: feed it events and snapshots, read the outcomes."""

    def __init__(self, depth: int, max_buffer: int = DEFAULT_MAX_BUFFER) -> None:
        self.depth = depth
        self.bids = BookSide(descending=True)
        self.asks = BookSide(descending=False)
        self.last_update_id: int | None = None  # None: not synced, buffering
        self._awaiting_first = False  # the next event is the first after a snapshot
        self._buffer: deque[DiffEvent] = deque(maxlen=max_buffer)

    @property
    def synced(self) -> bool:
        return self.last_update_id is not None

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def on_event(self, event: DiffEvent) -> Outcome:
        if self.last_update_id is None:
            self._buffer.append(event)
            return BUFFERED
        return self._apply(event)

    def on_snapshot(self, snapshot: DepthSnapshot) -> list[Outcome] | SnapshotTooOld | InvalidSnapshot:
        """Load a snapshot and replay the buffer; a problem asks for another snapshot."""
        if self.synced:
            return []  # a late duplicate: the book is already live
        if self._buffer and snapshot.last_update_id + 1 < self._buffer[0].first_id:
            return SnapshotTooOld(snapshot.last_update_id, self._buffer[0].first_id)
        if snapshot.bids and snapshot.asks and Decimal(snapshot.bids[0][0]) >= Decimal(snapshot.asks[0][0]):
            return InvalidSnapshot("crossed snapshot")
        for price, qty in snapshot.bids:
            self.bids.set(price, qty)
        for price, qty in snapshot.asks:
            self.asks.set(price, qty)
        self.last_update_id = snapshot.last_update_id
        self._awaiting_first = True
        pending, self._buffer = list(self._buffer), deque(maxlen=self._buffer.maxlen)
        return [self.on_event(event) for event in pending]

    def _apply(self, event: DiffEvent) -> Outcome:
        last = self.last_update_id
        if event.last_id <= last:
            return STALE
        if self._awaiting_first:
            in_sequence = event.first_id <= last + 1
        else:
            in_sequence = event.first_id == last + 1
        if not in_sequence:
            self.reset()
            self._buffer.append(event)  # a valid event: it starts the next sync
            return Resync("gap", event)
        for price, qty in event.bids:
            self.bids.set(price, qty)
        for price, qty in event.asks:
            self.asks.set(price, qty)
        best_bid, best_ask = self.bids.best(), self.asks.best()
        if best_bid is not None and best_ask is not None and best_bid >= best_ask:
            self.reset()
            return Resync("crossed", event)
        self.last_update_id = event.last_id
        self._awaiting_first = False
        return Applied(event, self.bids.top(self.depth), self.asks.top(self.depth))

    def reset(self) -> None:
        """Forget the book (not the buffer): the next snapshot starts it again."""
        self.bids.clear()
        self.asks.clear()
        self.last_update_id = None
        self._awaiting_first = False
