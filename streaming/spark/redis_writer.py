"""The compute stream's writer: computed rows -> Redis (SignalStore contract) + dead letters.

One writer sees the rows of whole Kafka partitions in offset order (a micro-batch task
over coalesced partitions, or the real-time relay), so it can, without a shuffle:
- route rows with a `reason` to the dead-letter topic;
- keep only the newest book per symbol and chain its OFI (newest_books.py), seeded from
  the symbol's Redis hash, which always holds the last book written;
- write those in one pipelined round trip, one Lua write-if-newer per symbol, so a
  replay or a restart can never move a symbol backwards.

Besides the SignalStore fields, each write stores `top_of_book` (best bid, qty, ask, qty
as JSON) and `top_levels` (each side's top 10 prices and quantities, compact JSON
`[[bid px..],[bid qty..],[ask px..],[ask qty..]]`) atomically in the same script call:
the OFI and multi-level OFI seeds of the next book.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from quantcore import wire
from quantcore.clients import redis_client
from quantcore.settings import KafkaSettings, RedisSettings
from quantcore.signal_store import SignalStore, signal_key
from streaming.spark.dead_letters import DeadLetterProducer, dead_letter
from streaming.spark.newest_books import NewestBooks, SeenBook, TopLevels, top_levels, top_of_book
from streaming.spark.ofi import TopOfBook
from streaming.spark.signals import CHAINED_COLUMNS, SIGNAL_COLUMNS

TOP_OF_BOOK_FIELD = "top_of_book"
TOP_LEVELS_FIELD = "top_levels"
ROW_SIGNALS = tuple(name for name in SIGNAL_COLUMNS if name not in CHAINED_COLUMNS)

Row = Mapping[str, Any]


@dataclass
class WriteStats:
    """rows = dead_letters + superseded + stale + published."""

    rows: int = 0
    dead_letters: int = 0
    superseded: int = 0  # not the newest book of its symbol in this write: never written
    stale: int = 0  # the newest, but not newer than what Redis holds (replays, out-of-order ids)
    published: int = 0

    def add(self, other: "WriteStats") -> None:
        for field in fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def signal_update(row: Row, ofi: float | None, ofi_levels: list[float] | None = None) -> wire.SignalUpdate:
    update = wire.SignalUpdate(symbol=row["symbol"], update_id=row["update_id"], exchange=row["exchange"] or "")
    update.mode = wire.BookMode.Value(row["mode"]) if row["mode"] in wire.BookMode.keys() else 0
    update.origin = wire.Origin.Value(row["origin"]) if row["origin"] in wire.Origin.keys() else 0
    update.simulator_seed = row["simulator_seed"] or 0
    update.signals.SetInParent()
    for name in ROW_SIGNALS:
        value = row[name]
        if value is not None:
            setattr(update.signals, name, value)
    if ofi is not None:
        update.signals.ofi = ofi
    if ofi_levels is not None:
        update.signals.ofi_levels.extend(ofi_levels)
    times = update.times
    times.exchange_event_us = row["exchange_event_us"] or 0
    times.ingest_us = row["ingest_us"] or 0
    times.kafka_append_us = row["kafka_append_us"] or 0
    times.compute_us = row["compute_us"] or 0
    return update


class BookSignalStore(SignalStore):
    """SignalStore plus the top of book each write leaves for the next book's OFI."""

    def previous_books(self, symbols: Iterable[str]) -> dict[str, SeenBook]:
        wanted = list(symbols)
        pipe = self.client.pipeline(transaction=False)
        for symbol in wanted:
            pipe.hmget(signal_key(symbol), "update_id", TOP_OF_BOOK_FIELD, TOP_LEVELS_FIELD)
        stored = {}
        for symbol, (update_id, top, levels) in zip(wanted, pipe.execute(), strict=True):
            if update_id is not None:
                values = json.loads(top) if top is not None else [None] * 4
                stored[symbol] = SeenBook(int(update_id), TopOfBook(*values),
                                          tuple(json.loads(levels)) if levels is not None else None)
        return stored

    def write_books(self, books: Iterable[tuple[wire.SignalUpdate, TopOfBook, TopLevels]]) -> int:
        """Pipelined write-if-newer of each update with its top of book and top levels;
        returns accepted."""
        return self.write_many((update, (TOP_OF_BOOK_FIELD, json.dumps(list(top)),
                                         TOP_LEVELS_FIELD, json.dumps(levels, separators=(",", ":"))))
                               for update, top, levels in books)


