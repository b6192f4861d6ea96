"""The bounded queue of one subscriber: conflates when full, knows how far behind it is.

Pure logic (no asyncio, no I/O) so it is unit-tested alone. The hub pushes `Change`s; the
subscriber's sender takes everything pending at once and sends it as one message, so a
burst of updates costs one write per client, not one per update.

- Full queue: it conflates to the newest change per symbol (older values of a symbol are
  superseded anyway), counting what it dropped.
- Lag: the time since the oldest change still waiting was queued. A sender that keeps
  up empties the queue every few milliseconds; one stuck behind a full connection does not,
  and the hub drops it past `client_max_lag_s`.
- Snapshot due: the next take is a full snapshot (first message, or after a Redis
  reconnect); pending changes are discarded since the snapshot is at least as new.
- Trades (`conflate=False`, `snapshot_first=False`): every change matters, so a full queue
  does not conflate; it reports `overflow` (how far behind) and the hub drops the subscriber.
  A burst pushed into an empty queue is kept whole, however large (a sender that keeps up
  takes everything at once, so it never holds changes when the next burst comes); it is the
  changes still waiting from an earlier push that make a queue past its capacity overflow.
"""

from __future__ import annotations

from typing import NamedTuple


class Change(NamedTuple):
    """One accepted update, framed once by the hub and shared by every subscriber."""

    symbol: str
    update_id: int
    frame: object  # what the stream's kind builds messages from (`serving.kinds`): framed bytes
    publish_us: int  # when it entered the platform's last hop (Redis publish, Kafka append)


class Batch(NamedTuple):
    snapshot: bool  # True: send a full snapshot; `changes` is then empty
    changes: list[Change]


class ClientQueue:
    def __init__(self, capacity: int, *, conflate: bool = True, snapshot_first: bool = True) -> None:
        self.capacity = capacity
        self.conflates = conflate
        self._changes: list[Change] = []
        self._snapshot_due = snapshot_first  # a subscription starts with a snapshot
        self._behind_since: float | None = None
        self.conflated = 0  # changes superseded by a newer one of the same symbol
        self.overflow = 0  # conflate=False: changes queued when the queue overflowed; 0 while it has not

    def __len__(self) -> int:
        return len(self._changes)

    @property
    def snapshot_due(self) -> bool:
        return self._snapshot_due

    @property
    def ready(self) -> bool:
        return self._snapshot_due or bool(self._changes)

    def push(self, changes: list[Change], now: float) -> int:
        """Queue changes (oldest first); returns how many were conflated away."""
        if not changes or self._snapshot_due:
            return 0  # a pending snapshot will carry the newest state anyway
        if self._behind_since is None:
            self._behind_since = now
        waiting = bool(self._changes)
        self._changes.extend(changes)
        if len(self._changes) <= self.capacity:
            return 0
        if not self.conflates:
            if waiting:
                self.overflow = len(self._changes)
            return 0
        return self._conflate()

    def _conflate(self) -> int:
        newest: dict[str, Change] = {}
        for change in self._changes:
            newest.pop(change.symbol, None)  # re-insert: order follows the newest change
            newest[change.symbol] = change
        dropped = len(self._changes) - len(newest)
        self._changes = list(newest.values())
        self.conflated += dropped
        return dropped

    def request_snapshot(self, now: float) -> None:
        self._changes = []
        self._snapshot_due = True
        if self._behind_since is None:
            self._behind_since = now

    def take(self) -> Batch:
        """Everything pending, emptied; the subscriber is no longer behind."""
        batch = Batch(self._snapshot_due, self._changes)
        self._changes = []
        self._snapshot_due = False
        self._behind_since = None
        return batch

    def lag(self, now: float) -> float:
        return 0.0 if self._behind_since is None else now - self._behind_since
