"""Replay the Kafka book topic into Delta Lake: `books_raw`, `book_signals`, `books_quarantine`.

One Spark batch run replays one day, many days (a backfill: one Kafka read per run of
consecutive days) or everything Kafka still holds (`dates=None`). Records are decoded by the
same protobuf decoder as the stream and their signals computed by the same signals module,
so live and replayed values are identical by construction. Each written day replaces exactly
that day in every table; days that Kafka's retention has cut are skipped (their Delta rows
are kept) and reported, unless `allow_partial`.

    replay(spark, settings, [date(2024, 3, 1)])          # library (CLI, Dagster, tests)
    python -m streaming.spark.replay_job --dates 2024-03-01..2024-03-07   # a process (Dagster Pipes)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from datetime import date

from pyspark.sql import Column, DataFrame, Observation, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import (
    BinaryType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from quantcore.log import get_logger
from quantcore.settings import KafkaSettings, PathsSettings, ReplaySettings, Settings, SignalsSettings
from streaming.spark import (
    book_layout,
    book_validation,
    delta_tables,
    flat_books,
    microprice_tables,
    mid_volatility,
    signals,
)
from streaming.spark.delta_tables import BOOK_SIGNALS, BOOKS_QUARANTINE, BOOKS_RAW
from streaming.spark.kafka_rows import kafka_day_rows
from streaming.spark.replay_offsets import offsets_json, parse_days
from streaming.spark.replay_plan import KafkaRun, ReplayPlan, plan_replay
from streaming.spark.trade_replay import TRADE_TABLES, TRADES, replay_trades
from streaming.spark.trade_replay import pipes_metadata as trade_pipes_metadata


# The Kafka source's schema, for an empty frame when there is nothing to read.
KAFKA_SCHEMA = StructType([
    StructField("key", BinaryType()), StructField("value", BinaryType()), StructField("topic", StringType()),
    StructField("partition", IntegerType()), StructField("offset", LongType()),
    StructField("timestamp", TimestampType()), StructField("timestampType", IntegerType()),
])

log = get_logger("replay")


@dataclass
class ReplayResult:
    """What a replay did, as plain JSON-able values (CLI output, Dagster metadata)."""

    topic: str
    days: list[str]  # requested (or, for --all, every day Kafka holds)
    written_days: list[str]
    skipped_days: list[str]  # cut by retention and left untouched
    rows: dict[str, int]  # table -> rows written over the written days
    rows_by_day: dict[str, dict[str, int]]  # table -> day -> rows
    kafka_records: dict[str, int]  # day -> records Kafka holds for it
    offsets: list[dict]  # per Kafka read: days and {partition: [start, end)}
    records_read: int
    quarantined: int
    missing_ranges: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    phase_seconds: dict[str, float] = field(default_factory=dict)  # books_raw, quarantine, book_signals, trades
    trades: dict = field(default_factory=dict)  # the trade topic's half: trade_replay.TradeReplay

    @property
    def complete(self) -> bool:
        return not self.missing_ranges

    def as_dict(self) -> dict:
        return {**asdict(self), "complete": self.complete}


# --- reading and decoding --------------------------------------------------------------------

def read_kafka(spark: SparkSession, kafka: KafkaSettings, topic: str, run: KafkaRun) -> DataFrame | None:
    """The records of one run of days, by explicit offsets (None when there are none)."""
    partitions = sorted(p for p in run.start if run.end[p] > run.start[p])
    if not partitions:
        return None
    return (spark.read.format("kafka").options(**kafka.spark_options())
            .option("assign", json.dumps({topic: partitions}))
            .option("startingOffsets", offsets_json(topic, {p: run.start[p] for p in partitions}))
            .option("endingOffsets", offsets_json(topic, {p: run.end[p] for p in partitions}))
            .option("failOnDataLoss", "true")
            .load())


def read_runs(spark: SparkSession, kafka: KafkaSettings, plan: ReplayPlan) -> DataFrame:
    frames = [f for f in (read_kafka(spark, kafka, plan.topic, run) for run in plan.runs()) if f is not None]
    if not frames:
        return spark.createDataFrame([], KAFKA_SCHEMA)
    union = frames[0]
    for frame in frames[1:]:
        union = union.unionByName(frame)
    return union


def decoded_records(kafka: DataFrame, days: list[date]) -> DataFrame:
    """Kafka rows of `days` with their decoded flat book (flat_books.py; null when
    undecodable) and Kafka coordinates. The day comes from the Kafka timestamp in integer
    arithmetic: no session time zone involved."""
    return kafka_day_rows(kafka, days, flat_books.decode_flat(F.col("value")).alias("book"))


UNFIT_LEVELS = (f"levels do not fit books_raw's exact decimals: more than {book_layout.DEPTH} levels, more "
                f"decimals than the column's scale (price {book_layout.scale('px')}, qty {book_layout.scale('qty')}), "
                f"more than {book_layout.PRECISION} digits, or not a plain decimal number")


def quarantine_reason(book: Column) -> Column:
    """Why a record has no place in books_raw (null: it has one). The first two are the
    first verdicts of book_validation (UNDECODABLE, MISSING_SYMBOL); a book whose levels
    would change in the flat layout is kept whole here rather than rounded."""
    return (F.when(book.isNull(), book_validation.UNDECODABLE)
            .when(book["symbol"] == "", book_validation.MISSING_SYMBOL)
            .when(~book[flat_books.FITS], UNFIT_LEVELS))


KAFKA_COLUMNS = ["kafka_topic", "kafka_partition", "kafka_offset", "kafka_timestamp_us", "kafka_timestamp_type"]
BOOK_COLUMNS = [*(f.name for f in flat_books.book_fields()), *flat_books.COUNTS, *book_layout.level_columns()]
QUARANTINE_COLUMNS = [*KAFKA_COLUMNS, "kafka_key", "payload", "reason", "date"]
SIGNAL_KEYS = ["symbol", "exchange", "origin", "simulator_seed", "update_id", "mode", "event_time_us", "ingest_time_us",
               "kafka_timestamp_us", "kafka_partition", "kafka_offset"]
TOP_OF_BOOK = ("best_bid", "best_bid_qty", "best_ask", "best_ask_qty")


def raw_rows(decoded: DataFrame) -> DataFrame:
    """Every record with a book whose levels fit, exactly as decoded."""
    return (decoded.where(quarantine_reason(F.col("book")).isNull())
            .select(*(F.col(f"book.{name}").alias(name) for name in BOOK_COLUMNS), *KAFKA_COLUMNS, "date"))


def quarantine_rows(decoded: DataFrame) -> DataFrame:
    return (decoded.select("*", quarantine_reason(F.col("book")).alias("reason"))
            .where(F.col("reason").isNotNull()).select(*QUARANTINE_COLUMNS))


# --- signals ---------------------------------------------------------------------------------

def signal_rows(books: DataFrame, signal_settings: SignalsSettings, tables_path: str | None = None) -> DataFrame:
    """One row per (symbol, update_id) of books_raw with the stream's verdict and signals.

    A book the stream rejects (crossed, unsorted, ...) keeps its row with `invalid_reason`
    and null signals. OFI compares a valid book with the previous valid book of its symbol
    the same day, as the stream's writer chains it: a day replays identically alone or
    within --all. A re-sent record (same symbol and update id) counts once: the first in
    update id, then Kafka order. Signals are computed before the shuffle by symbol, so the
    levels never cross it, except each side's top 10 (signals.TOP_LEVEL_COLUMNS) that
    `ofi_levels` needs of the previous book.

    `ofi_levels` is `signals.ofi_levels_column`, the Column twin of the stream's pure
    `quantcore.microstructure.ofi_levels` (tests/unit/test_ofi_twin.py proves them equal),
    in the same window as `ofi`, not the pure function applied per symbol run
    (`applyInPandas`): that would ship every row through Arrow to a Python worker and loop
    over it in Python (the stream's writer measured ~20 core-µs a record for pickled rows),
    a second sort by symbol included, where the twin is ten unrolled, code-generated
    expressions on rows the window already sorts.

    `rv_1s`, `rv_10s`, `rv_60s`: mid_volatility.add_rv, windows over the valid books of the
    symbol-day (the stream's writer keeps the same windows in memory; a unit test proves
    the two equal).

    `microprice`: the symbol's table of the Delta table `microprice_tables` at `tables_path`
    (None: null) with the largest date before the row's day, applied by the Column twin of
    the stream's `apply` (microprice_tables.py)."""
    levels = flat_books.level_arrays()
    parsed = books.select(*SIGNAL_KEYS, "date", *(column.alias(name) for name, column in levels.items()))
    book = F.struct("symbol", "update_id")  # what book_validation asks of the record itself
    checked = parsed.select("*", book_validation.invalid_reason(
        book, *(F.col(name) for name in signals.LEVEL_COLUMNS)).alias("invalid_reason"))
    valid = F.col("invalid_reason").isNull()
    values = [F.when(valid, F.col(name)).alias(name) for name in signals.VALUE_COLUMNS]
    tops = [column.alias(name) for name, column in signals.top_level_columns(
        *(F.col(name) for name in signals.LEVEL_COLUMNS)).items()]
    computed = (signals.add_signals(checked, signal_settings.obi_lambda)
                .select(*SIGNAL_KEYS, "date", "invalid_reason", *values, *tops))

    by_symbol = Window.partitionBy("symbol", "date").orderBy("update_id", "kafka_partition", "kafka_offset")
    first_of_update = (computed.withColumn("previous_id", F.lag("update_id").over(by_symbol))
                       .where(F.col("previous_id").isNull() | (F.col("previous_id") != F.col("update_id")))
                       .drop("previous_id"))
    top = F.struct(*(F.col(name) for name in (*TOP_OF_BOOK, *signals.TOP_LEVEL_COLUMNS)))
    previous_valid = F.last(F.when(valid, top), ignorenulls=True).over(
        by_symbol.rowsBetween(Window.unboundedPreceding, -1))
    with_previous = first_of_update.withColumn("previous", previous_valid)
    ofi = signals.ofi_column(*(F.col("previous")[name] for name in TOP_OF_BOOK), *(F.col(name) for name in TOP_OF_BOOK))
    ofi_levels = signals.ofi_levels_column(*(F.col("previous")[name] for name in signals.TOP_LEVEL_COLUMNS),
                                           *(F.col(name) for name in signals.TOP_LEVEL_COLUMNS))
    with_ofi = with_previous.withColumns({"ofi": F.when(valid, ofi), "ofi_levels": F.when(valid, ofi_levels)})
    with_ofi = microprice_tables.add_microprice(books.sparkSession, with_ofi, tables_path, valid,
                                                signals.MICROPRICE)
    with_ofi = mid_volatility.add_rv(with_ofi, valid, F.col("mid"), F.col("event_time_us"))
    return with_ofi.select(*SIGNAL_KEYS, *signals.SIGNAL_COLUMNS, *signals.BOOK_TOP_COLUMNS, "invalid_reason", "date")


# --- the job ---------------------------------------------------------------------------------

def replay(spark: SparkSession, settings: Settings, dates: list[date] | None = None,
           allow_partial: bool = False) -> ReplayResult:
    """Replay `dates` (None: every day Kafka holds) into the Delta tables; see the module doc."""
    started = time.monotonic()
    kafka, paths, replay_settings = settings.kafka, settings.paths, settings.replay
    delta_tables.tune_session(spark)
    plan = plan_replay(kafka, dates, allow_partial)
    days = plan.write_days
    if plan.incomplete:
        log.warning("kafka retention cut requested days", missing=plan.missing_ranges(),
                    skipped=[d.isoformat() for d in plan.skipped_days])
    read, invalid, phases = 0, 0, {}
    if days:
        log.info("replaying", topic=plan.topic, days=len(days), first=days[0].isoformat(),
                 last=days[-1].isoformat(), records=sum(plan.records(d) for d in days))
        with timed(phases, BOOKS_RAW):
            read, invalid = write_raw(spark, kafka, paths, replay_settings, plan)
        with timed(phases, BOOKS_QUARANTINE):
            write_quarantine(spark, kafka, paths, replay_settings, plan, invalid)
        with timed(phases, BOOK_SIGNALS):
            write_signals(spark, paths, replay_settings, settings.signals, plan)
    with timed(phases, TRADES):  # trade_replay.py: the same days from the trade topic (or why not)
        trades = replay_trades(spark, settings, days, allow_partial, read_runs,
                               lambda: spark.createDataFrame([], KAFKA_SCHEMA))
    result = summarize(spark, paths, plan, read, invalid, time.monotonic() - started)
    result.phase_seconds = phases
    result.trades = trades.as_dict()
    log.info("replay done", rows=result.rows, quarantined=result.quarantined, seconds=round(result.seconds, 1))
    return result


@contextmanager
def timed(phases: dict[str, float], name: str) -> Iterator[None]:
    started = time.monotonic()
    yield
    phases[name] = round(time.monotonic() - started, 2)


def write_raw(spark: SparkSession, kafka: KafkaSettings, paths: PathsSettings, replay_settings: ReplaySettings,
              plan: ReplayPlan) -> tuple[int, int]:
    """books_raw in the run's one pass over Kafka; returns (records read, records quarantined)."""
    observation = Observation("replay_read")
    decoded = decoded_records(read_runs(spark, kafka, plan), plan.write_days).observe(
        observation, F.count(F.lit(1)).alias("read"),
        F.count(quarantine_reason(F.col("book"))).alias("invalid"))
    delta_tables.replace_days(spark, paths, replay_settings, BOOKS_RAW, raw_rows(decoded), plan.write_days,
                              plan.topic)
    metrics = observation.get
    return int(metrics.get("read", 0)), int(metrics.get("invalid", 0))


def write_quarantine(spark: SparkSession, kafka: KafkaSettings, paths: PathsSettings, replay_settings: ReplaySettings,
                     plan: ReplayPlan, invalid: int) -> None:
    """Bad records are rare: only then read Kafka a second time to keep their bytes."""
    decoded = decoded_records(read_runs(spark, kafka, plan) if invalid else
                              spark.createDataFrame([], KAFKA_SCHEMA), plan.write_days)
    delta_tables.replace_days(spark, paths, replay_settings, BOOKS_QUARANTINE, quarantine_rows(decoded),
                              plan.write_days, plan.topic)


def write_signals(spark: SparkSession, paths: PathsSettings, replay_settings: ReplaySettings,
                  signal_settings: SignalsSettings, plan: ReplayPlan) -> None:
    """book_signals of the written days, from books_raw's columns (not from Kafka again:
    measured against caching the decoded records and against a second Kafka read, in
    bench/README.md)."""
    days = plan.write_days
    books = (spark.read.format("delta").load(delta_tables.table_path(paths, BOOKS_RAW))
             .where(F.col("date").isin(list(days))))
    tables = delta_tables.table_path(paths, microprice_tables.TABLE)  # written by the Dagster asset
    delta_tables.replace_days(spark, paths, replay_settings, BOOK_SIGNALS, signal_rows(books, signal_settings, tables),
                              days, plan.topic)


def summarize(spark: SparkSession, paths: PathsSettings, plan: ReplayPlan, read: int, invalid: int,
              seconds: float) -> ReplayResult:
    by_day = {name: {d.isoformat(): n for d, n in delta_tables.rows_by_day(spark, paths, name,
                                                                           plan.write_days).items()}
              for name in delta_tables.TABLES}
    offsets = [{"days": f"{run.days[0]}..{run.days[-1]}",
                "partitions": {str(p): [run.start[p], run.end[p]] for p in run.start if run.end[p] > run.start[p]}}
               for run in plan.runs()]
    return ReplayResult(
        topic=plan.topic, days=[d.isoformat() for d in plan.days],
        written_days=[d.isoformat() for d in plan.write_days],
        skipped_days=[d.isoformat() for d in plan.skipped_days],
        rows={name: sum(counts.values()) for name, counts in by_day.items()}, rows_by_day=by_day,
        kafka_records={d.isoformat(): plan.records(d) for d in plan.days}, offsets=offsets,
        records_read=read, quarantined=invalid, missing_ranges=plan.missing_ranges(), seconds=seconds)


# --- as a process (Dagster Pipes, or by hand) --------------------------------------------------

def pipes_metadata(result: ReplayResult, table: str) -> dict:
    """Materialization metadata of one table, in Dagster Pipes' typed form."""
    as_json = lambda value: {"raw_value": value, "type": "json"}  # noqa: E731
    metadata = {
        "rows": {"raw_value": result.rows[table], "type": "int"},
        "rows_by_day": as_json(result.rows_by_day[table]),
        "written_days": as_json(result.written_days),
        "complete": {"raw_value": result.complete, "type": "bool"},
        "seconds": {"raw_value": round(result.seconds, 2), "type": "float"},
    }
    if table == BOOKS_RAW:
        metadata |= {
            "kafka_records": as_json(result.kafka_records),
            "offsets": as_json(result.offsets),
            "records_read": {"raw_value": result.records_read, "type": "int"},
            "quarantined": {"raw_value": result.quarantined, "type": "int"},
            "skipped_days": as_json(result.skipped_days),
            "missing_ranges": as_json(result.missing_ranges),
        }
    return metadata


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m streaming.spark.replay_job", description=__doc__.split("\n")[0])
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--all", action="store_true", help="every day Kafka still holds")
    what.add_argument("--dates", help="YYYY-MM-DD, A..B or a comma-separated list (UTC days)")
    what.add_argument("--maintain", action="store_true", help="OPTIMIZE + VACUUM the tables instead")
    parser.add_argument("--allow-partial", action="store_true", help="also write days cut by retention")
    args = parser.parse_args(argv)

    from dagster_pipes import PipesEnvVarParamsLoader, open_dagster_pipes

    # Under Dagster, Pipes is opened first so that a failure anywhere is reported to the run.
    launched_by_dagster = PipesEnvVarParamsLoader().is_dagster_pipes_process()
    with open_dagster_pipes() if launched_by_dagster else nullcontext() as pipes:
        report, result = run_job(args)
        if pipes is not None and result is None:
            pipes.report_custom_message(report)
        elif pipes is not None:
            for table in (BOOKS_RAW, BOOK_SIGNALS):
                pipes.report_asset_materialization(asset_key=table, metadata=pipes_metadata(result, table))
            pipes.report_asset_materialization(asset_key=TRADES,
                                               metadata=trade_pipes_metadata(result.trades, result.seconds))
        print(json.dumps(report, indent=2))
    return 0


def run_job(args: argparse.Namespace) -> tuple[dict, ReplayResult | None]:
    """(printable report, the replay's result or None for maintenance)."""
    from quantcore.settings import load_settings

    settings = load_settings()
    if args.maintain:
        return run_maintenance(settings), None
    days = None if args.all else parse_days(args.dates)
    result = run_replay(settings, days, allow_partial=args.allow_partial)
    return result.as_dict(), result


def run_replay(settings: Settings, days: list[date] | None, allow_partial: bool = False) -> ReplayResult:
    """`replay` in a Spark session of its own (the CLI and the Dagster-launched process)."""
    from quantcore.spark_session import build_spark_session

    spark = build_spark_session(settings.spark, settings.paths, "quantcore-replay")
    try:
        return replay(spark, settings, days, allow_partial=allow_partial)
    finally:
        spark.stop()


def run_maintenance(settings: Settings) -> dict:
    from quantcore.spark_session import build_spark_session

    spark = build_spark_session(settings.spark, settings.paths, "quantcore-delta-maintenance")
    try:
        return delta_tables.maintain(spark, settings.paths, settings.replay, (*delta_tables.TABLES, *TRADE_TABLES))
    finally:
        spark.stop()


if __name__ == "__main__":
    sys.exit(main())
