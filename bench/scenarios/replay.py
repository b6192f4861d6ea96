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
from datetime import date, timedelta
from pathlib import Path

from quantcore.settings import Settings
from quantcore.topics import CREATE_TIME, create_topic, produce_all
from quantcore.samples import synthetic_day

BENCH_DAY = date(2024, 3, 1)


def directory_bytes(path: str) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def measure_replay(settings: Settings, records: int, partitions: int | None = None,
                   progress=print) -> dict:
    """Pre-fill a topic with `records` books of one day, replay it all, time it, size it."""
    from streaming.spark import delta_tables
    from streaming.spark.replay_job import replay
    from quantcore.spark_session import build_spark_session

    topic = f"qc.bench.replay.{int(time.time())}"
    partitions = partitions or settings.kafka.partitions
    symbols = settings.market.symbols
    create_topic(settings.kafka, topic, partitions, CREATE_TIME)
    started = time.perf_counter()
    sent = produce_all(settings.kafka, topic, synthetic_day(symbols, records, BENCH_DAY))
    produce_s = time.perf_counter() - started
    progress(f"produced {sent:,} records in {produce_s:.1f}s")
    replay_settings = settings.override(book_topic=topic)
    spark = build_spark_session(replay_settings.spark, replay_settings.paths, "quantcore-bench-replay")
    try:
        # Warm-up, not timed: an empty day creates the tables and loads the JVM's code paths
        # once, as on a running platform; the figure is then the replay of the day itself.
        replay(spark, replay_settings, [BENCH_DAY - timedelta(days=1)])
        started = time.perf_counter()
        result = replay(spark, replay_settings)
        seconds = time.perf_counter() - started
    finally:
        spark.stop()
    paths = replay_settings.paths
    sizes = {name: directory_bytes(delta_tables.table_path(paths, name)) for name in delta_tables.TABLES}
    per_million = lambda b: round(b / (records / 1e6) / 2**20, 1)  # noqa: E731
    return {
        "records": records, "symbols": len(symbols), "partitions": partitions, "depth": 20,
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
