"""The replay's Delta tables: where they live, their documented schema, day-exact overwrites,
and maintenance (OPTIMIZE + VACUUM).

Every table is partitioned by `date`, the UTC day of the Kafka record timestamp. Writing a
set of days replaces exactly those days (`replaceWhere`), so a re-run never duplicates.
Column comments and table properties are set when a table is first created; they are what
`DESCRIBE TABLE` and `deltalake.DeltaTable(...).schema()` show analysts.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from quantcore.log import get_logger
from quantcore.settings import PathsSettings, ReplaySettings
from streaming.spark import book_layout

BOOKS_RAW = "books_raw"
BOOK_SIGNALS = "book_signals"
BOOKS_QUARANTINE = "books_quarantine"
TABLES = (BOOKS_RAW, BOOK_SIGNALS, BOOKS_QUARANTINE)

log = get_logger("replay.delta")

TIME_NOTE = "integer microseconds since the epoch, UTC"

COMMENTS: dict[str, str] = {
    # BookRecord fields (proto/quantcore/v1/book.proto)
    "exchange": "exchange the book came from, e.g. binance",
    "symbol": "instrument, upper case, e.g. BTCUSDT (the Kafka key)",
    "event_time_us": f"exchange event time, {TIME_NOTE}; 0 when the stream has none",
    "update_id": "exchange update id: monotonic per symbol",
    "first_update_id": "diff mode: first update id (U) of the last applied event; else 0",
    "ingest_time_us": f"receipt of the frame on the ingest shard, {TIME_NOTE}",
    "bid_levels": "how many bid levels the record carried (bid_*_N beyond are null)",
    "ask_levels": "how many ask levels the record carried (ask_*_N beyond are null)",
    "mode": "BOOK_MODE_PARTIAL_SNAPSHOT (exchange top-N) or BOOK_MODE_LOCAL_BOOK (snapshot + diffs)",
    "shard_id": "ingest shard that produced the record",
    "origin": "provenance: ORIGIN_EXCHANGE (the live exchange) or ORIGIN_SIMULATOR (simulated, never real)",
    "simulator_seed": "ORIGIN_SIMULATOR: the seed of the simulated market; 0 otherwise",
    "invalid_reason": "why the live stream rejects this book (crossed, unsorted, ...): its signals are null; "
                      "null when the book is valid",
    # where the record sits in Kafka
    "kafka_topic": "Kafka topic the record was read from",
    "kafka_partition": "Kafka partition",
    "kafka_offset": "Kafka offset within the partition",
    "kafka_timestamp_us": f"Kafka record timestamp, {TIME_NOTE} (millisecond precision)",
    "kafka_timestamp_type": "LogAppendTime (broker append time, the book topic) or CreateTime (producer's)",
    "date": "UTC day of kafka_timestamp_us: the partition column; a replay replaces whole days",
    # signals (streaming/spark/signals.py, identical to the live stream)
    "obi_1": "order book imbalance over the top 1 level: (bid qty - ask qty) / (bid qty + ask qty), in [-1, 1]",
    "obi_5": "order book imbalance over the top 5 levels, in [-1, 1]",
    "obi_10": "order book imbalance over the top 10 levels, in [-1, 1]",
    "obi_20": "order book imbalance over the top 20 levels, in [-1, 1]",
    "obi_weighted": "depth-weighted imbalance, weights exp(-lambda * (level - 1)), in [-1, 1]",
    "mid": "(best bid + best ask) / 2",
    "spread": "best ask - best bid",
    "spread_bps": "spread / mid * 10000",
    "weighted_mid": "mid + spread / 2 * obi_1",
    "best_bid": "best bid price",
    "best_ask": "best ask price",
    "best_bid_qty": "quantity at the best bid",
    "best_ask_qty": "quantity at the best ask",
    "ofi": "order flow imbalance (Cont-Kukanov-Stoikov) vs the previous book of the symbol "
           "the same day; null for a symbol's first book of the day",
    "ofi_levels": "multi-level order flow imbalance (Xu-Gould-Howison) of the top 10 levels vs the same previous "
                  "book as ofi: element i is level i + 1 (element 0 = ofi); null when ofi is",
    "rv_1s": "realized volatility of the mid, sqrt(sum of squared log returns of consecutive valid books' mids), "
             "over the books of the symbol the same day with event time in (t - 1 s, t], t this book's; null with "
             "fewer than two mids",
    "rv_10s": "as rv_1s over 10 s",
    "rv_60s": "as rv_1s over 60 s",
    "microprice": "Stoikov micro-price: mid + g(imbalance bucket, spread in ticks) * tick, g from the symbol's "
                  "microprice_tables row the replay applied (see docs/analysts.md); null without a table",
    # quarantine
    "kafka_key": "Kafka record key (the symbol, as bytes)",
    "payload": "the raw Kafka value, untouched",
    "reason": "why the record could not be replayed: undecodable, no symbol, or levels that the flat exact "
              "decimals of books_raw cannot hold unchanged",
}



def level_comment(column: str) -> str:
    """`bid_px_3` -> 'bid price at level 3 (1 = best), exact DECIMAL(18, 8) ...'."""
    side, what, level = column.split("_")
    scale = book_layout.scale(what)
    name = "price" if what == "px" else "quantity"
    return (f"{side} {name} at level {level} (1 = best), exact DECIMAL({book_layout.PRECISION}, {scale}) "
            "as the exchange printed it; null beyond the record's levels")


COMMENTS |= {column: level_comment(column) for column in book_layout.level_columns()}

DESCRIPTIONS = {
    BOOKS_RAW: "Every book record of the Kafka book topic, as ingested, one row per record: its fields, its "
               f"levels flat (bid_px_1..{book_layout.DEPTH}, bid_qty_.., ask_px_.., ask_qty_..; exact decimals) "
               "and its Kafka coordinates. Rebuilt by `quantcore replay`.",
    BOOK_SIGNALS: "Signals of every book (one row per symbol and update id), computed by the same "
                  "validation and signal expressions as the live stream; a book the stream rejects has "
                  "its invalid_reason and null signals. Rebuilt by `quantcore replay`.",
    BOOKS_QUARANTINE: "Kafka records that are not a BookRecord with a symbol (or whose levels books_raw cannot "
                      "hold exactly), kept with their offsets and bytes instead of failing the day.",
}


def tune_session(spark: SparkSession) -> None:
    """zstd instead of snappy: measured on 20-level books, a third of the size on disk and
    no slower to write. Delta's defaults assume a cluster: on a local master its 50 snapshot
    partitions are 50 tiny tasks every time a table's log is read."""
    spark.conf.set("spark.sql.parquet.compression.codec", "zstd")
    if spark.sparkContext.master.startswith("local"):
        spark.conf.set("spark.databricks.delta.snapshotPartitions", "2")


