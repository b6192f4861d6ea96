"""The streams as long-running Dagster jobs: `ingest_stream`, `compute_stream`, `serve_stream`.

Each job has one op that runs the same entry point as `quantcore stream ...` in a child
process, forwards its logs, and every few seconds turns the stream's heartbeat into a
Dagster event (an observation of `live_signals`). With QUANTCORE_SPARK_LAUNCHER=emr the
compute stream is an EMR Serverless job run instead (spark_launch/emr_stream.py), with the
same start / wait / stop, so what follows holds for it too. A stream process that crashes is
restarted in place by the op (with the platform's backoff, a few times at most, then the
run fails and the health sensor decides). Terminating the run from the UI reaches
the op as `DagsterExecutionInterruptedError`: the op stops the stream (SIGINT, bounded
wait, kill; an EMR job run: CancelJobRun, bounded wait) and re-raises, so no process
outlives its run.
"""
import time

from dagster import (
    AssetKey,
    AssetObservation,
    Config,
    DagsterExecutionInterruptedError,
    Failure,
    OpExecutionContext,
    in_process_executor,
    job,
    op,
)
from pydantic import Field

from quantcore.heartbeats import read_heartbeats
from quantcore.settings import Settings, SparkLauncherKind
from quantcore_platform.resources import QuantcoreSettingsResource
from quantcore.clients import redis_client
from quantcore_platform.spark_launch.emr_stream import EmrStreamRun
from quantcore_platform.streams.catalog import Stream, spark_stream_launch, stream_launch
from quantcore_platform.services.restart_policy import InPlaceRestarts, describe_returncode
from quantcore_platform.streams.supervisor import StreamProcess
from quantcore.timeutil import now_us

LIVE_SIGNALS = AssetKey("live_signals")
STREAM_TAG = "quantcore/stream"


def stream_tags(stream: Stream) -> dict[str, str]:
    # max_runtime 0: run monitoring never times out a stream for its length; the stream
    # tag caps each stream at one run (tag concurrency limit in dagster.yaml).
    return {STREAM_TAG: stream.value, "dagster/max_runtime": "0"}


class IngestConfig(Config):
    shards: int | None = Field(None, description="Shard processes (default: settings).")
    symbols: list[str] = Field(default_factory=list, description="Symbol universe (default: settings).")
    source: str | None = Field(None, description="simulator | binance")
    book_mode: str | None = Field(None, description="diff | partial")


class ComputeConfig(Config):
    trigger_mode: str | None = Field(None, description="microbatch | realtime")
    trigger_interval_ms: int | None = Field(None, description="Micro-batch trigger interval.")


class ServeConfig(Config):
    grpc_port: int | None = Field(None, description="gRPC port (default: settings).")


def supervise(context: OpExecutionContext, quantcore: QuantcoreSettingsResource, stream: Stream,
              options: dict[str, object]) -> None:
    """Run a stream until it exits cleanly or the run is terminated. A crashed stream process
    is restarted in place at once (the run, its worker and the sensor's detection delay are
    not on the healing path; `InPlaceRestarts` says when to give up and fail the run)."""
    settings = quantcore.settings()
    redis = redis_client(settings.redis, socket_timeout=2)
    restarts = InPlaceRestarts()
    try:
        while True:
            restarts.started(time.monotonic())
            code = run_once(context, settings, redis, stream, options)
            if code == 0:
                return
            delay = restarts.after_exit(time.monotonic(), code)
            if delay is None:
                raise Failure(f"the {stream.value} stream {describe_returncode(code)} "
                              f"({len(restarts.times)} restarts in place): failing the run")
            context.log.warning(f"the {stream.value} stream {describe_returncode(code)}; restarting it in place "
                                f"in {delay:.1f}s (restart {len(restarts.times)})")
            time.sleep(delay)
    finally:
        redis.close()


def stream_process(context: OpExecutionContext, settings: Settings, stream: Stream,
                   options: dict[str, object]) -> StreamProcess | EmrStreamRun:
    """How the stream runs: a child process, or, for a Spark stream with the `emr` launcher,
    an EMR Serverless job run (both: start / wait / stop)."""
    if stream.spark_job_module is not None and settings.spark_launch.launcher is SparkLauncherKind.emr:
        launch = spark_stream_launch(stream, options, settings)
        return EmrStreamRun(settings, launch.job, context.log, launch.driver_env, name=stream.value)
    return StreamProcess(stream_launch(stream, options, settings), on_line=context.log.info)


def run_once(context: OpExecutionContext, settings, redis, stream: Stream, options: dict[str, object]) -> int:
    """One stream process, from start to exit; a terminated run stops it and re-raises."""
    process = stream_process(context, settings, stream, options)
    process.start()
    context.log.info(f"{stream.value} stream started ({process.label})")
    try:
        return process.wait(lambda: report_progress(context, redis, stream), settings.heartbeat.interval_s * 5)
    except DagsterExecutionInterruptedError:
        context.log.info(f"terminated from Dagster: stopping the {stream.value} stream")
        code = process.stop()
        context.log.info(f"{stream.value} stream stopped (exit {code})")
        raise
    finally:
        process.stop()


def report_progress(context: OpExecutionContext, redis, stream: Stream) -> None:
    """The stream's heartbeats and counters as an observation of `live_signals`."""
    try:
        beats = read_heartbeats(redis, stream.heartbeat_component)
    except Exception as exc:  # noqa: BLE001 - Redis down: say so, keep supervising
        context.log.warning(f"cannot read heartbeats: {exc}")
        return
    metadata: dict[str, object] = {"stream": stream.value, "instances": len(beats)}
    for instance, counters in sorted(beats.items()):
        metadata[f"{instance} heartbeat age s"] = round((now_us() - int(counters["ts_us"])) / 1e6, 2)
        for name, value in counters.items():
            if name != "ts_us" and isinstance(value, int | float):
                metadata[f"{instance} {name}"] = value
    context.log_event(AssetObservation(asset_key=LIVE_SIGNALS, metadata=metadata))


@op(description="Sharded exchange ingest into Kafka (`quantcore stream ingest`).")
def run_ingest_stream(context: OpExecutionContext, config: IngestConfig, quantcore: QuantcoreSettingsResource):
    supervise(context, quantcore, Stream.ingest, config.model_dump())


@op(description="Spark signals from Kafka into Redis (`quantcore stream compute`).")
def run_compute_stream(context: OpExecutionContext, config: ComputeConfig, quantcore: QuantcoreSettingsResource):
    supervise(context, quantcore, Stream.compute, config.model_dump())


@op(description="gRPC fan-out of the signals (`quantcore stream serve`).")
def run_serve_stream(context: OpExecutionContext, config: ServeConfig, quantcore: QuantcoreSettingsResource):
    supervise(context, quantcore, Stream.serve, config.model_dump())


@job(tags=stream_tags(Stream.ingest), executor_def=in_process_executor, description="Long-running: exchange -> Kafka.")
def ingest_stream():
    run_ingest_stream()


@job(tags=stream_tags(Stream.compute), executor_def=in_process_executor, description="Long-running: Kafka -> Spark -> Redis.")
def compute_stream():
    run_compute_stream()


@job(tags=stream_tags(Stream.serve), executor_def=in_process_executor, description="Long-running: Redis -> gRPC clients.")
def serve_stream():
    run_serve_stream()


STREAM_JOBS = {Stream.ingest: ingest_stream, Stream.compute: compute_stream, Stream.serve: serve_stream}
