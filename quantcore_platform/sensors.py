"""Health of the streams, seen from Dagster.

`stream_health_sensor` reads each stream's latest run and heartbeat, Kafka's end offsets
and the compute query's progress; it records them on `live_signals` (an observation and a
`streams_healthy` check result, so the UI shows freshness and health) and relaunches a
stream whose run died or went silent, as `health_policy` decides. `stream_failure_alert`
logs every failed run and posts it to a webhook when one is configured.
"""

from __future__ import annotations

import json
import time
import urllib.request

from dagster import (
    AssetCheckEvaluation,
    AssetCheckResult,
    AssetObservation,
    DagsterInstance,
    DefaultSensorStatus,
    RunFailureSensorContext,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    asset_check,
    run_failure_sensor,
    sensor,
)

from quantcore.heartbeats import read_heartbeats
from quantcore.log import get_logger
from quantcore_platform.resources import QuantcoreSettingsResource
from quantcore.clients import admin_client, redis_client
from quantcore.settings import DagsterSettings, HeartbeatSettings, KafkaSettings, Settings, reveal
from quantcore_platform.stream_jobs import LIVE_SIGNALS, STREAM_JOBS, STREAM_TAG
from quantcore_platform.streams.catalog import Stream
from quantcore_platform.streams.health_policy import Policy, RestartLedger, StreamFacts, Verdict, decide
from quantcore.timeutil import now_us

CHECK_NAME = "streams_healthy"
log = get_logger("sensors")


def policy_for(heartbeat: HeartbeatSettings, dagster: DagsterSettings) -> Policy:
    return Policy(stale_s=heartbeat.stale_s, start_grace_s=dagster.stream_start_grace_s)


def stream_facts(instance: DagsterInstance, heartbeats: dict[str, dict], stream: Stream, now: float,
                 heartbeats_readable: bool = True) -> StreamFacts:
    records = instance.get_run_records(RunsFilter(job_name=STREAM_JOBS[stream].name), limit=1)
    record = records[0] if records else None
    beats = [counters["ts_us"] for name, counters in heartbeats.items() if name.startswith(f"{stream.value}:")]
    started = (record.start_time or record.create_timestamp.timestamp()) if record else None
    return StreamFacts(
        stream=stream.value,
        run_id=record.dagster_run.run_id if record else None,
        run_status=record.dagster_run.status.value if record else None,
        run_age_s=now - started if started else None,
        heartbeat_age_s=(now_us() - max(beats)) / 1e6 if beats else None,
        heartbeats_readable=heartbeats_readable,
    )


def kafka_end_offsets(kafka: KafkaSettings) -> int | None:
    """Sum of the book topic's end offsets (records ever appended), None if unreachable."""
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import OffsetSpec

    try:
        admin = admin_client(kafka)
        topic = admin.list_topics(kafka.book_topic, timeout=3).topics[kafka.book_topic]
        requests = {TopicPartition(kafka.book_topic, p): OffsetSpec.latest() for p in topic.partitions}
        results = admin.list_offsets(requests, request_timeout=3)
        return sum(future.result().offset for future in results.values())
    except Exception:  # noqa: BLE001 - Kafka down is reported as unknown, not a crash
        return None


def observation_metadata(verdicts: list[Verdict], facts: list[StreamFacts], heartbeats: dict[str, dict],
                         end_offsets: int | None) -> dict[str, object]:
    metadata: dict[str, object] = {}
    for verdict, fact in zip(verdicts, facts):
        metadata[f"{fact.stream} health"] = f"{'ok' if verdict.healthy else 'DOWN'}: {verdict.reason}"
        if fact.heartbeat_age_s is not None:
            metadata[f"{fact.stream} heartbeat age s"] = round(fact.heartbeat_age_s, 2)
    compute = next((c for n, c in heartbeats.items() if n.startswith("compute:")), {})
    for name in ("input_rows_per_s", "processed_rows_per_s", "batch_duration_ms", "dead_letters"):
        if name in compute:
            metadata[f"compute {name}"] = compute[name]
    if end_offsets is not None:
        metadata["kafka book records appended"] = end_offsets
        processed = compute.get("end_offsets_total")
        if isinstance(processed, int):
            metadata["compute lag records"] = max(end_offsets - processed, 0)
    return metadata


