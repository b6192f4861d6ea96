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
- realtime: Spark's real-time trigger (long-running tasks, one per Kafka partition) sends
  the computed rows over a socket to a thread of this driver, which writes them to Redis
  (row_socket.py: a JVM ForeachWriter, and why). Each start begins a fresh checkpoint right
  after the rows written to Redis (realtime_resume.py), so the checkpoint interval can be
  long: the stream pauses at each checkpoint.
With `compute.trade_flow` the query's start also starts the trade-flow writer
(trade_flow_writer.py: trade windows at each trade of the trade topic, to Redis), a thread
beside it: only the active driver runs it, its death is the stream's failure.
In micro-batch mode the Kafka source polls with a tiny `fetch.max.wait.ms`: the consumer
keeps a prefetch in flight, and with the broker's 500 ms default every read of a quiet
partition waits for the next record to arrive. The real-time reader never seeks, so it
keeps the ordinary long poll (a short one would keep 30 consumers polling the broker).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import DataStreamWriter, StreamingQuery

from quantcore.errors import PlatformError
from quantcore.exclusive_lock import ExclusiveLock
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
from streaming.spark.realtime_resume import (
    EARLIEST,
    LATEST,
    fresh_checkpoint,
    remove_other_checkpoints,
    starting_offsets,
    written_source_offsets,
)
from streaming.spark.redis_writer import STATS_SCHEMA, ArrowPartitionWriter, WriteStats
from streaming.spark.row_socket import RowSocket, socket_rows
from streaming.spark.trade_flow_writer import TradeFlowWriter
from quantcore.clients import redis_client
from quantcore.spark_session import build_spark_session, driver_jvm_pid, local_threads

HEARTBEAT_COMPONENT = "compute"
HEARTBEAT_INSTANCE = "0"
STANDBY_POLL_S = 0.1  # how soon a standby notices the lock is free
PREVIOUS_JVM_GRACE_S = 10.0  # a dead driver's JVM gets this long to exit before it is killed

log = get_logger("compute")


def query_name(mode: TriggerMode) -> str:
    return f"qc_compute_{mode.value}"


def checkpoint_location(paths: PathsSettings, name: str) -> str:
    return f"{paths.checkpoints.rstrip('/')}/{name}"


