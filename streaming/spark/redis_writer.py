"""The compute stream's writer: computed rows -> Redis (SignalStore contract) + dead letters.

One writer sees the rows of whole Kafka partitions in offset order (a micro-batch task
over coalesced partitions, or the real-time row writer), so it can, without a shuffle:
- route rows with a `reason` to the dead-letter topic;
- keep only the newest book per symbol and chain its OFI (newest_books.py), seeded from
  the symbol's Redis hash, which always holds the last book written (the real-time row writer
  remembers what it wrote there instead of reading it back: BookSignalStore);
- write those in one pipelined round trip, one Lua write-if-unmoved per symbol, so a
  replay or a restart can never move a symbol backwards, and a book chained from what
  another writer has since replaced is chained again.

Besides the SignalStore fields, each write stores `top_of_book` (best bid, qty, ask, qty
as JSON) and `top_levels` (each side's top 10 prices and quantities, compact JSON
`[[bid px..],[bid qty..],[ask px..],[ask qty..]]`) atomically in the same script call:
the OFI and multi-level OFI seeds of the next book.

The realized volatilities of the mid (`rv_*`) come from per-symbol windows the writer
process keeps in memory (mid_volatility.MidVolatility), fed with every valid row of a run,
superseded ones included, and read at the published book: see mid_volatility.py for what
a restart does to them. The micro-price applies the symbol's table from Redis
(`qc:microprice:{SYMBOL}`, re-read every 60 s; microprice_tables.py) to the published book.
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
from quantcore.signal_store import WRITE_IF_UNMOVED, SignalStore, signal_key
from streaming.spark.dead_letters import DeadLetterProducer, dead_letter
from streaming.spark.microprice_tables import TableCache
from streaming.spark.mid_volatility import MidVolatility
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


def signal_update(row: Row, ofi: float | None, ofi_levels: list[float] | None = None,
                  computed: Mapping[str, float | None] | None = None) -> wire.SignalUpdate:
    """The update of a row, with its chained values; `computed`: the writer's other values
    by field name (rv_*, microprice), None for absent."""
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
    for name, value in (computed or {}).items():
        if value is not None:
            setattr(update.signals, name, value)
    times = update.times
    times.exchange_event_us = row["exchange_event_us"] or 0
    times.ingest_us = row["ingest_us"] or 0
    times.kafka_append_us = row["kafka_append_us"] or 0
    times.compute_us = row["compute_us"] or 0
    return update


class BookSignalStore(SignalStore):
    """SignalStore plus the top of book each write leaves for the next book's OFI.

    Each write says which stored update id its OFI was chained from (WRITE_IF_UNMOVED): a
    symbol another writer moved meanwhile is refused, not chained wrong. With `remember`,
    the store keeps the book it last wrote per symbol and chains from it instead of reading
    the hash first: one Redis round trip a write instead of two. That suits a writer that
    owns its symbols for long (the real-time row writer); a write refused because another writer
    moved the symbol forgets it, and the next read goes to Redis."""

    script = WRITE_IF_UNMOVED

    def __init__(self, client, remember: bool = False) -> None:
        super().__init__(client)
        self.written: dict[str, SeenBook] | None = {} if remember else None

    def write_many(self, updates) -> int:
        raise TypeError("a BookSignalStore writes with write_books: its script needs the update id chained from")

    write = write_many

    def previous_books(self, symbols: Iterable[str]) -> dict[str, SeenBook]:
        """The stored book of each symbol that has one: remembered, or read in one round trip."""
        symbols, known = list(symbols), self.written or {}
        stored = {symbol: known[symbol] for symbol in symbols if symbol in known}
        unknown = [symbol for symbol in symbols if symbol not in known]
        return {**stored, **self.read_books(unknown)} if unknown else stored

    def read_books(self, symbols: list[str]) -> dict[str, SeenBook]:
        """The stored books, read from Redis (one round trip)."""
        pipe = self.client.pipeline(transaction=False)
        for symbol in symbols:
            pipe.hmget(signal_key(symbol), "update_id", TOP_OF_BOOK_FIELD, TOP_LEVELS_FIELD)
        stored = {}
        for symbol, (update_id, top, levels) in zip(symbols, pipe.execute(), strict=True):
            if update_id is not None:
                values = json.loads(top) if top is not None else [None] * 4
                stored[symbol] = SeenBook(int(update_id), TopOfBook(*values),
                                          tuple(json.loads(levels)) if levels is not None else None)
        return stored

    def write_books(self, books: list[tuple[wire.SignalUpdate, TopOfBook, TopLevels]],
                    stored: Mapping[str, SeenBook]) -> tuple[int, list[str]]:
        """Pipelined write-if-unmoved of each update with its top of book and top levels,
        chained from `stored`; returns (accepted, symbols moved by another writer)."""
        items = []
        for update, top, levels in books:
            chained_from = stored.get(update.symbol)
            items.append((update, (TOP_OF_BOOK_FIELD, json.dumps(list(top)),
                                   TOP_LEVELS_FIELD, json.dumps(levels, separators=(",", ":")),
                                   "" if chained_from is None else str(chained_from.update_id))))
        accepted, moved = 0, []
        for (update, top, levels), result in zip(books, self._results(items), strict=True):
            result = int(result)
            if result == 1:
                accepted += 1
                if self.written is not None:
                    self.written[update.symbol] = SeenBook(update.update_id, top, levels)
                continue
            if self.written is not None:
                self.written.pop(update.symbol, None)
            if result == -1:
                moved.append(update.symbol)
        return accepted, moved


class SignalSink:
    """Writes ordered runs of computed rows (a partition, a row-socket read)."""

    def __init__(self, store: BookSignalStore, dead_letters: DeadLetterProducer) -> None:
        self.store = store
        self.dead_letters = dead_letters
        self.volatility = MidVolatility()  # per symbol, across this process's runs
        self.microprices = TableCache()

    @classmethod
    def from_settings(cls, redis: RedisSettings, kafka: KafkaSettings, remember: bool = False) -> "SignalSink":
        """`remember`: chain from the books this process wrote (BookSignalStore)."""
        return cls(BookSignalStore(redis_client(redis), remember), DeadLetterProducer(kafka))

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
        self.mids: dict[str, list[tuple[int, int | None, float | None]]] = {}  # every valid book's

    def add(self, row: Row) -> None:
        self.stats.rows += 1
        if row["reason"] is not None:
            self.letters.append(dead_letter(row))
        else:
            self.books.add(row)
            symbol = row["symbol"]
            mids = self.mids.get(symbol)
            if mids is None:
                mids = self.mids[symbol] = []
            mids.append((row["update_id"], row["exchange_event_us"], row["mid"]))

    def finish(self) -> WriteStats:
        stats, books = self.stats, self.books
        if self.letters:
            stats.dead_letters = self.sink.dead_letters.send(self.letters)
        stats.superseded = books.superseded
        if books.newest:
            store = self.sink.store
            stored = store.previous_books(books.symbols())
            self._feed_volatility(stored, self.mids.keys())
            published, moved = self._publish(stored, books.symbols())
            if moved:
                # Another writer (a standby that took over) stored these symbols since this
                # process wrote them: what this one remembered is not the book before.
                for symbol in moved:
                    self.sink.volatility.forget(symbol)
                stored = {**stored, **store.read_books(moved)}
                self._feed_volatility(stored, self.mids.keys() & set(moved))
                again, moved = self._publish(stored, moved)
                published += again
                stats.stale += len(moved)  # moved once more meanwhile: the next run reads them afresh
            stats.published = published
        return stats

    def _feed_volatility(self, stored: Mapping[str, SeenBook], symbols: Iterable[str]) -> None:
        volatility = self.sink.volatility
        for symbol in symbols:
            last = stored.get(symbol)
            volatility.check(symbol, None if last is None else last.update_id)
            for update_id, time_us, mid in self.mids[symbol]:
                volatility.feed(symbol, update_id, time_us, mid)

    def _publish(self, stored: Mapping[str, SeenBook], symbols: Iterable[str]) -> tuple[int, list[str]]:
        """Write the newest book of each of `symbols` chained from `stored`: (accepted,
        symbols another writer moved meanwhile). Counts the stale ones."""
        store, volatility = self.sink.store, self.sink.volatility
        fresh, stale = self.books.resolve(stored, symbols)
        for symbol in set(symbols) & self.mids.keys() - {book.row["symbol"] for book in fresh}:
            volatility.trim(symbol)  # read for the others below
        tables = self.sink.microprices.get(store.client, [book.row["symbol"] for book in fresh])
        published, moved = store.write_books(
            [(signal_update(book.row, book.ofi, book.ofi_levels, self.computed(book.row, tables)),
              top_of_book(book.row), top_levels(book.row)) for book in fresh], stored)
        self.stats.stale += stale + len(fresh) - published - len(moved)  # lost a race to a newer write
        return published, moved

    def computed(self, row: Row, tables: Mapping[str, Any]) -> dict[str, float | None]:
        """The published book's realized volatilities and micro-price."""
        values = self.sink.volatility.values(row["symbol"], row["update_id"])
        table = tables.get(row["symbol"])
        values["microprice"] = None if table is None else table.microprice(
            row["best_bid"], row["best_ask"], row["best_bid_qty"], row["best_ask_qty"])
        return values


_sinks: dict[tuple, SignalSink] = {}
_sinks_lock = threading.Lock()


def sink_for(redis: RedisSettings, kafka: KafkaSettings, remember: bool = False) -> SignalSink:
    """One sink (Redis connection pool + Kafka producer) per process and destination:
    Spark reuses its Python workers, so later tasks skip the connection setup. `remember`
    (BookSignalStore) for a writer that owns its symbols for long: the real-time row writer, not
    micro-batch tasks, whose partitions move between Python workers from batch to batch."""
    key = (redis.address, kafka.bootstrap_servers, kafka.dead_letter_topic, remember)
    with _sinks_lock:
        if key not in _sinks:
            _sinks[key] = SignalSink.from_settings(redis, kafka, remember)
        return _sinks[key]


class ArrowRow(Mapping[str, Any]):
    """Row `index` of an Arrow record batch, read lazily: most rows are superseded by a
    newer book of their symbol, so only their symbol, update id, reason, event time and
    mid are ever read (those come pre-extracted, a Python list per batch)."""

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


PRE_READ_COLUMNS = ("symbol", "update_id", "reason", "exchange_event_us", "mid")  # every row's
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