def evaluate(instance: DagsterInstance, settings: Settings, ledger: RestartLedger, now: float):
    """(verdicts, metadata) for every stream: the sensor and the asset check share this."""
    client = redis_client(settings.redis, socket_timeout=2, socket_connect_timeout=2)
    readable = True
    try:
        heartbeats = read_heartbeats(client)
    except Exception as exc:  # noqa: BLE001 - no Redis: the ages are unknown, not "dead" (health_policy)
        log.warning("cannot read heartbeats", error=str(exc))
        heartbeats, readable = {}, False
    finally:
        client.close()
    facts = [stream_facts(instance, heartbeats, stream, now, readable) for stream in Stream]
    policy = policy_for(settings.heartbeat, settings.dagster)
    verdicts = [decide(fact, policy, ledger, now) for fact in facts]
    return verdicts, observation_metadata(verdicts, facts, heartbeats, kafka_end_offsets(settings.kafka))


def _health_check_passed(verdicts: list[Verdict]) -> bool:
    return all(v.healthy for v in verdicts)


@sensor(
    name="stream_health_sensor",
    jobs=list(STREAM_JOBS.values()),
    minimum_interval_seconds=10,
    default_status=DefaultSensorStatus.RUNNING,
    description="Observes the streams' health on live_signals and restarts dead or silent streams.",
)
def stream_health_sensor(context: SensorEvaluationContext, quantcore: QuantcoreSettingsResource):
    settings = quantcore.settings()
    now = time.time()
    ledger = RestartLedger(**json.loads(context.cursor)) if context.cursor else RestartLedger()
    verdicts, metadata = evaluate(context.instance, settings, ledger, now)
    window_s = policy_for(settings.heartbeat, settings.dagster).window_s
    run_requests = []
    for verdict in verdicts:
        if verdict.restart_key is None:
            continue
        if verdict.terminate_run_id:
            context.log.warning(f"terminating stuck run {verdict.terminate_run_id}: {verdict.reason}")
            terminate_stuck_run(context.instance, verdict.terminate_run_id, verdict.reason)
        context.log.warning(f"restarting the {verdict.stream} stream: {verdict.reason}")
        ledger.record(verdict.stream, verdict.restart_key, now, window_s)
        stream = Stream(verdict.stream)
        run_requests.append(RunRequest(run_key=verdict.restart_key, job_name=STREAM_JOBS[stream].name,
                                       tags={"quantcore/restart-of": verdict.restart_key}))
    return SensorResult(
        run_requests=run_requests,
        cursor=json.dumps({"restarts": ledger.restarts, "beats": ledger.beats}),
        asset_events=[
            AssetObservation(asset_key=LIVE_SIGNALS, metadata=metadata),
            AssetCheckEvaluation(asset_key=LIVE_SIGNALS, check_name=CHECK_NAME,
                                 passed=_health_check_passed(verdicts), metadata=metadata),
        ],
    )


def terminate_stuck_run(instance: DagsterInstance, run_id: str, reason: str) -> None:
    """Terminate through the launcher; where it cannot, mark the run canceled so the
    one-run-per-stream limit lets its replacement start."""
    try:
        if instance.run_coordinator.cancel_run(run_id):
            return
    except Exception as exc:  # noqa: BLE001 - e.g. a launcher without termination
        log.warning("cannot terminate run", run_id=run_id, error=str(exc))
    run = instance.get_run_by_id(run_id)
    if run is not None and not run.is_finished:
        instance.report_run_canceled(run, message=f"stream health sensor: {reason}")


@asset_check(asset=LIVE_SIGNALS, name=CHECK_NAME, description="Every stream runs and beats.")
def streams_healthy(context, quantcore: QuantcoreSettingsResource) -> AssetCheckResult:
    verdicts, metadata = evaluate(context.instance, quantcore.settings(), RestartLedger(), time.time())
    return AssetCheckResult(passed=_health_check_passed(verdicts), metadata=metadata)


@run_failure_sensor(name="stream_failure_alert", default_status=DefaultSensorStatus.RUNNING,
                    description="Logs failed runs; posts them to QUANTCORE_ALERT_WEBHOOK_URL when set.")
def stream_failure_alert(context: RunFailureSensorContext, quantcore: QuantcoreSettingsResource):
    run = context.dagster_run
    message = {"job": run.job_name, "run_id": run.run_id, "stream": run.tags.get(STREAM_TAG),
               "error": context.failure_event.message}
    context.log.error(f"run failed: {message}")
    url = reveal(quantcore.settings().dagster.alert_webhook_url)
    if url:
        post_alert(url, message)


def post_alert(url: str, message: dict) -> None:
    request = urllib.request.Request(url, data=json.dumps(message).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=5):
        pass