def table_path(paths: PathsSettings, name: str) -> str:
    return f"{paths.delta_root.rstrip('/')}/{name}"


# File statistics (data skipping) only where analysts filter: Delta's default, the first 32
# columns, spent ~10 core-µs a record on books_raw collecting them for every field.
_KAFKA_STATS = ("kafka_partition", "kafka_offset", "kafka_timestamp_us")
_BOOK_STATS = ("symbol", "update_id", "event_time_us", *_KAFKA_STATS)
STATS_COLUMNS = {BOOKS_RAW: _BOOK_STATS, BOOK_SIGNALS: _BOOK_STATS, BOOKS_QUARANTINE: _KAFKA_STATS}


def table_properties(replay: ReplaySettings, name: str, source_topic: str) -> dict[str, str]:
    return {
        "delta.dataSkippingStatsColumns": ",".join(STATS_COLUMNS[name]),
        "quantcore.table": name,
        "quantcore.source_topic": source_topic,
        "quantcore.partitioning": "date = UTC day of the Kafka record timestamp",
        "quantcore.timestamps": TIME_NOTE,
        "quantcore.rebuild": "quantcore replay --date YYYY-MM-DD | --all (idempotent: replaces whole days)",
        "delta.deletedFileRetentionDuration": f"interval {replay.delta_vacuum_retention_hours} hours",
    }


