"""Kafka book records -> one computed row each: decoded fields, dead-letter reason, signals.

A pure projection (decode, validate, signals; no shuffle, no Python), so it runs unchanged
under the micro-batch and the real-time trigger, and on a batch DataFrame in tests. The
writer turns these rows into Redis writes or dead letters (redis_writer.py).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from quantcore.wire import BOOK_MESSAGE
from streaming.spark.book_validation import invalid_reason
from streaming.spark.protobuf_decode import decode
from streaming.spark.signals import (
    BOOK_TOP_COLUMNS,
    LEVEL_COLUMNS,
    MICROPRICE,
    RV_COLUMNS,
    SIGNAL_COLUMNS,
    TOP_LEVEL_COLUMNS,
    VALUE_COLUMNS,
    add_signals,
    level_columns,
    top_level_columns,
)


IDENTITY_COLUMNS = ("symbol", "exchange", "update_id", "mode", "origin", "simulator_seed")  # + provenance
TIME_COLUMNS = ("exchange_event_us", "ingest_us", "kafka_append_us", "compute_us")
SOURCE_COLUMNS = ("key", "source_topic", "source_partition", "source_offset")
DEAD_LETTER_COLUMNS = ("reason", "payload")
COMPUTED_COLUMNS = (*IDENTITY_COLUMNS, *TIME_COLUMNS, *SOURCE_COLUMNS, *DEAD_LETTER_COLUMNS,
                    *SIGNAL_COLUMNS, *BOOK_TOP_COLUMNS, *TOP_LEVEL_COLUMNS)


def now_us_column() -> Column:
    """The wall clock when the row is computed, per row: `current_timestamp()` is fixed for a
    whole micro-batch, a static Java call is not."""
    return F.unix_micros(F.to_timestamp(F.expr("reflect('java.time.Instant', 'now')")))


def computed_books(kafka: DataFrame, obi_lambda: float) -> DataFrame:
    """`kafka` has the Kafka source columns (key, value, topic, partition, offset, timestamp);
    the result has COMPUTED_COLUMNS. `payload` (the raw record) is kept only for rows with a
    `reason`, so valid rows never carry their bytes to the writer."""
    decoded = kafka.select(
        decode(F.col("value"), BOOK_MESSAGE).alias("book"),
        "value",
        F.col("key").cast("string").alias("key"),
        F.col("topic").alias("source_topic"),
        F.col("partition").alias("source_partition"),
        F.col("offset").alias("source_offset"),
        F.unix_micros("timestamp").alias("kafka_append_us"),
    )
    book = F.col("book")
    # Parse the decimal strings once; the checks and the signals read these arrays.
    parsed = decoded.select("*", *(column.alias(name) for name, column in
                                   level_columns(book["bids"], book["asks"]).items()))
    levels = [F.col(name) for name in LEVEL_COLUMNS]
    # The reason gets its own projection: `payload` reads the column, not a second
    # evaluation of every check.
    checked = add_signals(parsed.select("*", invalid_reason(book, *levels).alias("reason")), obi_lambda)
    signals = {name: F.col(name) for name in VALUE_COLUMNS}
    signals["ofi"] = F.lit(None).cast("double")  # chained by the writer (see signals.py)
    signals["ofi_levels"] = F.lit(None).cast("array<double>")  # likewise, from TOP_LEVEL_COLUMNS
    for name in (*RV_COLUMNS, MICROPRICE):  # the writer's too (mid_volatility.py, microprice_tables.py)
        signals[name] = F.lit(None).cast("double")
    # What the writer chains `ofi_levels` with: each side's top levels, a slice of the
    # arrays parsed above (no second parse).
    signals.update(top_level_columns(*levels))
    columns = {
        "symbol": book["symbol"],
        "exchange": book["exchange"],
        "update_id": book["update_id"],
        "mode": book["mode"],
        "origin": book["origin"],
        "simulator_seed": book["simulator_seed"],
        "exchange_event_us": book["event_time_us"],
        "ingest_us": book["ingest_time_us"],
        "kafka_append_us": F.col("kafka_append_us"),
        "compute_us": now_us_column(),
        **{name: F.col(name) for name in SOURCE_COLUMNS},
        "reason": F.col("reason"),
        "payload": F.when(F.col("reason").isNotNull(), F.col("value")),
        **signals,
    }
    return checked.select(*(columns[name].alias(name) for name in COMPUTED_COLUMNS))
