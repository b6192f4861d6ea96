"""Replay as Dagster assets: `books_raw`, `book_signals` and `trades`, daily partitions (UTC).

One Spark run materializes the three tables for a day or a range of days: the asset launches
`streaming.spark.replay_job --dates A..B` through Dagster Pipes, with the deployment's
launcher (a child process, spark-submit or EMR Serverless: quantcore_platform/spark_launch/,
chosen by QUANTCORE_SPARK_LAUNCHER), and the job
reports rows, Kafka offsets, quarantined records and retention gaps back as materialization
metadata. A UI backfill over many days is one Spark run (`BackfillPolicy.single_run`).
The checks read the written days back with deltalake + polars (streaming/spark/replay_checks.py).

Lists for the code location's `Definitions`: REPLAY_ASSETS, REPLAY_ASSET_CHECKS, REPLAY_JOBS,
REPLAY_SCHEDULES. Resource: `quantcore` (QuantcoreSettingsResource).

No setting is loaded to import this module, except the partitions' start date, read safely:
a bad QUANTCORE_REPLAY_START_DATE falls back to the default date and fails the replay runs
(naming the variable), never the code location.
"""

from collections.abc import Callable
from datetime import date

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    AssetRecordsFilter,
    AssetSelection,
    AssetSpec,
    BackfillPolicy,
    DailyPartitionsDefinition,
    DefaultScheduleStatus,
    MaterializeResult,
    MetadataValue,
    OpExecutionContext,
    Output,
    ScheduleDefinition,
    asset,
    asset_check,
    build_schedule_from_partitioned_job,
    define_asset_job,
    job,
    multi_asset,
    op,
)

from quantcore_platform.resources import QuantcoreSettingsResource
from quantcore.settings import ConfigError, ReplaySettings
from quantcore_platform.spark_launch import SparkJob
from streaming.spark import microprice_tables, replay_checks, signal_bounds, trade_checks
from streaming.spark.replay_checks import CheckOutcome
from streaming.spark.replay_offsets import days_between

BOOKS_RAW = AssetKey("books_raw")
BOOK_SIGNALS = AssetKey("book_signals")
TRADES = AssetKey("trades")  # streaming/spark/trade_replay.py, written by the same replay run
GROUP = "market_data"  # one group: the whole book -> signals lineage in one graph

REPLAY_SECTIONS = ("kafka", "spark", "paths", "signals", "replay")  # what the replay job reads
REPLAY_JOB = SparkJob("streaming.spark.replay_job", sections=REPLAY_SECTIONS)


def replay_start_date() -> tuple[date, ConfigError | None]:
    """The first partition day, and the error if QUANTCORE_REPLAY_START_DATE (or the TOML
    file) is invalid: then the default day, so the code location still loads."""
    try:
        return ReplaySettings.load().start_date, None
    except ConfigError as exc:
        return ReplaySettings.model_fields["start_date"].default, exc


REPLAY_START_DATE, REPLAY_START_ERROR = replay_start_date()
REPLAY_PARTITIONS = DailyPartitionsDefinition(start_date=REPLAY_START_DATE.isoformat(), timezone="UTC")


@multi_asset(
    specs=[
        AssetSpec(BOOKS_RAW, deps=["book_topic"], group_name=GROUP, kinds={"spark", "delta"},
                  description="Every book record of the Kafka topic, exact decimal strings, with Kafka "
                              "partition/offset; partitioned by the UTC day of the Kafka timestamp."),
        AssetSpec(BOOK_SIGNALS, deps=[BOOKS_RAW], group_name=GROUP, kinds={"spark", "delta"},
                  description="Signals of every book (obi_k, weighted OBI, mid, spread, OFI, ...), "
                              "one row per (symbol, update_id), from the stream's signal expressions."),
        AssetSpec(TRADES, deps=["trade_topic"], group_name=GROUP, kinds={"spark", "delta"},
                  description="Every trade record of the Kafka trade topic: price and qty as the exchange's "
                              "strings and exact decimals, aggressor side, trade ids, Kafka partition/offset; "
                              "partitioned by the UTC day of the Kafka timestamp. The metadata's `status` says "
                              "when the trade topic was missing (books only)."),
    ],
    partitions_def=REPLAY_PARTITIONS,
    backfill_policy=BackfillPolicy.single_run(),
    can_subset=False,
)
def replay_books(context: AssetExecutionContext, quantcore: QuantcoreSettingsResource):
    """Replay the partition's days from Kafka into Delta in one Spark run."""
    if REPLAY_START_ERROR is not None:
        raise ConfigError(f"the replay partitions fell back to {REPLAY_START_DATE}: {REPLAY_START_ERROR}")
    days = context.partition_key_range
    context.log.info(f"replaying {days.start}..{days.end} from Kafka")
    job = REPLAY_JOB.with_args("--dates", f"{days.start}..{days.end}")
    return quantcore.spark_launcher().run(context, job).get_results()