def kafka_source(spark: SparkSession, kafka: KafkaSettings, compute: ComputeSettings, mode: TriggerMode,
                 from_beginning: bool, starting_offsets: str | None = None) -> DataFrame:
    """The book topic as a stream; `starting_offsets` (Spark's JSON) overrides where a new
    checkpoint starts (real-time mode: after what was written, realtime_resume.py)."""
    reader = (
        spark.readStream.format("kafka")
        .options(**kafka.spark_options())
        .option("subscribe", kafka.book_topic)
        .option("startingOffsets", starting_offsets or ("earliest" if from_beginning else "latest"))  # new checkpoints
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
    """A running compute query, its row socket (real-time mode) and its counters."""

    query: StreamingQuery
    mode: TriggerMode
    batch_stats: WriteStats = field(default_factory=WriteStats)  # micro-batch mode's writes, summed
    rows: RowSocket | None = None  # real-time mode: the rows' way from the tasks to Redis
    trade_flow: TradeFlowWriter | None = None  # the trade topic's windows (trade_flow_writer.py)

    def write_stats(self) -> dict[str, int]:
        if self.rows is not None:
            return self.rows.stats.as_dict()
        return self.batch_stats.as_dict()

    def counters(self) -> dict[str, Any]:
        """Heartbeat counters: query progress, writer counts, state."""
        return {
            "trigger_mode": self.mode.value,
            "active": self.query.isActive,
            **progress_counters(progress_dict(self.query.lastProgress)),
            **self.write_stats(),
            **(self.trade_flow.counters() if self.trade_flow is not None else {}),
        }

    def failure(self) -> str | None:
        """Why the stream cannot go on, or None while it is healthy."""
        if not self.query.isActive:
            error = self.query.exception()
            return f"query stopped: {str(error).splitlines()[0] if error is not None else 'no error reported'}"
        if self.rows is not None and not self.rows.alive:
            return f"row socket stopped: {self.rows.error}"
        if self.trade_flow is not None and not self.trade_flow.alive:
            return f"trade-flow writer stopped: {self.trade_flow.error}"
        return None

    def stop(self) -> None:
        try:
            self.query.stop()
        finally:
            if self.rows is not None:
                self.rows.stop()
            if self.trade_flow is not None:
                self.trade_flow.stop()


def start_compute(spark: SparkSession, settings: Settings, trigger: TriggerMode | None = None,
                  from_beginning: bool = False) -> ComputeStream:
    """Start the compute query on `spark`; returns at once (the query runs in Spark)."""
    return prepare_compute(spark, settings, trigger, from_beginning).start()


@dataclass
class PreparedQuery:
    """A compute query with everything but its start done (see `prepare_compute`)."""

    name: str
    mode: TriggerMode
    checkpoint: str
    writer: DataStreamWriter
    kafka: KafkaSettings
    redis: RedisSettings
    rows: RowSocket | None = None  # real-time mode: the query's tasks send the computed rows to it
    batch_stats: WriteStats = field(default_factory=WriteStats)  # micro-batch mode: the writes, summed
    # real-time mode: what was written to Redis when the query was prepared ({source partition:
    # newest offset}); the query starts after it
    written: dict[int, int] | None = None
    trade_flow: bool = False  # start the trade-flow writer with the query (compute.trade_flow)

    def stale(self) -> bool:
        """Whether the writes moved on since this query was prepared (a standby's plan, once
        the driver it replaces is gone): then it must be prepared again."""
        if self.written is None:
            return False
        return written_source_offsets(redis_client(self.redis), self.kafka.book_topic) != self.written

    def start(self) -> ComputeStream:
        """Start the query (and the trade-flow writer beside it: only the active driver runs it)."""
        trade_flow = TradeFlowWriter(self.kafka, self.redis).start() if self.trade_flow else None
        try:
            stream = self._start_query()
        except Exception:
            if trade_flow is not None:
                trade_flow.stop()
            raise
        stream.trade_flow = trade_flow
        return stream

    def _start_query(self) -> ComputeStream:
        log.info("starting compute query", query=self.name, topic=self.kafka.book_topic, checkpoint=self.checkpoint)
        if self.rows is None:
            return ComputeStream(self.writer.start(), self.mode, batch_stats=self.batch_stats)
        for old in remove_other_checkpoints(self.checkpoint):
            log.info("removed an earlier start's checkpoint", path=old)
        rows = self.rows.start()
        try:
            query = self.writer.start()
        except Exception:
            rows.stop()
            raise
        return ComputeStream(query, self.mode, rows=rows)

    def discard(self) -> None:
        """Release what preparing took (a plan prepared again replaces this one)."""
        if self.rows is not None:
            self.rows.stop()


def prepare_compute(spark: SparkSession, settings: Settings, trigger: TriggerMode | None = None,
                    from_beginning: bool = False) -> PreparedQuery:
    """Everything up to starting the query: the plan, the writer, its row socket. On a cold
    JVM the plan alone takes ~10 s (warm: 2 s), so a standby prepares, then waits its turn."""
    kafka, compute = settings.kafka, settings.compute
    mode = TriggerMode(trigger or compute.trigger_mode)
    name = query_name(mode)
    partitions = _topic_partitions(kafka)
    checkpoint, starting = checkpoint_location(settings.paths, name), None
    if mode is TriggerMode.realtime:  # every start: a fresh checkpoint after what was written
        written = written_source_offsets(redis_client(settings.redis), kafka.book_topic)
        starting = starting_offsets(kafka.book_topic, partitions, written, EARLIEST if from_beginning else LATEST)
        checkpoint = fresh_checkpoint(checkpoint)
        log.info("real-time query resumes after the written rows", partitions_written=len(written))
    source = kafka_source(spark, kafka, compute, mode, from_beginning, starting)
    computed = computed_books(source, settings.signals.obi_lambda)
    writer = (computed if mode is TriggerMode.microbatch else socket_rows(computed)).writeStream \
        .queryName(name).option("checkpointLocation", checkpoint)
    prepared = PreparedQuery(name, mode, checkpoint, writer, kafka, settings.redis, trade_flow=compute.trade_flow)
    if mode is TriggerMode.microbatch:
        prepared.writer = _microbatch_writer(spark, kafka, settings.redis, compute, writer, prepared.batch_stats)
    else:
        prepared.rows = RowSocket(kafka, settings.redis, driver_host(spark))
        prepared.writer = _realtime_writer(spark, compute, writer, partitions, prepared.rows)
        prepared.written = written
    return prepared


def _microbatch_writer(spark: SparkSession, kafka: KafkaSettings, redis: RedisSettings, compute: ComputeSettings,
                       writer: DataStreamWriter, totals: WriteStats) -> DataStreamWriter:
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
    return writer.foreachBatch(write_batch).trigger(processingTime=f"{compute.trigger_interval_ms} milliseconds")


def _realtime_writer(spark: SparkSession, compute: ComputeSettings, writer: DataStreamWriter,
                     partitions: int, rows: RowSocket) -> DataStreamWriter:
    slots = local_threads(spark.sparkContext.master)
    if slots is not None and slots < partitions:
        raise PlatformError(
            f"the real-time trigger runs one task per Kafka partition: {partitions} needed, {slots} task slots",
            f"give Spark at least {partitions} cores (e.g. QUANTCORE_SPARK_MASTER=local[{partitions + 2}]), "
            "or use --trigger microbatch")
    spark.conf.set("spark.sql.streaming.realTimeMode.minBatchDuration", "1000")
    # PySpark's `foreach` takes Python writers only: hand the JVM writer to the JVM's DataStreamWriter.
    writer._jwrite = writer._jwrite.foreach(rows.jvm_writer(spark))
    return writer.outputMode("update").trigger(realTime=f"{compute.realtime_checkpoint_s} seconds")


def driver_host(spark: SparkSession) -> str:
    """The address the executors reach this driver at (Spark's own `spark.driver.host`)."""
    return spark.sparkContext.getConf().get("spark.driver.host") or "127.0.0.1"


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
    `start` prepares the query, waits for the query's lock, then starts it; `failure` is the
    query's or its row socket's death.

    The lock (an flock under the run directory) makes one process the query's only writer
    of its checkpoint. A second process (`compute.standby`, see `quantcore_platform` /
    `stream compute`) prepares its session and plan and waits on the lock: the kernel frees
    it the moment the active process dies, kill -9 included, and the standby starts the query
    at once, without the ~15 s of JVM and plan a restart costs (real-time mode: prepared again,
    warm, after the rows the last driver wrote)."""

    component, instance = HEARTBEAT_COMPONENT, HEARTBEAT_INSTANCE

    def __init__(self, prepare: Callable[[], PreparedQuery], lock: ExclusiveLock, jvm_pid: int | None = None) -> None:
        self._prepare = prepare
        self._lock = lock
        self._owner = f"{os.getpid()} {jvm_pid or 0}"  # the lock file: this process and its driver JVM
        self.stream: ComputeStream | None = None

    async def start(self) -> None:
        prepared = self._prepare()  # a standby waits with its session and plan warm
        if not self._lock.try_acquire(self._owner):
            log.info("standing by: another process runs the query", lock=str(self._lock.path))
            marker = standby_marker(self._lock)
            marker.write_text(f"{os.getpid()}\n")  # says a ready standby exists (`quantcore chaos` waits for one)
            while not self._lock.try_acquire(self._owner):
                await asyncio.sleep(STANDBY_POLL_S)
            marker.unlink(missing_ok=True)
            log.info("taking over the query", lock=str(self._lock.path))
        await _previous_driver_gone(self._lock.previous_owner)
        if prepared.stale():  # the last driver wrote more after this plan was made
            started = time.monotonic()
            prepared.discard()
            prepared = self._prepare()
            log.info("prepared again after the written rows", seconds=round(time.monotonic() - started, 2))
        self.stream = prepared.start()

    def counters(self) -> dict[str, Any]:
        return {"pid": os.getpid(), **(self.stream.counters() if self.stream is not None else {})}

    def failure(self) -> str | None:
        problem = self.stream.failure() if self.stream is not None else None
        return f"the compute stream failed: {problem}" if problem else None

    def stop(self) -> None:
        try:
            if self.stream is not None:
                log.info("stopping compute query", **self.stream.write_stats())
                self.stream.stop()
        finally:
            self._lock.release()  # after the query stopped: a standby must not start beside it


async def _previous_driver_gone(previous_owner: str) -> None:
    """The lock dies with the Python process; its JVM follows a moment later (parent-death
    signal) and may still be writing the checkpoint. Wait for it (it is ours: kill it when it
    lingers), so two queries never write one checkpoint."""
    fields = previous_owner.split()
    jvm = int(fields[1]) if len(fields) == 2 and fields[1].isdigit() else 0
    deadline = time.monotonic() + PREVIOUS_JVM_GRACE_S
    while jvm and _is_java(jvm):
        if time.monotonic() > deadline:
            log.warning("the previous driver's JVM lingers; killing it", pid=jvm)
            with contextlib.suppress(ProcessLookupError):
                os.kill(jvm, signal.SIGKILL)
        await asyncio.sleep(0.05)


def _is_java(pid: int) -> bool:
    try:
        return b"java" in Path(f"/proc/{pid}/cmdline").read_bytes()  # not a reused pid
    except OSError:
        return False


def query_lock(settings: Settings, mode: TriggerMode) -> ExclusiveLock:
    return ExclusiveLock(settings.paths.run_dir / f"{query_name(mode)}.lock")


def query_lock_owner(lock: ExclusiveLock) -> int | None:
    """The pid of the compute process that holds (or last held) `lock`: the file's first word
    (`ComputeProcess` writes "<pid> <jvm pid>"); None when there is no such file."""
    try:
        owner = lock.path.read_text().split()
    except OSError:
        return None
    return int(owner[0]) if owner and owner[0].isdigit() else None


def standby_marker(lock: ExclusiveLock) -> Path:
    """The file a prepared standby writes its pid to while it waits on `lock`."""
    return lock.path.with_suffix(".standby")


def run_compute(settings: Settings, trigger: TriggerMode | None = None, from_beginning: bool = False,
                stop: threading.Event | None = None) -> int:
    """The compute process: runs until SIGINT/SIGTERM (or `stop`), then stops the query
    and returns 0. Raises ServiceFailed (a PlatformError) if the query fails; on restart the
    stream resumes from its checkpoint (micro-batch) or after the written rows (real-time). Stands by while another process holds the query."""
    mode = TriggerMode(trigger or settings.compute.trigger_mode)
    spark = build_spark_session(settings.spark, settings.paths, "quantcore-compute",
                                task_slots=task_slots_needed(settings, mode))
    try:
        process = ComputeProcess(lambda: prepare_compute(spark, settings, mode, from_beginning),
                                 query_lock(settings, mode), driver_jvm_pid(spark))
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