def ensure_table(spark: SparkSession, paths: PathsSettings, replay: ReplaySettings, name: str, frame: DataFrame,
                 source_topic: str) -> str:
    """Create the table (schema of `frame`, comments, properties) unless it exists; its path."""
    path = table_path(paths, name)
    refuse_old_layout(spark, path, frame)
    builder = (DeltaTable.createIfNotExists(spark).location(path).comment(DESCRIPTIONS[name])
               .partitionedBy("date"))
    for field in frame.schema.fields:
        builder = builder.addColumn(field.name, field.dataType, nullable=True,
                                    comment=COMMENTS.get(field.name, field.name))
    for key, value in table_properties(replay, name, source_topic).items():
        builder = builder.property(key, value)
    builder.execute()
    return path


OLD_LAYOUT_COLUMNS = ("bids", "asks")  # books_raw before the flat layout


def refuse_old_layout(spark: SparkSession, path: str, frame: DataFrame) -> None:
    """A table written with the level arrays cannot take the flat columns day by day: the
    other days would keep arrays and the new ones nulls there. Say so instead of mixing."""
    if not DeltaTable.isDeltaTable(spark, path):
        return
    existing = set(DeltaTable.forPath(spark, path).toDF().columns)
    old = [column for column in OLD_LAYOUT_COLUMNS if column in existing and column not in frame.columns]
    if old:
        raise ValueError(
            f"{path} has the old books_raw layout (columns {', '.join(old)}: levels as arrays of strings). "
            "Move it away (or point QUANTCORE_DATA_ROOT at a new directory) and run `quantcore replay --all`: "
            "the replay rebuilds it from Kafka in the flat layout of docs/analysts.md.")


def replace_days_predicate(days: Iterable[date]) -> str:
    listed = ", ".join(f"DATE'{d.isoformat()}'" for d in sorted(set(days)))
    return f"date IN ({listed})"


def replace_days(spark: SparkSession, paths: PathsSettings, replay: ReplaySettings, name: str, frame: DataFrame,
                 days: list[date], source_topic: str) -> str:
    """Write `frame` (records of Kafka topic `source_topic`) as exactly `days` of table `name`:
    those days' old rows go, nothing else changes (rows outside `days` are an error, by
    Delta's replaceWhere constraint check)."""
    path = ensure_table(spark, paths, replay, name, frame, source_topic)
    (frame.write.format("delta").mode("overwrite")
     .option("replaceWhere", replace_days_predicate(days))
     .option("mergeSchema", "true")  # a new BookRecord field becomes a new column
     .save(path))
    return path


def rows_by_day(spark: SparkSession, paths: PathsSettings, name: str, days: list[date]) -> dict[date, int]:
    """Row count per day (every requested day present, 0 when empty), from the file statistics
    in the Delta log (no data read); by a Spark count if a file has none."""
    import polars as pl
    from deltalake import DeltaTable as LogReader
    from deltalake.exceptions import TableNotFoundError

    counts = {d: 0 for d in days}
    try:
        files = pl.DataFrame(LogReader(table_path(paths, name)).get_add_actions(flatten=True))
    except TableNotFoundError:
        return counts
    files = files.filter(pl.col("partition.date").is_in(list(days)))
    if files["num_records"].null_count():
        frame = spark.read.format("delta").load(table_path(paths, name)).where(F.col("date").isin(list(days)))
        return counts | {row["date"]: row["count"] for row in frame.groupBy("date").count().collect()}
    for day, rows in files.group_by("partition.date").agg(pl.col("num_records").sum()).iter_rows():
        counts[day] = rows
    return counts


def maintain(spark: SparkSession, paths: PathsSettings, replay: ReplaySettings,
             tables: Iterable[str] = TABLES) -> dict[str, dict]:
    """OPTIMIZE (compact small files) then VACUUM (drop files unreferenced for longer than
    `delta_vacuum_retention_hours`) every replay table that exists."""
    retention = replay.delta_vacuum_retention_hours
    # Delta refuses retention under 7 days unless told it is deliberate: the setting is.
    spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", str(retention >= 168).lower())
    report = {}
    for name in tables:
        path = table_path(paths, name)
        if not DeltaTable.isDeltaTable(spark, path):
            continue
        table = DeltaTable.forPath(spark, path)
        metrics = table.optimize().executeCompaction().first()["metrics"]
        table.vacuum(float(retention))
        report[name] = {"files_added": metrics["numFilesAdded"], "files_removed": metrics["numFilesRemoved"],
                        "vacuum_retention_hours": retention}
        log.info("delta maintained", table=name, **report[name])
    return report
