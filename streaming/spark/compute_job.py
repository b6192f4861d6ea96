"""The compute stream: Kafka book records -> Spark (decode, validate, signals) -> Redis.

    quantcore stream compute [--trigger microbatch|realtime] [--from-beginning]
    spark-submit --jars ... --py-files quantcore.zip streaming/spark/compute_job.py [same options]

`start_compute` starts the query on a session (the CLI, Dagster's stream job and the
tests call it); `run_compute` is the whole process: session, query, heartbeat, and a
graceful stop on SIGINT/SIGTERM (exit 0).

Two triggers, one projection (compute_rows.py) and one writer (redis_writer.py):
- microbatch: `processingTime` trigger; each batch is coalesced (no shuffle: whole Kafka
  partitions stay in order in one task) and handed to the writer as Arrow batches
  (`mapInArrow` inside `foreachBatch`). Offsets and commits are tracked asynchronously
  (the sink is idempotent).
- realtime: Spark's real-time trigger (long-running tasks, one per Kafka partition) writes
  the computed rows to a relay topic, and a relay thread writes them to Redis (see
  realtime_relay.py for why not a Python ForeachWriter).
In micro-batch mode the Kafka source polls with a tiny `fetch.max.wait.ms`: the consumer
keeps a prefetch in flight, and with the broker's 500 ms default every read of a quiet
partition waits for the next record to arrive. The real-time reader never seeks, so it
keeps the ordinary long poll (a short one would keep 30 consumers polling the broker).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import StreamingQuery

from quantcore.errors import PlatformError
from quantcore.lifecycle import Heartbeat, run_service
from quantcore.log import get_logger
from quantcore.settings import (
    ComputeSettings,
    ConfigError,
    KafkaSettings,
    PathsSettings,
    RedisSettings,
    Settings,
    TriggerMode,
    load_settings,
)
from streaming.spark.compute_rows import computed_books
from streaming.spark.query_progress import progress_counters, progress_dict
from streaming.spark.realtime_relay import RealtimeRelay, ensure_relay_topic, relay_group, relay_records
from streaming.spark.redis_writer import STATS_SCHEMA, ArrowPartitionWriter, WriteStats
from quantcore.spark_session import build_spark_session, local_threads

HEARTBEAT_COMPONENT = "compute"
HEARTBEAT_INSTANCE = "0"
RELAY_LINGER_MS = 1  # a record waits at most 1 ms for company: fewer produce requests under load

log = get_logger("compute")


def query_name(mode: TriggerMode) -> str:
    return f"qc_compute_{mode.value}"


def checkpoint_location(paths: PathsSettings, name: str) -> str:
    return f"{paths.checkpoints.rstrip('/')}/{name}"


def kafka_source(spark: SparkSession, kafka: KafkaSettings, compute: ComputeSettings, mode: TriggerMode,
                 from_beginning: bool) -> DataFrame:
    reader = (
        spark.readStream.format("kafka")
        .options(**kafka.spark_options())
        .option("subscribe", kafka.book_topic)
        .option("startingOffsets", "earliest" if from_beginning else "latest")  # without a checkpoint only
        .option("failOnDataLoss", "false")  # records past retention are gone: keep streaming
    )
    if mode is TriggerMode.microbatch:
        # Each batch seeks every partition's cached consumer; a long-poll prefetch left in
        # flight by the last batch would hold that read until the next record arrives.
        reader = reader.option("kafka.fetch.max.wait.ms", str(compute.fetch_max_wait_ms)) \
            .option("maxOffsetsPerTrigger", str(compute.max_offsets_per_trigger))
    return reader.load()


@dataclass
class ComputeStream:
    """A running compute query, its relay (real-time mode) and its counters."""

    query: StreamingQuery
    mode: TriggerMode
    batch_stats: WriteStats = field(default_factory=WriteStats)  # micro-batch mode's writes, summed
    relay: RealtimeRelay | None = None

    def write_stats(self) -> dict[str, int]:
        if self.relay is not None:
            return self.relay.stats.as_dict()
        return self.batch_stats.as_dict()

    def counters(self) -> dict[str, Any]:
        """Heartbeat counters: query progress, writer counts, state."""
        return {
            "trigger_mode": self.mode.value,
            "active": self.query.isActive,
            **progress_counters(progress_dict(self.query.lastProgress)),
            **self.write_stats(),
        }

    def failure(self) -> str | None:
        """Why the stream cannot go on, or None while it is healthy."""
        if not self.query.isActive:
            error = self.query.exception()
            return f"query stopped: {str(error).splitlines()[0] if error is not None else 'no error reported'}"
        if self.relay is not None and not self.relay.alive:
            return f"relay stopped: {self.relay.error}"
        return None

    def stop(self) -> None:
        try:
            self.query.stop()
        finally:
            if self.relay is not None:
                self.relay.stop()


def start_compute(spark: SparkSession, settings: Settings, trigger: TriggerMode | None = None,
                  from_beginning: bool = False) -> ComputeStream:
    """Start the compute query on `spark`; returns at once (the query runs in Spark)."""
    kafka, compute = settings.kafka, settings.compute
    mode = TriggerMode(trigger or compute.trigger_mode)
    name = query_name(mode)
    partitions = _topic_partitions(kafka)
    computed = computed_books(kafka_source(spark, kafka, compute, mode, from_beginning), settings.signals.obi_lambda)
    checkpoint = checkpoint_location(settings.paths, name)
    writer = (computed if mode is TriggerMode.microbatch else relay_records(computed)).writeStream \
        .queryName(name).option("checkpointLocation", checkpoint)
    log.info("starting compute query", query=name, topic=kafka.book_topic, checkpoint=checkpoint)
    if mode is TriggerMode.microbatch:
        return _start_microbatch(spark, kafka, settings.redis, compute, writer, mode)
    return _start_realtime(spark, kafka, settings.redis, compute, writer, mode, name, partitions)


def _start_microbatch(spark: SparkSession, kafka: KafkaSettings, redis: RedisSettings, compute: ComputeSettings,
                      writer, mode: TriggerMode) -> ComputeStream:
    totals = WriteStats()
    partition_writer = ArrowPartitionWriter(redis, kafka)  # pickled to the executors: sections only
    tasks = compute.writer_tasks or spark.sparkContext.defaultParallelism

    def write_batch(batch: DataFrame, _batch_id: int) -> None:
        # coalesce keeps each Kafka partition whole and in offset order in one task
        for task_stats in batch.coalesce(tasks).mapInArrow(partition_writer, STATS_SCHEMA).collect():
            totals.add(WriteStats(**task_stats.asDict()))

    if compute.async_progress:
        # Spark only vouches for its Kafka and memory sinks here; ours is idempotent
        # (write-if-newer), so replaying the uncommitted tail after a crash is harmless.
        writer = writer.option("asyncProgressTrackingEnabled", "true") \
            .option("_asyncProgressTrackingOverrideSinkSupportCheck", "true")
    query = writer.foreachBatch(write_batch) \
        .trigger(processingTime=f"{compute.trigger_interval_ms} milliseconds").start()
    return ComputeStream(query, mode, batch_stats=totals)


def _start_realtime(spark: SparkSession, kafka: KafkaSettings, redis: RedisSettings, compute: ComputeSettings,
                    writer, mode: TriggerMode, name: str, partitions: int) -> ComputeStream:
    slots = local_threads(spark.sparkContext.master)
    if slots is not None and slots < partitions:
        raise PlatformError(
            f"the real-time trigger runs one task per Kafka partition: {partitions} needed, {slots} task slots",
            f"give Spark at least {partitions} cores (e.g. QUANTCORE_SPARK_MASTER=local[{partitions + 2}]), "
            "or use --trigger microbatch")
    relay_topic = ensure_relay_topic(kafka, compute)
    spark.conf.set("spark.sql.streaming.realTimeMode.minBatchDuration", "1000")
    relay = RealtimeRelay(kafka, redis, relay_topic, relay_group(name)).start()
    try:
        query = (writer.format("kafka").options(**kafka.spark_options())
                 .option("topic", relay_topic).option("kafka.linger.ms", str(RELAY_LINGER_MS))
                 .outputMode("update").trigger(realTime=f"{compute.realtime_checkpoint_s} seconds").start())
    except Exception:
        relay.stop()
        raise
    return ComputeStream(query, mode, relay=relay)


def _topic_partitions(kafka: KafkaSettings, wait_s: float = 10.0) -> int:
    """Partitions of the book topic; waits a little for a topic that is still being created."""
    from quantcore.clients import admin_client

    admin = admin_client(kafka)
    deadline = time.monotonic() + wait_s
    while True:
        topic = admin.list_topics(kafka.book_topic, timeout=10).topics.get(kafka.book_topic)
        if topic is not None and topic.error is None and topic.partitions:
            return len(topic.partitions)
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    raise PlatformError(f"Kafka topic {kafka.book_topic} is not available at {kafka.bootstrap_servers}",
                        "start the platform (`quantcore up`) or check QUANTCORE_KAFKA_BOOTSTRAP")


def task_slots_needed(settings: Settings, mode: TriggerMode) -> int | None:
    """Task threads a local master needs in real-time mode: one per book partition, plus
    two for the rest (None: the micro-batch mode runs on any master)."""
    return _topic_partitions(settings.kafka) + 2 if mode is TriggerMode.realtime else None


class ComputeProcess:
    """The compute stream as a service of the platform's lifecycle (quantcore.lifecycle):
    `start` starts the query, `failure` is the query's or the relay's death."""

    component, instance = HEARTBEAT_COMPONENT, HEARTBEAT_INSTANCE

    def __init__(self, start: Callable[[], ComputeStream]) -> None:
        self._start = start
        self.stream: ComputeStream | None = None

    def start(self) -> None:
        self.stream = self._start()

    def counters(self) -> dict[str, Any]:
        return self.stream.counters() if self.stream is not None else {}

    def failure(self) -> str | None:
        problem = self.stream.failure() if self.stream is not None else None
        return f"the compute stream failed: {problem}" if problem else None

    def stop(self) -> None:
        if self.stream is not None:
            log.info("stopping compute query", **self.stream.write_stats())
            self.stream.stop()


def run_compute(settings: Settings, trigger: TriggerMode | None = None, from_beginning: bool = False,
                stop: threading.Event | None = None) -> int:
    """The compute process: runs until SIGINT/SIGTERM (or `stop`), then stops the query
    and returns 0. Raises ServiceFailed (a PlatformError) if the query fails; the stream
    resumes from its checkpoint on restart."""
    mode = TriggerMode(trigger or settings.compute.trigger_mode)
    spark = build_spark_session(settings.spark, settings.paths, "quantcore-compute",
                                task_slots=task_slots_needed(settings, mode))
    try:
        process = ComputeProcess(lambda: start_compute(spark, settings, mode, from_beginning))
        run_service(process, Heartbeat(settings.redis, settings.heartbeat), stop, poll_s=1.0)
        return 0
    finally:
        spark.stop()


def main(argv: list[str] | None = None) -> int:
    """spark-submit entry point (settings from QUANTCORE_* / quantcore.toml)."""
    parser = argparse.ArgumentParser(description="QuantCore compute stream: Kafka -> Spark signals -> Redis.")
    parser.add_argument("--trigger", choices=[mode.value for mode in TriggerMode], default=None)
    parser.add_argument("--from-beginning", action="store_true", help="Start at the earliest offsets (no checkpoint yet).")
    args = parser.parse_args(argv)
    try:
        return run_compute(load_settings(), TriggerMode(args.trigger) if args.trigger else None, args.from_beginning)
    except (PlatformError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