class SignalSink:
    """Writes ordered runs of computed rows (a partition, a relay poll)."""

    def __init__(self, store: BookSignalStore, dead_letters: DeadLetterProducer) -> None:
        self.store = store
        self.dead_letters = dead_letters

    @classmethod
    def from_settings(cls, redis: RedisSettings, kafka: KafkaSettings) -> "SignalSink":
        return cls(BookSignalStore(redis_client(redis)), DeadLetterProducer(kafka))

    def run(self) -> "SinkRun":
        return SinkRun(self)

    def write(self, rows: Iterable[Row]) -> WriteStats:
        run = self.run()
        for row in rows:
            run.add(row)
        return run.finish()


class SinkRun:
    """One ordered run: `add` rows as they come, `finish` writes and returns the stats."""

    def __init__(self, sink: SignalSink) -> None:
        self.sink = sink
        self.stats = WriteStats()
        self.books = NewestBooks()
        self.letters: list[wire.DeadLetter] = []

    def add(self, row: Row) -> None:
        self.stats.rows += 1
        if row["reason"] is not None:
            self.letters.append(dead_letter(row))
        else:
            self.books.add(row)

    def finish(self) -> WriteStats:
        stats, books = self.stats, self.books
        if self.letters:
            stats.dead_letters = self.sink.dead_letters.send(self.letters)
        stats.superseded = books.superseded
        if books.newest:
            store = self.sink.store
            fresh, stats.stale = books.resolve(store.previous_books(books.symbols()))
            stats.published = store.write_books(
                (signal_update(book.row, book.ofi, book.ofi_levels), top_of_book(book.row), top_levels(book.row))
                for book in fresh)
            stats.stale += len(fresh) - stats.published  # lost a race to a newer write
        return stats


_sinks: dict[tuple, SignalSink] = {}
_sinks_lock = threading.Lock()


def sink_for(redis: RedisSettings, kafka: KafkaSettings) -> SignalSink:
    """One sink (Redis connection pool + Kafka producer) per process and destination:
    Spark reuses its Python workers, so later tasks skip the connection setup."""
    key = (redis.address, kafka.bootstrap_servers, kafka.dead_letter_topic)
    with _sinks_lock:
        if key not in _sinks:
            _sinks[key] = SignalSink.from_settings(redis, kafka)
        return _sinks[key]


class ArrowRow(Mapping[str, Any]):
    """Row `index` of an Arrow record batch, read lazily: most rows are superseded by a
    newer book of their symbol, so only their symbol, update id and reason are ever read
    (those come pre-extracted, a Python list per batch)."""

    __slots__ = ("_batch", "_index", "_read")

    def __init__(self, batch, index: int, read: Mapping[str, list]) -> None:
        self._batch, self._index, self._read = batch, index, read

    def __getitem__(self, name: str) -> Any:
        values = self._read.get(name)
        if values is not None:
            return values[self._index]
        return self._batch.column(name)[self._index].as_py()

    def __iter__(self):
        return iter(self._batch.schema.names)

    def __len__(self) -> int:
        return self._batch.num_columns


PRE_READ_COLUMNS = ("symbol", "update_id", "reason")
STATS_SCHEMA = ", ".join(f"{name} long" for name in WriteStats().as_dict())


class ArrowPartitionWriter:
    """`mapInArrow` function of the micro-batch mode: writes one partition's rows (Arrow
    record batches, in offset order) and yields its WriteStats as a one-row batch. It is
    pickled to the executors' Python workers, so it holds only the (picklable) sections
    its sink needs.

    Arrow instead of `foreachPartition`: pickling every row to Python cost ~20 core-µs a
    record, as much as decoding and the signals together."""

    def __init__(self, redis: RedisSettings, kafka: KafkaSettings) -> None:
        self.redis = redis
        self.kafka = kafka

    def __call__(self, batches):
        import pyarrow as pa

        stats = sink_for(self.redis, self.kafka).write(arrow_rows(batches)).as_dict()
        yield pa.RecordBatch.from_pydict({name: [value] for name, value in stats.items()})


def arrow_rows(batches) -> Iterator[ArrowRow]:
    """The rows of Arrow record batches, in order, each read lazily."""
    for batch in batches:
        read = {name: batch.column(name).to_pylist() for name in PRE_READ_COLUMNS}
        for index in range(batch.num_rows):
            yield ArrowRow(batch, index, read)
