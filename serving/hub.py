"""The fan-out hub: one feed in, every subscriber's bounded queue out.

The same hub serves the three streams (`serving.kinds`: signals from Redis, books and trades
from Kafka); its kind says how payloads decode and frame, whether a subscription starts with a
snapshot, and whether a full queue conflates (signals, books) or drops the subscriber (trades).
The hubs of one server share a `StreamSlots`: `serve.max_streams` counts every stream.

The hub holds the latest accepted change per symbol (the snapshot new subscribers get)
and the set of subscribers. Changes offered by the feed are collected and flushed on the
next turn of the event loop or, with many subscribers, once the burst they belong to has
arrived (`serving.coalesce`), so a burst reaches each subscriber as one queue push and one
wake-up, not one per update or per socket read. Everything runs on one event loop: no
locks, and a snapshot built at any moment is consistent with what was fanned out.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Callable, Iterable

from quantcore.log import get_logger
from quantcore.timeutil import now_us
from serving.client_queue import Change, ClientQueue
from serving.coalesce import Coalescer
from serving.kinds import SIGNALS, StreamKind
from serving.metrics import ServeMetrics

log = get_logger("serving.hub")


class CloseReason(enum.Enum):
    LAGGING = "lagging"  # behind past client_max_lag_s, or (trades) past the queue's capacity
    SHUTDOWN = "shutdown"  # the server is stopping


class SubscriberClosed(Exception):
    def __init__(self, reason: CloseReason, details: str) -> None:
        super().__init__(details)
        self.reason = reason
        self.details = details


class HubFull(Exception):
    """More streams than `serve.max_streams`."""


class HubClosed(Exception):
    """The server is shutting down and takes no new subscribers."""


class StreamSlots:
    """The concurrent streams of a server, whichever hub serves them (`serve.max_streams`)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0


class Subscriber:
    """One stream as the hub sees it."""

    __slots__ = ("symbols", "depth", "queue", "wakeup", "task", "writing", "closed", "closing", "peer")

    def __init__(self, symbols: frozenset[str] | None, queue: ClientQueue, task: asyncio.Task | None,
                 peer: str, depth: int | None = None) -> None:
        self.symbols = symbols  # None: every symbol
        self.depth = depth  # books: levels per side
        self.queue = queue
        self.wakeup = asyncio.Event()
        self.task = task  # the RPC's task, cancelled to unblock a write stuck on flow control
        self.writing = False
        self.closed: SubscriberClosed | None = None  # end now, discarding what is queued
        self.closing: SubscriberClosed | None = None  # end once the queue is drained
        self.peer = peer


