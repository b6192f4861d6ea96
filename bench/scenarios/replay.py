"""replay: Kafka -> Delta throughput of the replay job, its cost per record against a
native writer, the Kafka source's own cost, the tables' size and the analysts' queries.

A topic is pre-filled with a day's BookRecords (20 levels a side; see BOOKS below). Then, one at a time on
the same records, each timed with the CPU of the whole machine (/proc/stat: the broker, the
Spark JVM and Python alike):

1. kafka_source: Spark's Kafka source alone (every value read and summed by length), the
   floor under any Spark replay; the broker's own CPU beside it.
2. replay: one `replay --all` run (plan, one Kafka read, decode, books_raw, quarantine,
   book_signals), after an untimed warm-up replay of an empty day (tables created, JVM code
   paths loaded). `records_per_s` and `core_us_per_record` are this run's.
3. native: the bench-only delta-rs writer of books_raw (replay_native.py), the yardstick.
4. analyst queries of docs/analysts.md, each cold in a fresh process (analyst_queries.py).

Books (`--set books=`): `market` (default), a day of the simulator's market model
(bench/market_books.py, made once and cached: 20 levels whose prices and quantities move
like a market's, timestamps like the live records'); `synthetic` (quantcore.samples: 16
level patterns per symbol, evenly spaced identical timestamps) is fast to make but
compresses ~20x better than a market and decodes shorter strings: its sizes say nothing.

    quantcore bench replay                         # 1 M records
    quantcore bench replay --set records=3000000
    quantcore bench replay --set masters=local[2],cluster:1,cluster:2   # scaling (replay_scaling.py)
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench.market_books import cached_market_day
from bench.process_cpu import cpu_seconds, machine_busy_seconds
from quantcore.errors import PlatformError
from quantcore.samples import synthetic_day
from quantcore.settings import Settings
from quantcore.topics import CREATE_TIME, create_topic, produce_all

BENCH_DAY = date(2024, 3, 1)
# Where the books come from (`--set books=...`): see the module doc.
BOOKS = {"market": cached_market_day, "synthetic": synthetic_day}


def directory_bytes(path: str) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


class Costs:
    """Wall time, machine core-seconds and the broker's core-seconds of one timed step."""

    def __init__(self, broker_pid: int | None) -> None:
        self.broker_pid = broker_pid

    def measure(self, step: Callable[[], Any], records: int) -> tuple[Any, dict[str, float]]:
        broker = lambda: cpu_seconds(self.broker_pid) if self.broker_pid else 0.0  # noqa: E731
        wall, busy, broker_before = time.perf_counter(), machine_busy_seconds(), broker()
        result = step()
        seconds = time.perf_counter() - wall
        core_s, broker_s = machine_busy_seconds() - busy, broker() - broker_before
        return result, {
            "seconds": round(seconds, 2), "records_per_s": round(records / seconds),
            "core_us_per_record": round(core_s * 1e6 / records, 1),
            "broker_core_us_per_record": round(broker_s * 1e6 / records, 1),
            "cores_busy": round(core_s / seconds, 2),
        }


def broker_pid(settings: Settings) -> int | None:
    from quantcore_platform.services.kafka_broker import KafkaBroker

    record = KafkaBroker.from_settings(settings).process.running()
    return record.pid if record else None


def kafka_source_only(spark, settings: Settings) -> int:
    """Every value of the topic through Spark's Kafka source, summed by length."""
    from pyspark.sql import functions as F

    from streaming.spark.replay_job import read_runs
    from streaming.spark.replay_plan import plan_replay

    frame = read_runs(spark, settings.kafka, plan_replay(settings.kafka, None, False))
    return frame.agg(F.sum(F.length("value"))).first()[0]


