"""The fanout benchmark's feeds: what the writer writes, what each subscriber opens and reads.

- `signals` (the default): SignalUpdates written through `SignalStore` (Redis HSET + PUBLISH,
  the compute stream's Lua contract), streamed by `Subscribe`. An update's latency starts at
  its `times.publish_us`, which SignalStore stamps as it writes.
- `books`: 20-level BookRecords of the simulator's market model (`bench.market_books`)
  produced to the book topic by the ingest's own producer (`KafkaSink`: acks=all, 1 ms
  linger), streamed by `SubscribeBooks(symbols=[], depth)`, which the server reads straight
  from Kafka (serving/kafka_feed.py). A book's latency starts at its `ingest_time_us`, which
  the writer stamps as it produces it, so the Kafka hop (linger, broker append, the server's
  fetch) is inside it, as it is for a live subscriber behind the ingest; the per-message hops
  start at the broker's append time (`kafka_append_us`, whole milliseconds).

Both feeds write the same ids: `update_id` = the round's first id + tick, newer than anything
an earlier round wrote (a server keeps only newer ids per symbol, and a books server starts
from the newest record of each symbol in the topic), so the subscribers count one window.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar, NamedTuple, Protocol

from quantcore.errors import PlatformError
from quantcore.settings import Settings
from quantcore.timeutil import now_us
from quantcore.wire import BookRecord, MarketUpdate, market_data_pb2

BOOK_DEPTH = 20  # levels a side the books feed asks for by default (issue 20: depth 20)
POOL_TICKS = 100  # steps of the market model the books writer cycles through (10 s of market)
FEED_NAMES = ("signals", "books")

Written = tuple[str, int, int]  # (symbol, update_id, the µs its latency starts at)


class Received(NamedTuple):
    """One streamed message as a subscriber tallies it."""

    snapshot: bool
    server_send_us: int
    hop_start_us: int  # when the message's first update entered the server's input (publish, Kafka append)
    updates: list[Written]


class Writer(Protocol):
    def write(self, symbols: Sequence[str], update_id: int, tick: int) -> list[Written]:
        """One update of each of `symbols` (all of a tick, or one), as soon as possible."""

    def figures(self) -> dict[str, Any]:
        """What the writer itself saw go wrong (none for Redis: a failed write raises)."""


# --- signals: Redis -> Subscribe ----------------------------------------------------------------
class SignalWriter:
    """Signal updates through the compute stream's Lua contract: a tick's in one pipelined
    batch, a single update on its own (how the `spread` pattern writes)."""

    def __init__(self, redis) -> None:
        from quantcore.signal_store import SignalStore

        self.store = SignalStore(redis)

    def write(self, symbols: Sequence[str], update_id: int, tick: int) -> list[Written]:
        from quantcore.samples import signal_update

        updates = [signal_update(s, update_id, obi=(tick % 21 - 10) / 10) for s in symbols]
        if len(updates) == 1:
            self.store.write(updates[0])
        else:
            self.store.write_many(updates)
        return [(u.symbol, u.update_id, u.times.publish_us) for u in updates]

    def figures(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class SignalsFeed:
    name: ClassVar[str] = "signals"
    method: ClassVar[str] = "Subscribe"
    default_client: ClassVar[str] = "go"  # fanout_clients.DEFAULT_CLIENT
    subscribers: ClassVar[str] = "1,10,100,1000"  # the counts measured by default, and in the smoke
    smoke_subscribers: ClassVar[str] = "1,10"
    smoke_duration_s: ClassVar[float] = 2.0
    counters_prefix: ClassVar[str] = ""  # of its counters in the serve heartbeat
    latency_from: ClassVar[str] = "Redis publish (times.publish_us, stamped by SignalStore)"
    hop_names: ClassVar[tuple[str, str]] = ("publish_to_server_send", "server_send_to_receive")
    plot: ClassVar[str] = "fanout_latency.png"
    plot_title: ClassVar[str] = "gRPC fan-out at 30 symbols x 10 Hz"
    latency_axis: ClassVar[str] = "Redis publish -> client receive (ms)"

    def describe(self) -> dict[str, Any]:
        return {"feed": self.name, "rpc": self.method, "latency_from": self.latency_from}

    def request(self) -> bytes:
        return market_data_pb2.SubscribeRequest().SerializeToString()  # every symbol

    def parse(self, raw: bytes) -> Received:
        message = MarketUpdate.FromString(raw)
        updates = message.updates
        return Received(message.kind == MarketUpdate.SNAPSHOT, message.server_send_us,
                        updates[0].times.publish_us if updates else 0,
                        [(u.symbol, u.update_id, u.times.publish_us) for u in updates])

    def services(self, settings: Settings):
        return nullcontext()  # Redis only, which the harness starts

    @contextmanager
    def writer(self, settings: Settings, redis, symbols: Sequence[str]) -> Iterator[Writer]:
        yield SignalWriter(redis)


# --- books: Kafka -> SubscribeBooks ---------------------------------------------------------------
def restamped(record: bytes, update_id: int, stamp_us: int) -> bytes:
    """`record` with the round's id and the time it is produced. Concatenated protobuf
    messages merge (a scalar's last value wins), so the book's levels are not re-encoded."""
    ids = BookRecord(update_id=update_id, first_update_id=update_id, event_time_us=stamp_us, ingest_time_us=stamp_us)
    return record + ids.SerializeToString()


@functools.cache
def book_pool(symbols: tuple[str, ...], ticks: int = POOL_TICKS) -> tuple[dict[str, bytes], ...]:
    """`ticks` steps of the market model, a 20-level book of every symbol each: built once
    per process (~0.3 ms a book: ~1 s for 30 symbols), then cycled through by every round."""
    from bench.market_books import market_day

    records = market_day(list(symbols), ticks * len(symbols), date(2026, 1, 1))
    pool: list[dict[str, bytes]] = [{} for _ in range(ticks)]
    for index, (key, value, _) in enumerate(records):
        pool[index // len(symbols)][key.decode()] = value
    return tuple(pool)


class BookWriter:
    """Books of the market model through `sink` (the ingest's producer), each re-stamped as
    it is produced."""

    def __init__(self, sink, pool: Sequence[dict[str, bytes]], counters) -> None:
        self.sink = sink
        self.pool = pool
        self.counters = counters  # the sink's (IngestCounters): failed deliveries

    def write(self, symbols: Sequence[str], update_id: int, tick: int) -> list[Written]:
        books = self.pool[tick % len(self.pool)]
        written = []
        for symbol in symbols:
            stamp_us = now_us()
            self.sink.publish(symbol, restamped(books[symbol], update_id, stamp_us))
            written.append((symbol, update_id, stamp_us))
        return written

    def figures(self) -> dict[str, Any]:
        return {"kafka_delivery_errors": self.counters.delivery_errors}


@dataclass(frozen=True)
class BooksFeed:
    depth: int = BOOK_DEPTH

    name: ClassVar[str] = "books"
    method: ClassVar[str] = "SubscribeBooks"
    default_client: ClassVar[str] = "python"  # the Go load client speaks Subscribe only
    subscribers: ClassVar[str] = "1,10,100"
    smoke_subscribers: ClassVar[str] = "1"  # the smoke's books pass: one short round after the signals'
    smoke_duration_s: ClassVar[float] = 1.0
    counters_prefix: ClassVar[str] = "books_"
    latency_from: ClassVar[str] = "the writer's produce (BookRecord.ingest_time_us): the Kafka hop included"
    hop_names: ClassVar[tuple[str, str]] = ("kafka_append_to_server_send", "server_send_to_receive")
    plot: ClassVar[str] = "fanout_books_latency.png"
    latency_axis: ClassVar[str] = "produce (ingest_time_us) -> client receive (ms)"

    @property
    def plot_title(self) -> str:
        return f"SubscribeBooks depth {self.depth} fan-out at 30 symbols x 10 Hz"

    def __post_init__(self) -> None:
        from serving.kinds import MAX_BOOK_DEPTH

        if not 1 <= self.depth <= MAX_BOOK_DEPTH:
            raise PlatformError(f"bad depth={self.depth} for the books feed", f"use --set depth=N, 1 <= N <= {MAX_BOOK_DEPTH}")

    def describe(self) -> dict[str, Any]:
        return {"feed": self.name, "rpc": self.method, "depth": self.depth, "latency_from": self.latency_from}

    def request(self) -> bytes:
        return market_data_pb2.SubscribeBooksRequest(depth=self.depth).SerializeToString()  # every symbol

    def parse(self, raw: bytes) -> Received:
        message = market_data_pb2.BookUpdate.FromString(raw)
        books = message.books
        return Received(message.kind == MarketUpdate.SNAPSHOT, message.server_send_us,
                        books[0].kafka_append_us if books else 0,
                        [(b.symbol, b.update_id, b.ingest_time_us) for b in books])

    @contextmanager
    def services(self, settings: Settings) -> Iterator[None]:
        """A Kafka broker in the bench's platform home and the platform's topics, for this
        feed's rounds only (the signals rounds run without a JVM beside them)."""
        from quantcore.topics import ensure_topics
        from quantcore_platform.services.kafka_broker import KafkaBroker

        broker = KafkaBroker.from_settings(settings)
        try:
            broker.start()  # (inside: a start that times out still leaves a JVM to stop)
            ensure_topics(settings.kafka)
            yield
        finally:
            broker.stop()

    @contextmanager
    def writer(self, settings: Settings, redis, symbols: Sequence[str]) -> Iterator[Writer]:
        from streaming.ingest.counters import IngestCounters
        from streaming.ingest.producer import KafkaSink

        counters = IngestCounters()
        sink = KafkaSink(settings.kafka, settings.ingest, counters)
        try:
            sink.wait_until_ready()
            yield BookWriter(sink, book_pool(tuple(symbols)), counters)
        finally:
            sink.close()


Feed = SignalsFeed | BooksFeed
SIGNALS = SignalsFeed()


def feed_named(name: str, depth: int = BOOK_DEPTH) -> Feed:
    """The feed `--set feed=NAME` (and `--set depth=N` for books) asks for."""
    if name == "signals":
        return SIGNALS
    if name == "books":
        return BooksFeed(int(depth))
    raise PlatformError(f"unknown fanout feed {name!r}", f"use --set feed={' or feed='.join(FEED_NAMES)}")