class Hub:
    def __init__(self, universe: Iterable[str], *, queue_size: int, max_lag_s: float, max_streams: int,
                 metrics: ServeMetrics | None = None, clock: Callable[[], float] = time.monotonic,
                 coalescer: Coalescer | None = None, kind: StreamKind = SIGNALS,
                 slots: StreamSlots | None = None) -> None:
        self.universe = tuple(universe)
        self._known = frozenset(self.universe)
        self.kind = kind
        self.queue_size = queue_size
        self.max_lag_s = max_lag_s
        self.slots = slots or StreamSlots(max_streams)
        self.metrics = metrics or ServeMetrics()
        self.clock = clock
        self.state: dict[str, Change] = {}
        self.subscribers: set[Subscriber] = set()
        self._pending: list[Change] = []
        self._flush_scheduled = False
        self._coalescer = coalescer or Coalescer()
        self._closed = False
        self.loaded = False  # a first snapshot has been read (from Redis, or Kafka for books)
        self.on_register: Callable[[], None] | None = None  # told of each new subscriber (serving.kafka_demand)

    @property
    def max_streams(self) -> int:
        return self.slots.limit

    # --- the feed side ------------------------------------------------------------
    def offer(self, payload: bytes, append_us: int = 0) -> None:
        """One message from the feed; fanned out on the next loop turn, or once its burst is in.
        `append_us`: the Kafka append time of a record (books, trades)."""
        change = self.kind.decode(payload, append_us)
        if change is None or change.symbol not in self._known:
            self.metrics.malformed += 1
            if self.metrics.malformed in (1, 10, 100) or self.metrics.malformed % 1000 == 0:
                log.warning(f"ignored a message that is not a {self.kind.record} of a known symbol",
                            stream=self.kind.name, total=self.metrics.malformed, size=len(payload))
            return
        self._pending.append(change)
        loop = asyncio.get_running_loop()
        self._coalescer.arrived(loop.time())
        if self._flush_scheduled:
            return
        self._flush_scheduled = True
        if self._coalescer.waits(len(self.subscribers)):
            loop.call_at(self._coalescer.due(), self._flush_when_quiet)
        else:
            loop.call_soon(self.flush)

    def _flush_when_quiet(self) -> None:
        loop = asyncio.get_running_loop()
        due = self._coalescer.due()
        if loop.time() < due:  # more of the burst arrived meanwhile
            loop.call_at(due, self._flush_when_quiet)
        elif self._flush_scheduled:  # (a resnapshot may have flushed already)
            self.flush()

    def flush(self) -> None:
        """Apply pending changes to the state (newer ids only) and push them to subscribers."""
        self._flush_scheduled = False
        self._coalescer.flushed()
        pending, self._pending = self._pending, []
        accepted = []
        for change in pending:
            held = self.state.get(change.symbol)
            if held is not None and change.update_id <= held.update_id:
                self.metrics.stale_ignored += 1
                continue
            self.state[change.symbol] = change
            accepted.append(change)
        if not accepted:
            return
        self.metrics.updates_received += len(accepted)
        now = self.clock()
        overflowed = []
        for sub in self.subscribers:
            changes = accepted if sub.symbols is None else [c for c in accepted if c.symbol in sub.symbols]
            if changes:
                self.metrics.conflated += sub.queue.push(changes, now)
                if sub.queue.overflow:
                    overflowed.append(sub)
                sub.wakeup.set()
        for sub in overflowed:
            self._drop(sub, f"dropped: fell behind by {sub.queue.overflow} {self.kind.name} (more than the "
                            f"{self.queue_size} a client may have waiting; {self.kind.name} are never conflated); "
                            "read the stream faster or subscribe to fewer symbols")

    def replace_state(self, snapshot: dict[str, bytes], append_us: dict[str, int] | None = None) -> None:
        """A fresh snapshot (Redis: start or reconnect; Kafka: the newest book of each symbol at
        start): every subscriber gets it next. `append_us`: Kafka append times, by the same keys."""
        self.flush()
        state: dict[str, Change] = {}
        for key, payload in snapshot.items():
            change = self.kind.decode(payload, (append_us or {}).get(key, 0))
            if change is None or change.symbol not in self._known:
                continue
            held = state.get(change.symbol)
            if held is None or change.update_id > held.update_id:
                state[change.symbol] = change
        self.state = state
        self.loaded = True
        now = self.clock()
        for sub in self.subscribers:
            sub.queue.request_snapshot(now)
            sub.wakeup.set()

    # --- the subscriber side ---------------------------------------------------------
    def register(self, symbols: frozenset[str] | None, task: asyncio.Task | None = None,
                 peer: str = "", depth: int | None = None) -> Subscriber:
        if self._closed:
            raise HubClosed("the server is shutting down; reconnect to another instance")
        if self.slots.used >= self.slots.limit:
            self.metrics.rejected += 1
            raise HubFull(f"the server is at its limit of {self.slots.limit} concurrent streams; retry later")
        queue = ClientQueue(self.queue_size, conflate=self.kind.conflates, snapshot_first=self.kind.snapshots)
        sub = Subscriber(symbols, queue, task, peer, depth)
        self.subscribers.add(sub)
        self.slots.used += 1
        self.metrics.clients = len(self.subscribers)
        if self.on_register is not None:
            self.on_register()
        return sub

    def unregister(self, sub: Subscriber) -> None:
        if sub in self.subscribers:
            self.subscribers.discard(sub)
            self.slots.used -= 1
        self.metrics.clients = len(self.subscribers)

    def snapshot_changes(self, symbols: Iterable[str] | None) -> list[Change]:
        wanted = sorted(self.state) if symbols is None else symbols
        return [self.state[s] for s in wanted if s in self.state]

    def snapshot_message(self, symbols: Iterable[str] | None, depth: int | None = None) -> bytes:
        return self.kind.message(True, self.snapshot_changes(symbols), depth, now_us())

    async def next_message(self, sub: Subscriber) -> bytes:
        """The next serialized MarketUpdate for `sub`: a snapshot, or every change queued since."""
        while True:
            if sub.closed is not None:
                raise sub.closed
            if sub.queue.ready and (self.loaded or not sub.queue.snapshot_due):
                return self._message(sub)  # (a first snapshot waits until there is one to send)
            if sub.closing is not None:
                raise sub.closing
            sub.wakeup.clear()
            await sub.wakeup.wait()

    def _message(self, sub: Subscriber) -> bytes:
        batch = sub.queue.take()
        if batch.snapshot:
            self.metrics.messages_sent += 1
            return self.snapshot_message(None if sub.symbols is None else sorted(sub.symbols), sub.depth)
        send_us = now_us()
        self.metrics.record_push(len(batch.changes), send_us - batch.changes[0].publish_us)
        return self.kind.message(False, batch.changes, sub.depth, send_us)

    # --- limits and shutdown ------------------------------------------------------------
    def drop_lagging(self) -> list[Subscriber]:
        now = self.clock()
        lagging = [sub for sub in self.subscribers if sub.queue.lag(now) > self.max_lag_s]
        for sub in lagging:
            conflation = " after conflation" if self.kind.conflates else ""
            self._drop(sub, f"dropped: more than {self.max_lag_s:g}s behind ({len(sub.queue)} {self.kind.name} "
                            f"pending{conflation}); read the stream faster or subscribe to fewer symbols")
        return lagging

    def _drop(self, sub: Subscriber, details: str) -> None:
        pending = len(sub.queue)
        self._close(sub, SubscriberClosed(CloseReason.LAGGING, details))
        self.metrics.drops += 1
        log.warning("dropped a lagging subscriber", stream=self.kind.name, peer=sub.peer, pending=pending,
                    conflated=sub.queue.conflated)

    def _close(self, sub: Subscriber, reason: SubscriberClosed) -> None:
        sub.closed = reason
        self.unregister(sub)
        if sub.writing and sub.task is not None:
            sub.task.cancel()  # stuck in a write the client does not read: interrupt it
        else:
            sub.wakeup.set()

    async def run_sweeper(self) -> None:
        """Drop lagging subscribers even when no new update arrives to notice them."""
        interval = min(1.0, self.max_lag_s / 4)
        while True:
            await asyncio.sleep(interval)
            self.drop_lagging()

    def close_all(self, details: str) -> None:
        """Shutdown: refuse new streams; each stream sends what it has queued, then ends."""
        self._closed = True
        for sub in self.subscribers:
            sub.closing = SubscriberClosed(CloseReason.SHUTDOWN, details)
            sub.wakeup.set()
