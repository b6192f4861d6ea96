"""The seed's Spark job, re-created for the baseline: JSON books -> `from_json` -> OBI over the
top 5 levels with higher-order functions -> `foreachBatch`: `collect()` to the driver, then
per row an HSET and a PUBLISH of the JSON payload (two Redis round trips a row).

It reads the book topic of `settings` through our Kafka source options (the same
`kafka_source`), so the comparison with our compute stream is the record path alone:
decode, compute, write. Its keys (`seed:sig:{SYMBOL}`) and channel (`seed:updates`) cannot
collide with ours. Run as a process, like `quantcore stream compute` (stopped by SIGINT):

    QUANTCORE_BOOK_TOPIC=... python -m bench.scenarios.seed_json_job
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from collections.abc import Mapping
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from bench.scenarios.compute import Published
from bench.scenarios.seed_books import BOOK_SCHEMA
from quantcore.clients import redis_client
from quantcore.settings import RedisSettings, Settings, TriggerMode, load_settings
from quantcore.timeutil import now_us
from streaming.spark.compute_job import checkpoint_location, kafka_source
from streaming.spark.compute_rows import now_us_column
from quantcore.spark_session import build_spark_session

SEED_CHANNEL = "seed:updates"
QUERY_NAME = "seed_json_collect"
OBI_DEPTH = 5
PAYLOAD_COLUMNS = ("symbol", "update_id", "obi_5", "mid", "spread", "kafka_append_us", "compute_us")


def seed_key(symbol: str) -> str:
    return f"seed:sig:{symbol}"


# --- the query -------------------------------------------------------------------------------------
def top_qty(levels: Column) -> Column:
    """Σ qty of the top OBI_DEPTH [price, qty] levels, a higher-order `aggregate`."""
    return F.aggregate(F.slice(levels, 1, OBI_DEPTH), F.lit(0.0), lambda acc, level: acc + level[1].cast("double"))


def seed_rows(kafka: DataFrame) -> DataFrame:
    """Kafka source rows -> PAYLOAD_COLUMNS."""
    parsed = kafka.select(F.from_json(F.col("value").cast("string"), BOOK_SCHEMA).alias("book"),
                          F.unix_micros("timestamp").alias("kafka_append_us"))
    bids, asks = F.col("book.bids"), F.col("book.asks")
    bid_qty, ask_qty = top_qty(bids), top_qty(asks)
    best_bid, best_ask = bids[0][0].cast("double"), asks[0][0].cast("double")
    return parsed.select(
        F.col("book.symbol").alias("symbol"), F.col("book.update_id").alias("update_id"),
        ((bid_qty - ask_qty) / (bid_qty + ask_qty)).alias("obi_5"),
        ((best_bid + best_ask) / 2).alias("mid"), (best_ask - best_bid).alias("spread"),
        "kafka_append_us", now_us_column().alias("compute_us"))


# --- the writer (driver side) ----------------------------------------------------------------------
def seed_payload(row: Mapping[str, Any], publish_us: int) -> dict[str, str]:
    """The seed's published JSON: every value a string."""
    return {**{name: str(row[name]) for name in PAYLOAD_COLUMNS}, "publish_us": str(publish_us)}


def seed_published(message: bytes) -> Published:
    payload = json.loads(message)
    return Published(payload["symbol"], int(payload["update_id"]), int(payload["kafka_append_us"]),
                     int(payload["publish_us"]))


class CollectWriter:
    """`foreachBatch` function: the whole batch to the driver, then Redis row by row."""

    def __init__(self, redis: RedisSettings) -> None:
        self.client = redis_client(redis)

    def __call__(self, batch: DataFrame, _batch_id: int) -> None:
        for row in batch.collect():
            payload = seed_payload(row.asDict(), now_us())
            self.client.hset(seed_key(row["symbol"]), mapping=payload)
            self.client.publish(SEED_CHANNEL, json.dumps(payload))


def start_seed_query(spark: SparkSession, settings: Settings) -> StreamingQuery:
    compute = settings.compute
    rows = seed_rows(kafka_source(spark, settings.kafka, compute, TriggerMode.microbatch, from_beginning=True))
    return (rows.writeStream.queryName(QUERY_NAME)
            .option("checkpointLocation", checkpoint_location(settings.paths, QUERY_NAME))
            .foreachBatch(CollectWriter(settings.redis))
            .trigger(processingTime=f"{compute.trigger_interval_ms} milliseconds").start())


def main() -> int:
    """Run the seed query until SIGINT/SIGTERM; 1 if it stops on its own (an error)."""
    settings = load_settings()
    spark = build_spark_session(settings.spark, settings.paths, "quantcore-seed-json")
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):  # after the session: PySpark installs its own SIGINT handler
        signal.signal(signum, lambda *_: stop.set())
    try:
        query = start_seed_query(spark, settings)
        while not stop.wait(1.0):
            if not query.isActive:
                print(f"seed query stopped: {query.exception()}", file=sys.stderr, flush=True)
                return 1
        query.stop()
        return 0
    finally:
        spark.stop()


if __name__ == "__main__":
    sys.exit(main())
