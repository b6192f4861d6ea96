"""replay: Kafka -> Delta throughput of the replay job, and the size of the tables on disk.

A topic is pre-filled fast with synthetic BookRecords (20 levels a side, serialized once per
symbol; each record appends its own update id and event time as extra protobuf fields, which
parse as the last value of the field), stamped across one UTC day. Then one `replay --all`
run is timed end to end (plan + Kafka read + decode + books_raw + quarantine + signals), after
an untimed warm-up replay of an empty day (tables created, JVM code paths loaded).
The synthetic books repeat 16 level patterns per symbol, so they compress better than a
real market day: the size per million records is a lower bound.

    quantcore bench replay                     # 3 M records (the issue's day is ~26 M)
    quantcore bench replay --set records=26000000  # the full day, if the disk allows
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

from confluent_kafka import Producer
from confluent_kafka.admin import NewTopic

import proto
from quantcore_platform.services.kafka_broker import admin_client
from quantcore_platform.settings import Settings
from streaming.spark.replay_offsets import day_start_ms

DAY_MS = 86_400_000
BENCH_DAY = date(2024, 3, 1)
# CreateTime with explicit stamps (the test/bench day is in the past), kept forever.
CREATE_TIME_TOPIC = {"message.timestamp.type": "CreateTime", "retention.ms": "-1",
                     "message.timestamp.before.max.ms": str(2**63 - 1)}


def book(symbol: str, update_id: int, depth: int = 20, base: float = 100.0, step: int = 0) -> proto.BookRecord:
    """A plausible book: bids below asks, quantities moving with `step` (so signals vary)."""
    levels = lambda sign: [proto.PriceLevel(  # noqa: E731
        price=f"{base + sign * (0.01 + i * 0.01):.2f}",
        qty=f"{1 + ((step * (i + 3) + (sign > 0) * 7) % 13) * 0.25:.2f}")
        for i in range(depth)]
    return proto.BookRecord(exchange="binance", symbol=symbol, event_time_us=0, update_id=update_id,
                            ingest_time_us=0, bids=levels(-1), asks=levels(+1),
                            mode=proto.BookMode.BOOK_MODE_LOCAL_BOOK, shard_id=0)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


_UPDATE_ID_TAG, _EVENT_TIME_TAG, _INGEST_TIME_TAG = b"\x20", b"\x18", b"\x30"  # fields 4, 3, 6 (varint)


def stamped(template: bytes, update_id: int, time_us: int) -> bytes:
    """`template` with this record's update id and times (protobuf: the last field value wins)."""
    t = _varint(time_us)
    return template + _UPDATE_ID_TAG + _varint(update_id) + _EVENT_TIME_TAG + t + _INGEST_TIME_TAG + t


def synthetic_day(symbols: list[str], records: int, day: date = BENCH_DAY,
                  variants: int = 16) -> Iterator[tuple[bytes, bytes, int]]:
    """`records` (key, value, timestamp_ms) spread evenly over `day`, round-robin over symbols."""
    templates = {s: [book(s, 0, base=100.0 + i, step=v).SerializeToString() for v in range(variants)]
                 for i, s in enumerate(symbols)}
    keys = {s: s.encode() for s in symbols}
    start, step_ms = day_start_ms(day), DAY_MS / max(records, 1)
    for n in range(records):
        symbol = symbols[n % len(symbols)]
        ts_ms = start + int(n * step_ms)
        yield keys[symbol], stamped(templates[symbol][(n // len(symbols)) % variants], 1 + n, ts_ms * 1000), ts_ms


def create_topic(settings: Settings, name: str, partitions: int, config: dict[str, str] | None = None) -> str:
    admin = admin_client(settings)
    admin.create_topics([NewTopic(name, partitions, 1, config=config or CREATE_TIME_TOPIC)])[name].result()
    return name


def produce(settings: Settings, topic: str, records, partition_of=None) -> int:
    """Send (key, value, timestamp_ms) records as fast as librdkafka batches them; returns the count."""
    producer = Producer({**settings.kafka_client_config(), "linger.ms": 50, "batch.size": 1_000_000,
                         "queue.buffering.max.messages": 1_000_000, "compression.type": "lz4",
                         "enable.idempotence": True})
    sent = 0
    for key, value, ts_ms in records:
        extra = {} if partition_of is None else {"partition": partition_of(key)}
        while True:
            try:
                producer.produce(topic, value=value, key=key, timestamp=ts_ms, **extra)
                break
            except BufferError:
                producer.poll(0.05)
        sent += 1
        if sent % 50_000 == 0:
            producer.poll(0)
    if producer.flush(120) != 0:
        raise RuntimeError(f"{topic}: not every record was delivered")
    return sent


def directory_bytes(path: str) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def measure_replay(settings: Settings, records: int, partitions: int | None = None,
                   progress=print) -> dict:
    """Pre-fill a topic with `records` books of one day, replay it all, time it, size it."""
    from streaming.spark import delta_tables
    from streaming.spark.replay_job import replay
    from streaming.spark.session import build_spark_session

    topic = f"qc.bench.replay.{int(time.time())}"
    partitions = partitions or settings.partitions
    create_topic(settings, topic, partitions)
    started = time.perf_counter()
    sent = produce(settings, topic, synthetic_day(settings.symbols, records))
    produce_s = time.perf_counter() - started
    progress(f"produced {sent:,} records in {produce_s:.1f}s")
    replay_settings = settings.model_copy(update={"book_topic": topic})
    spark = build_spark_session(replay_settings, "quantcore-bench-replay")
    try:
        # Warm-up, not timed: an empty day creates the tables and loads the JVM's code paths
        # once, as on a running platform; the figure is then the replay of the day itself.
        replay(spark, replay_settings, [BENCH_DAY - timedelta(days=1)])
        started = time.perf_counter()
        result = replay(spark, replay_settings)
        seconds = time.perf_counter() - started
    finally:
        spark.stop()
    sizes = {name: directory_bytes(delta_tables.table_path(replay_settings, name)) for name in delta_tables.TABLES}
    per_million = lambda b: round(b / (records / 1e6) / 2**20, 1)  # noqa: E731
    return {
        "records": records, "symbols": len(settings.symbols), "partitions": partitions, "depth": 20,
        "cores": os.cpu_count(), "produce_records_per_s": round(sent / produce_s),
        "replay_seconds": round(seconds, 1), "records_per_s": round(records / seconds),
        "phase_seconds": result.phase_seconds, "rows": result.rows, "quarantined": result.quarantined,
        "mib_per_million_records": {name: per_million(size) for name, size in sizes.items()},
        "projected_seconds_for_26m_records": round(26_000_000 / (records / seconds)),
    }


def run(ctx) -> dict:
    """The `quantcore bench replay` entry (bench.harness.BenchContext)."""
    records = int(ctx.option("records", 3_000_000, smoke_default=60_000))
    return measure_replay(ctx.settings, records, progress=ctx.progress)
