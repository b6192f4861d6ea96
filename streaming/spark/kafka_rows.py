"""Kafka source rows of some UTC days, with their coordinates and one decoded column: the first
step of every replay (books in replay_job.py, trades in trade_replay.py)."""

from __future__ import annotations

from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from quantcore.timeutil import US_PER_DAY


def kafka_day_rows(kafka: DataFrame, days: list[date], decoded: Column) -> DataFrame:
    """`kafka`'s rows of `days` with `decoded` (an aliased column over `value`), the raw
    `payload` and the Kafka coordinates. The day comes from the Kafka timestamp in integer
    arithmetic: no session time zone involved."""
    timestamp_us = F.unix_micros(F.col("timestamp"))
    return (kafka
            .select(F.col("topic").alias("kafka_topic"), F.col("partition").alias("kafka_partition"),
                    F.col("offset").alias("kafka_offset"), timestamp_us.alias("kafka_timestamp_us"),
                    F.when(F.col("timestampType") == 1, "LogAppendTime").otherwise("CreateTime")
                    .alias("kafka_timestamp_type"),
                    F.col("key").alias("kafka_key"), F.col("value").alias("payload"),
                    decoded)
            .withColumn("date", F.date_from_unix_date(F.floor(F.col("kafka_timestamp_us") / US_PER_DAY)
                                                      .cast("int")))
            .where(F.col("date").isin(list(days))))
