"""replay_native: the same Kafka -> books_raw work as the replay, without Spark (a yardstick).

Why it exists: the replay's cost per record means little alone. This is the machine's limit
for the same work in one process: read every record of the topic with confluent-kafka,
decode the protobuf BookRecord, lay it out flat (streaming/spark/book_layout.py: one exact
DECIMAL column per level and side, Kafka coordinates, the UTC day of the Kafka timestamp)
and write a date-partitioned, zstd-compressed Delta table with delta-rs. The bench prints
Spark's cost as a ratio to this one. It is bench-only: the product path stays Spark
(streaming/spark/replay_job.py), with its quarantine and signals; here a record that does
not decode, has no symbol, has more than DEPTH levels or a value that does not fit its
DECIMAL is only counted (`skipped`).

The decimals are parsed by Arrow C++ (a string array cast to decimal128, which refuses any
value it would round or that overflows the precision; exponents, which Arrow would read, are
refused apart as book_layout.fits does), once per ~100k records. The Python work per record
is the protobuf decode and moving its fields into column lists; it is most of the CPU (upb
makes a Python object for each of the 40 levels, then 80 string reads), so this is the limit
of the same work through the generated Python classes: an upper bound for a compiled decoder.
Files: zstd at Spark's level (ZSTD_LEVEL). Memory stays bounded: ~100k-record batches
stream through a RecordBatchReader into delta-rs. `cpu_seconds` is the whole process's
(librdkafka's and delta-rs's threads included).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Iterator
from operator import attrgetter

import pyarrow as pa
import pyarrow.compute as pc
from confluent_kafka import (
    OFFSET_BEGINNING,
    TIMESTAMP_LOG_APPEND_TIME,
    Consumer,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from deltalake import DeltaTable, WriterProperties, write_deltalake
from google.protobuf.message import DecodeError

from quantcore.errors import PlatformError
from quantcore.settings import KafkaSettings
from quantcore.timeutil import US_PER_DAY
from quantcore.topic_reader import end_offsets
from quantcore.wire import BookMode, BookRecord, Origin
from streaming.spark import book_layout as layout

CONSUME_BATCH = 10_000  # records per consume() call
BATCH_RECORDS = 100_000  # records per Arrow batch (one vectorized decimal cast per column)
CONSUME_WAIT_S = 1.0
STALL_S = 60.0  # no record for this long before the ends are reached: the broker is gone
# Same level as Spark's zstd (parquet-java's parquet.compression.codec.zstd.level defaults
# to 3; delta-rs would use 1), so both write the same kind of file.
ZSTD_LEVEL = 3

MODE_NAMES = {value.number: value.name for value in BookMode.DESCRIPTOR.values}
ORIGIN_NAMES = {value.number: value.name for value in Origin.DESCRIPTOR.values}
PRICE_LEVEL_FIELD = {"px": attrgetter("price"), "qty": attrgetter("qty")}  # a level column's word
# A row's level values in level_columns() order: DEPTH values per (side, word) block.
LEVEL_BLOCKS = [(side, PRICE_LEVEL_FIELD[what]) for side in layout.SIDES for what in ("px", "qty")]

# (value, partition, offset, timestamp_ms, confluent timestamp type) of one Kafka record
KafkaRecord = tuple[bytes, int, int, int, int]


def decimal_type(column: str) -> pa.DataType:
    """A level column's DECIMAL(PRECISION, scale) as Arrow's decimal128 (a 64-bit integer in
    Parquet, as Spark writes it, for PRECISION <= 18)."""
    return pa.decimal128(layout.PRECISION, layout.scale(layout.kind(column)))


def _level_fields() -> list[pa.Field]:
    return [pa.field(name, decimal_type(name)) for name in layout.level_columns()]


HEAD_FIELDS = [
    pa.field("exchange", pa.string()), pa.field("symbol", pa.string()),
    pa.field("event_time_us", pa.int64()), pa.field("update_id", pa.int64()),
    pa.field("first_update_id", pa.int64()), pa.field("ingest_time_us", pa.int64()),
    pa.field("mode", pa.string()), pa.field("shard_id", pa.int32()), pa.field("origin", pa.string()),
    pa.field("simulator_seed", pa.int64()),
    pa.field(layout.count_column("bid"), pa.int32()), pa.field(layout.count_column("ask"), pa.int32()),
]
KAFKA_FIELDS = [
    pa.field("kafka_partition", pa.int32()), pa.field("kafka_offset", pa.int64()),
    pa.field("kafka_timestamp_us", pa.int64()), pa.field("kafka_timestamp_type", pa.string()),
]
DATE_FIELD = pa.field("date", pa.date32())
SCHEMA = pa.schema([*HEAD_FIELDS, *_level_fields(), pa.field("kafka_topic", pa.string()), *KAFKA_FIELDS,
                    DATE_FIELD])
# The same columns before the decimal cast: levels as strings, the topic added per batch.
RAW_SCHEMA = pa.schema([*HEAD_FIELDS, *(pa.field(f.name, pa.string()) for f in _level_fields()),
                        *KAFKA_FIELDS, pa.field("date", pa.int32())])


# --- records -> columns (pure) -----------------------------------------------------------------

def columns_of(records: Iterable[KafkaRecord], topic: str) -> pa.RecordBatch:
    """books_raw's rows (SCHEMA) of the records that decode and fit; the others are left out
    (skipped = records given - num_rows)."""
    rows = [row for row in map(_row, records) if row is not None]
    columns = list(zip(*rows)) or [()] * len(RAW_SCHEMA)
    raw = pa.RecordBatch.from_arrays([pa.array(c, f.type) for c, f in zip(columns, RAW_SCHEMA)], schema=RAW_SCHEMA)
    try:
        if not any(_may_have_exponent(raw.column(name)) for name in layout.level_columns()):
            return _typed(raw, topic)
    except pa.ArrowInvalid:  # a value Arrow would round, or beyond the precision
        pass
    return _typed(_without_unfit(raw), topic)  # rare: find the rows that do not fit


def _row(record: KafkaRecord) -> tuple | None:
    """One raw row (RAW_SCHEMA order), None when the value is not a replayable BookRecord."""
    value, partition, offset, timestamp_ms, timestamp_type = record
    try:
        book = BookRecord.FromString(value)
    except DecodeError:
        return None
    sides = {"bid": list(book.bids), "ask": list(book.asks)}  # each level's wrapper made once
    if not book.symbol or max(len(sides["bid"]), len(sides["ask"])) > layout.DEPTH:
        return None
    timestamp_us = timestamp_ms * 1000
    return (book.exchange, book.symbol, book.event_time_us, book.update_id, book.first_update_id,
            book.ingest_time_us, MODE_NAMES.get(book.mode), book.shard_id, ORIGIN_NAMES.get(book.origin),
            book.simulator_seed, len(sides["bid"]), len(sides["ask"]),
            *(v for side, field in LEVEL_BLOCKS for v in _padded(sides[side], field)),
            partition, offset, timestamp_us,
            "LogAppendTime" if timestamp_type == TIMESTAMP_LOG_APPEND_TIME else "CreateTime",
            timestamp_us // US_PER_DAY)  # floor division: the UTC day, also before 1970


def _padded(levels: list, field: attrgetter) -> list[str | None]:
    return [*map(field, levels), *[None] * (layout.DEPTH - len(levels))]


def _may_have_exponent(strings: pa.Array) -> bool:
    """Arrow's cast also reads "1e5", which is not a plain decimal (book_layout.fits): one
    memchr over the column's characters tells whether to look closer."""
    data = strings.buffers()[2]
    if data is None:
        return False
    characters = data.to_pybytes()
    return b"e" in characters or b"E" in characters