def measure_replay(settings: Settings, records: int, partitions: int | None = None,
                   progress=print, native: bool = True, queries: bool = True, warm_up: bool = True,
                   books: str = "market") -> dict:
    """Pre-fill a topic with `records` books of one day (BOOKS: the market model's or the
    synthetic ones), then time and size each step."""
    from bench.scenarios.analyst_queries import time_queries
    from bench.scenarios.replay_native import table_bytes, write_native
    from quantcore.spark_session import build_spark_session
    from streaming.spark import delta_tables
    from streaming.spark.replay_job import replay

    topic = f"qc.bench.replay.{int(time.time())}"
    partitions = partitions or settings.kafka.partitions
    symbols = settings.market.symbols
    create_topic(settings.kafka, topic, partitions, CREATE_TIME)
    started = time.perf_counter()
    sent = produce_all(settings.kafka, topic, BOOKS[books](symbols, records, BENCH_DAY))
    produce_s = time.perf_counter() - started
    progress(f"produced {sent:,} records in {produce_s:.1f}s")
    replay_settings = settings.override(book_topic=topic)
    costs = Costs(broker_pid(settings))
    spark = build_spark_session(replay_settings.spark, replay_settings.paths, "quantcore-bench-replay")
    try:
        # Warm-up, not timed: an empty day creates the tables and loads the JVM's code paths
        # once, as on a running platform; the figure is then the replay of the day itself.
        if warm_up:
            replay(spark, replay_settings, [BENCH_DAY - timedelta(days=1)])
        _, source = costs.measure(lambda: kafka_source_only(spark, replay_settings), records)
        progress(f"kafka source alone: {source}")
        result, spark_costs = costs.measure(lambda: replay(spark, replay_settings), records)
        progress(f"replay: {spark_costs}")
    finally:
        spark.stop()
    paths = replay_settings.paths
    sizes = {name: directory_bytes(delta_tables.table_path(paths, name)) for name in delta_tables.TABLES}
    per_million = lambda b: round(b / (records / 1e6) / 2**20, 1)  # noqa: E731
    figures = {
        "records_per_s": spark_costs["records_per_s"], "core_us_per_record": spark_costs["core_us_per_record"],
        "records": records, "books": books, "symbols": len(symbols), "partitions": partitions, "depth": 20,
        "cores": os.cpu_count(), "produce_records_per_s": round(sent / produce_s),
        "replay": spark_costs, "kafka_source": source,
        "spark_beyond_kafka_source_core_us_per_record": round(
            spark_costs["core_us_per_record"] - source["core_us_per_record"], 1),
        "phase_seconds": result.phase_seconds, "rows": result.rows, "quarantined": result.quarantined,
        "mib_per_million_records": {name: per_million(size) for name, size in sizes.items()},
        "mib_per_million_records_both_tables": per_million(sizes[delta_tables.BOOKS_RAW]
                                                           + sizes[delta_tables.BOOK_SIGNALS]),
        "projected_seconds_for_26m_records": round(26_000_000 / spark_costs["records_per_s"]),
    }
    if native:
        native_path = f"{paths.delta_root.rstrip('/')}/native_books_raw"
        yardstick, native_costs = costs.measure(lambda: write_native(settings.kafka, topic, native_path), records)
        figures["native_books_raw"] = {**native_costs, "skipped": yardstick["skipped"],
                                       "mib_per_million_records": per_million(table_bytes(native_path))}
        figures["spark_to_native_cost_ratio"] = round(
            spark_costs["core_us_per_record"] / native_costs["core_us_per_record"], 2)
        progress(f"native writer: {figures['native_books_raw']}")
    if queries:
        figures["analyst_queries_cold_s"] = time_queries(paths.delta_root, BENCH_DAY)
    return figures


def run(ctx) -> dict:
    """The `quantcore bench replay` entry (bench.harness.BenchContext)."""
    records = int(ctx.option("records", 1_000_000, smoke_default=20_000))
    books = str(ctx.option("books", "market", smoke_default="synthetic"))
    if books not in BOOKS:
        raise PlatformError(f"unknown books={books!r}", f"use --set books= one of {', '.join(BOOKS)}")
    if masters := ctx.option("masters", None):
        from bench.scenarios.replay_scaling import measure_scaling

        return measure_scaling(ctx.settings, records, str(masters).split(","), BOOKS[books], BENCH_DAY,
                               progress=ctx.progress)
    # The smoke proves the harness: no warm-up, and the analyst queries run in tests/ already.
    return measure_replay(ctx.settings, records, progress=ctx.progress, warm_up=not ctx.smoke,
                          native=bool(ctx.option("native", True)),
                          queries=bool(ctx.option("queries", True, smoke_default=0)), books=books)