# --- micro-price tables --------------------------------------------------------------------------

MICROPRICE_TABLES = AssetKey(microprice_tables.TABLE)


@asset(key=MICROPRICE_TABLES, deps=[BOOK_SIGNALS], group_name=GROUP, kinds={"python", "delta", "redis"},
       partitions_def=REPLAY_PARTITIONS, backfill_policy=BackfillPolicy.single_run(),
       description="Stoikov micro-price table per symbol, estimated from book_signals of the partition's day and "
                   f"the {microprice_tables.HISTORY_DAYS - 1} before it (quotes sampled every "
                   f"{microprice_tables.SAMPLE_INTERVAL_US // 1000} ms), written to Delta and published to Redis "
                   "(qc:microprice:SYMBOL) for the stream's writer; the replay applies a day's table to the days "
                   "after it (streaming/spark/microprice_tables.py). Ticks: the exchange's exchangeInfo "
                   "(PRICE_FILTER tickSize), where each came from in `tick_sources`.")
def microprice_tables_asset(context: AssetExecutionContext, quantcore: QuantcoreSettingsResource) -> MaterializeResult:
    """In the Dagster process (deltalake + polars): small inputs, see microprice_tables.py."""
    from quantcore.clients import redis_client

    settings = quantcore.settings()
    keys = context.partition_key_range
    days = days_between(date.fromisoformat(keys.start), date.fromisoformat(keys.end))
    ticks = microprice_tables.exchange_ticks(settings)
    if ticks.info is None:
        context.log.warning(f"ticks from {ticks.origin}")
    client = redis_client(settings.redis)
    per_day, published = {}, 0
    try:
        for day in days:
            tables, skipped = microprice_tables.estimate_day(settings.paths, day, ticks)
            microprice_tables.write_tables(settings.paths, day, tables)
            published += microprice_tables.publish(client, tables)
            per_day[day.isoformat()] = {
                "symbols": len(tables), "skipped": skipped, "tick": {t.symbol: t.tick for t in tables},
                "last_term_ticks": {t.symbol: t.table.last_term_ticks for t in tables},
                "samples": {t.symbol: t.samples for t in tables},
                "transitions": {t.symbol: t.table.transitions for t in tables}}
            context.log.info(f"{day}: {len(tables)} table(s), {len(skipped)} symbol(s) without one")
    finally:
        client.close()
    return MaterializeResult(metadata={"days": MetadataValue.json(per_day), "published_to_redis": published,
                                       "tick_sources": MetadataValue.json(ticks.by_origin()),
                                       "history_days": microprice_tables.HISTORY_DAYS,
                                       "sample_interval_us": microprice_tables.SAMPLE_INTERVAL_US})


# --- checks --------------------------------------------------------------------------------------

def run_days(context: AssetCheckExecutionContext) -> list[date]:
    """The days of the run; for a check launched on its own, the last replayed day."""
    if context.has_partition_key_range or context.has_partition_key:
        keys = context.partition_key_range
        return days_between(date.fromisoformat(keys.start), date.fromisoformat(keys.end))
    latest = context.instance.fetch_materializations(BOOKS_RAW, limit=1).records
    partition = latest[0].partition_key if latest else None
    return [date.fromisoformat(partition)] if partition else []


def replay_metadata(context: AssetCheckExecutionContext, day: date) -> dict | None:
    """The metadata the replay reported for `day` (None if it was never materialized)."""
    records = context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=BOOKS_RAW, asset_partitions=[day.isoformat()]), limit=1).records
    if not records or records[0].asset_materialization is None:
        return None
    return {key: value.value for key, value in records[0].asset_materialization.metadata.items()}