def _without_unfit(raw: pa.RecordBatch) -> pa.RecordBatch:
    """`raw` without the rows that have a level string that is not exact in its DECIMAL."""
    bad = set().union(*(_unfit_rows(raw.column(name), decimal_type(name)) for name in layout.level_columns()))
    return raw.filter(pa.array([i not in bad for i in range(raw.num_rows)]))


def _unfit_rows(strings: pa.Array, decimal: pa.DataType) -> set[int]:
    exponents = pc.fill_null(pc.match_substring_regex(strings, "[eE]"), False)
    return set(pc.indices_nonzero(exponents).to_pylist()) | set(_uncastable_rows(strings, decimal))


def _uncastable_rows(strings: pa.Array, decimal: pa.DataType, first: int = 0) -> list[int]:
    """Rows (from `first`) of `strings` that Arrow does not cast to `decimal`, by bisection."""
    try:
        strings.cast(decimal)
        return []
    except pa.ArrowInvalid:
        if len(strings) == 1:
            return [first]
        half = len(strings) // 2
        return (_uncastable_rows(strings.slice(0, half), decimal, first)
                + _uncastable_rows(strings.slice(half), decimal, first + half))


def _typed(raw: pa.RecordBatch, topic: str) -> pa.RecordBatch:
    arrays = {name: raw.column(name) for name in raw.schema.names}
    arrays["kafka_topic"] = pa.array([topic] * raw.num_rows, pa.string())
    arrays["date"] = arrays["date"].cast(pa.date32())
    for name in layout.level_columns():
        arrays[name] = arrays[name].cast(decimal_type(name))
    return pa.RecordBatch.from_arrays([arrays[name] for name in SCHEMA.names], schema=SCHEMA)


