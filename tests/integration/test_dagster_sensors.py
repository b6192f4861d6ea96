"""The health sensor evaluated against real Redis and Kafka state and a real instance."""

from __future__ import annotations

import json
import os
import uuid

import pytest
from dagster import DagsterInstance, build_sensor_context
from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus

from quantcore_platform.definitions import defs
from quantcore.heartbeats import beat, heartbeat_key
from quantcore_platform.resources import QuantcoreSettingsResource
from quantcore_platform.sensors import CHECK_NAME, stream_health_sensor
from quantcore.timeutil import now_us
from tests.support.settings import platform_env as every_section_env

pytestmark = pytest.mark.slow


@pytest.fixture
def platform_env(kafka, redis_conn, monkeypatch):
    """The sensor reads settings from the environment, as under `quantcore up`."""
    for key, value in every_section_env(kafka).items():
        if key.startswith("QUANTCORE_"):
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("QUANTCORE_STREAM_START_GRACE_S", "0")  # runs created here count as started
    return redis_conn


@pytest.fixture
def instance():
    with DagsterInstance.ephemeral() as ephemeral:
        yield ephemeral


def add_stream_run(instance: DagsterInstance, job: str, status: DagsterRunStatus) -> str:
    run_id = str(uuid.uuid4())
    instance.add_run(DagsterRun(job_name=job, run_id=run_id, status=status))
    return run_id


def evaluate(instance, cursor=None):
    context = build_sensor_context(instance=instance, cursor=cursor, definitions=defs,
                                   resources={"quantcore": QuantcoreSettingsResource()})
    return stream_health_sensor(context)


def test_definitions_load_with_streams_sensors_and_assets():
    repo = defs.get_repository_def()
    assert {"ingest_stream", "compute_stream", "serve_stream"} <= set(repo.job_names)
    assert {"stream_health_sensor", "stream_failure_alert"} <= {s.name for s in repo.sensor_defs}
    assert {"book_topic", "live_signals"} <= {key.to_user_string() for key in repo.asset_graph.get_all_asset_keys()}


def test_healthy_streams_give_an_observation_and_no_run(platform_env, instance):
    for job, component in (("ingest_stream", "ingest"), ("compute_stream", "compute"), ("serve_stream", "serve")):
        add_stream_run(instance, job, DagsterRunStatus.STARTED)
        beat(platform_env, component, "0", {"records": 5, "end_offsets_total": 3}, ttl_s=60)

    result = evaluate(instance)

    assert result.run_requests == []
    observation, check = result.asset_events
    assert observation.asset_key.to_user_string() == "live_signals"
    assert observation.metadata["compute health"].value.startswith("ok")
    assert "kafka book records appended" in observation.metadata
    assert check.check_name == CHECK_NAME and check.passed


def test_stale_heartbeat_gives_exactly_one_restart(platform_env, instance):
    for job, component in (("ingest_stream", "ingest"), ("serve_stream", "serve")):
        add_stream_run(instance, job, DagsterRunStatus.STARTED)
        beat(platform_env, component, "0", {}, ttl_s=60)
    stuck = add_stream_run(instance, "compute_stream", DagsterRunStatus.STARTED)
    # Old enough to be past the start-up grace, silent for a minute.
    platform_env.hset(heartbeat_key("compute", "0"), "ts_us", now_us() - 60_000_000)

    first = evaluate(instance)
    assert [r.job_name for r in first.run_requests] == ["compute_stream"]
    assert first.run_requests[0].run_key == f"compute:{stuck}"
    assert not first.asset_events[1].passed
    assert "stale" in first.asset_events[0].metadata["compute health"].value

    assert instance.get_run_by_id(stuck).status == DagsterRunStatus.CANCELED

    again = evaluate(instance, cursor=first.cursor)
    assert again.run_requests == [], "the same failure must not restart twice"
    assert json.loads(again.cursor)["restarts"]["compute"][0][1] == f"compute:{stuck}"


def test_a_failed_run_is_restarted_once(platform_env, instance):
    failed = add_stream_run(instance, "serve_stream", DagsterRunStatus.FAILURE)
    first = evaluate(instance)
    assert [(r.job_name, r.run_key) for r in first.run_requests] == [("serve_stream", f"serve:{failed}")]
    assert evaluate(instance, cursor=first.cursor).run_requests == []



def test_dagster_definitions_validate_cli(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    dagster = Path(sys.executable).parent / "dagster"
    result = subprocess.run([str(dagster), "definitions", "validate", "-w", "workspace.yaml"], cwd=repo,
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "DAGSTER_HOME": str(tmp_path)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All code locations passed validation" in result.stdout + result.stderr