def combine(days: list[date], outcome_of: Callable[[date], CheckOutcome],
            severity: AssetCheckSeverity = AssetCheckSeverity.ERROR) -> AssetCheckResult:
    """One result for the run's days: passed only if every day passed."""
    outcomes = {day: outcome_of(day) for day in days}
    failed = [day for day, outcome in outcomes.items() if not outcome.passed]
    description = (outcomes[failed[0]].description if failed else
                   f"{len(days)} day(s) passed" if days else "no replayed day to check")
    return AssetCheckResult(
        passed=bool(days) and not failed, severity=severity, description=description,
        metadata={"days": len(days), "failed_days": MetadataValue.json([d.isoformat() for d in failed]),
                  "per_day": MetadataValue.json({d.isoformat(): {"passed": o.passed, "description": o.description,
                                                                 **o.metadata} for d, o in outcomes.items()})})


@asset_check(asset=BOOK_SIGNALS, description="Every obi_k (and the weighted OBI) lies within [-1, 1].")
def obi_within_bounds(context: AssetCheckExecutionContext, quantcore: QuantcoreSettingsResource) -> AssetCheckResult:
    paths = quantcore.settings().paths
    return combine(run_days(context), lambda day: replay_checks.check_obi_bounds(paths, day))


@asset_check(asset=BOOK_SIGNALS, description="No (symbol, update_id) appears twice: re-runs replace, never append.")
def no_duplicate_updates(context: AssetCheckExecutionContext, quantcore: QuantcoreSettingsResource) -> AssetCheckResult:
    paths = quantcore.settings().paths
    return combine(run_days(context), lambda day: replay_checks.check_no_duplicates(paths, day))


@asset_check(asset=BOOK_SIGNALS, description="Per symbol, update ids increase in Kafka log order "
                                             "(a regression means the ingest went backwards).")
def update_ids_increasing(context: AssetCheckExecutionContext,
                          quantcore: QuantcoreSettingsResource) -> AssetCheckResult:
    paths = quantcore.settings().paths
    return combine(run_days(context), lambda day: replay_checks.check_update_ids_increasing(paths, day),
                   AssetCheckSeverity.WARN)


@asset_check(asset=BOOKS_RAW, description="books_raw + books_quarantine rows of the day equal the Kafka "
                                          "records of the day (offsets by timestamp).")
def row_count_matches_kafka(context: AssetCheckExecutionContext,
                            quantcore: QuantcoreSettingsResource) -> AssetCheckResult:
    settings = quantcore.settings()

    def outcome(day: date) -> CheckOutcome:
        recorded = (replay_metadata(context, day) or {}).get("kafka_records", {}).get(day.isoformat())
        return replay_checks.check_row_count(settings.paths, settings.kafka, day, recorded)

    return combine(run_days(context), outcome)


@asset_check(asset=TRADES, description="Per symbol and stream kind (@trade / @aggTrade), the day's trade ids "
                                       "are consecutive, and the first continues the previous day's last when "
                                       "`trades` holds that day (`previous_day` in the metadata says when it does "
                                       "not): gaps (missing ids), repeats and overlaps across midnight in the "
                                       "metadata. A warning: the ingest keeps the trades around a gap, the missing "
                                       "ones are lost.")
def trade_ids_continuous(context: AssetCheckExecutionContext,
                         quantcore: QuantcoreSettingsResource) -> AssetCheckResult:
    paths = quantcore.settings().paths
    return combine(run_days(context), lambda day: trade_checks.check_trade_id_continuity(paths, day),
                   AssetCheckSeverity.WARN)


def bounds_result(days: list[date], outcome_of: Callable[[date], CheckOutcome]) -> AssetCheckResult:
    """`combine` for the signal-bounds checks: the severity is the worst broken bound's
    (ERROR for a mathematical bound, WARN for a property of good data), ERROR when none is."""
    outcomes = {day: outcome_of(day) for day in days}
    worst = {o.metadata.get("severity") for o in outcomes.values()}
    severity = (AssetCheckSeverity.WARN if signal_bounds.WARN in worst and signal_bounds.ERROR not in worst
                else AssetCheckSeverity.ERROR)
    return combine(days, outcomes.__getitem__, severity)