# --- Kafka -> batches -> Delta -------------------------------------------------------------------

def write_native(kafka_settings: KafkaSettings, topic: str, path: str) -> dict:
    """Read all of `topic` (up to its ends as of the call), write books_raw's layout to the
    Delta table at `path` (replaced), and return the cost: wall and process CPU seconds."""
    started, cpu_started = time.perf_counter(), time.process_time()
    counts = {"read": 0, "written": 0}
    batches = _batches(_kafka_chunks(kafka_settings, topic), topic, counts)
    write_deltalake(path, pa.RecordBatchReader.from_batches(SCHEMA, batches), partition_by=["date"],
                    mode="overwrite", schema_mode="overwrite",
                    writer_properties=WriterProperties(compression="ZSTD", compression_level=ZSTD_LEVEL))
    return _figures(counts, time.perf_counter() - started, time.process_time() - cpu_started, path)


def _figures(counts: dict[str, int], seconds: float, cpu_seconds: float, path: str) -> dict:
    n = counts["written"]
    return {"records": n, "skipped": counts["read"] - n, "seconds": round(seconds, 2),
            "cpu_seconds": round(cpu_seconds, 2),
            "core_us_per_record": round(cpu_seconds * 1e6 / n, 2) if n else None,
            "records_per_s": round(n / seconds) if n else 0,
            "mib_on_disk": round(table_bytes(path) / 2**20, 1)}


def table_bytes(path: str) -> int:
    """The data files of the table's current version (an overwrite leaves the old ones)."""
    sizes = pa.table(DeltaTable(path).get_add_actions()).column("size_bytes")
    return int(pc.sum(sizes).as_py() or 0)


def _batches(chunks: Iterator[list[KafkaRecord]], topic: str, counts: dict[str, int]) -> Iterator[pa.RecordBatch]:
    """One books_raw batch per ~BATCH_RECORDS records read; counts what was read and kept."""
    pending: list[KafkaRecord] = []
    for chunk in chunks:
        pending.extend(chunk)
        if len(pending) >= BATCH_RECORDS:
            yield _counted(pending, topic, counts)
            pending = []
    if pending:
        yield _counted(pending, topic, counts)


def _counted(records: list[KafkaRecord], topic: str, counts: dict[str, int]) -> pa.RecordBatch:
    batch = columns_of(records, topic)
    counts["read"] += len(records)
    counts["written"] += batch.num_rows
    return batch


def _kafka_chunks(kafka_settings: KafkaSettings, topic: str) -> Iterator[list[KafkaRecord]]:
    """Every record of every partition from the beginning to its end as of the call, in
    consume() batches (no consumer group: an assignment, nothing committed)."""
    ends = {p: end for p, end in end_offsets(kafka_settings, topic).items() if end > 0}
    consumer = Consumer({**kafka_settings.client_config(), "group.id": f"quantcore-bench-native-{uuid.uuid4().hex}",
                         "enable.auto.commit": False, "enable.partition.eof": True, "log_level": 3})
    try:
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
        yield from _until_ends(consumer, ends)
    finally:
        consumer.close()


def _until_ends(consumer: Consumer, ends: dict[int, int]) -> Iterator[list[KafkaRecord]]:
    remaining, last_record = set(ends), time.monotonic()
    while remaining:
        messages = consumer.consume(num_messages=CONSUME_BATCH, timeout=CONSUME_WAIT_S)
        chunk = [record for record in (_record(m, ends, remaining) for m in messages) if record is not None]
        if chunk:
            last_record = time.monotonic()
            yield chunk
        elif time.monotonic() - last_record > STALL_S:
            raise PlatformError(f"reading {len(remaining)} partitions stalled for {STALL_S:.0f}s",
                                "check that Kafka is up")


def _record(message, ends: dict[int, int], remaining: set[int]) -> KafkaRecord | None:
    """The message as a KafkaRecord when it is below its partition's end; marks the
    partitions that are done (their last record, or end of partition) in `remaining`."""
    error, partition = message.error(), message.partition()
    if error is not None:
        if error.code() != KafkaError._PARTITION_EOF:
            raise KafkaException(error)
        remaining.discard(partition)
        return None
    offset = message.offset()
    if partition not in remaining or offset >= ends[partition]:
        return None  # written after the ends were taken
    if offset == ends[partition] - 1:
        remaining.discard(partition)
    timestamp_type, timestamp_ms = message.timestamp()
    return message.value() or b"", partition, offset, timestamp_ms, timestamp_type