@asset_check(asset=BOOK_SIGNALS, description="Every signal within its bounds (streaming/spark/signal_bounds.py): "
                                             "obi_* and obi_weighted in [-1, 1], spread >= 0, mid and weighted_mid "
                                             "within [best_bid, best_ask], ofi_levels 10 long with level 1 = ofi, "
                                             "rv_* >= 0 and rv_1s <= rv_10s <= rv_60s (ERROR); microprice within "
                                             "[best_bid, best_ask] (WARN: an estimate). Metadata: rows, violations "
                                             "per bound, examples.")
def book_signals_within_bounds(context: AssetCheckExecutionContext,
                               quantcore: QuantcoreSettingsResource) -> AssetCheckResult:
    paths = quantcore.settings().paths
    return bounds_result(run_days(context), lambda day: signal_bounds.check_book_signals(paths, day))


@asset_check(asset=TRADES, description="Trade flow within its bounds (streaming/spark/signal_bounds.py), all "
                                       "ERROR: trade_count_1s >= 1 for a counted trade, counts non-decreasing "
                                       "1s <= 10s <= 60s, tfi_* in [-1, 1], vwap_* within the symbol's min..max "
                                       "price of the day (trades whose window lies in the day). Metadata: rows, "
                                       "violations per bound, examples.")
def trade_flow_within_bounds(context: AssetCheckExecutionContext,
                             quantcore: QuantcoreSettingsResource) -> AssetCheckResult:
    paths = quantcore.settings().paths
    return bounds_result(run_days(context), lambda day: signal_bounds.check_trade_flow(paths, day))


@asset_check(asset=BOOKS_RAW, description="Kafka still held the whole day when it was replayed "
                                          "(fails loudly instead of passing off a partial day).")
def kafka_retention_complete(context: AssetCheckExecutionContext) -> AssetCheckResult:
    def outcome(day: date) -> CheckOutcome:
        metadata = replay_metadata(context, day) or {}
        return replay_checks.check_retention(day, metadata.get("missing_ranges"), metadata.get("skipped_days"))

    return combine(run_days(context), outcome)


# --- jobs and schedules ------------------------------------------------------------------------------

replay_daily_job = define_asset_job(
    "replay_daily", selection=AssetSelection.assets(BOOKS_RAW, BOOK_SIGNALS, TRADES, MICROPRICE_TABLES),
    description="Replay one UTC day (or a range, in one Spark run) from Kafka into Delta, then estimate and "
                "publish the micro-price tables of those days.")

# At 00:30 UTC the newest complete partition is yesterday: that is what the schedule runs.
replay_nightly = build_schedule_from_partitioned_job(
    replay_daily_job, name="replay_nightly", hour_of_day=0, minute_of_hour=30,
    default_status=DefaultScheduleStatus.RUNNING)


@op(description="OPTIMIZE (compaction) and VACUUM (QUANTCORE_DELTA_VACUUM_RETENTION_HOURS) of the replay tables.")
def optimize_and_vacuum(context: OpExecutionContext, quantcore: QuantcoreSettingsResource) -> Output[None]:
    invocation = quantcore.spark_launcher().run(context, REPLAY_JOB.with_args("--maintain"))
    report = next(iter(invocation.get_custom_messages()), {})
    return Output(None, metadata={"tables": MetadataValue.json(report)})


@job(description="Weekly Delta maintenance of books_raw, book_signals and books_quarantine.")
def delta_maintenance():
    optimize_and_vacuum()


delta_maintenance_weekly = ScheduleDefinition(
    name="delta_maintenance_weekly", job=delta_maintenance, cron_schedule="0 3 * * 0",
    execution_timezone="UTC", default_status=DefaultScheduleStatus.RUNNING)

REPLAY_ASSETS = [replay_books, microprice_tables_asset]
REPLAY_ASSET_CHECKS = [obi_within_bounds, no_duplicate_updates, update_ids_increasing, row_count_matches_kafka,
                       kafka_retention_complete, trade_ids_continuous, book_signals_within_bounds,
                       trade_flow_within_bounds]
REPLAY_JOBS = [replay_daily_job, delta_maintenance]
REPLAY_SCHEDULES = [replay_nightly, delta_maintenance_weekly]
