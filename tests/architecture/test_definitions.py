"""The Dagster code location loads with no service running, and holds what the platform promises:
the asset graph, the stream and replay jobs, their schedules, the sensors, the asset checks and the
`quantcore` resource. Nothing here touches the network or starts a process (guarded below)."""

from __future__ import annotations

import importlib
import socket
import subprocess

import pytest
from dagster import AssetKey, DefaultScheduleStatus, DefaultSensorStatus, Definitions

STREAM_JOBS = {"ingest_stream", "compute_stream", "serve_stream"}
REPLAY_JOBS = {"replay_daily", "delta_maintenance"}
SCHEDULES = {"replay_nightly": ("replay_daily", "30 0 * * *"),
             "delta_maintenance_weekly": ("delta_maintenance", "0 3 * * 0")}
SENSORS = {"stream_health_sensor", "stream_failure_alert"}
CHECKS = {
    ("live_signals", "streams_healthy"),
    ("book_signals", "obi_within_bounds"),
    ("book_signals", "no_duplicate_updates"),
    ("book_signals", "update_ids_increasing"),
    ("books_raw", "row_count_matches_kafka"),
    ("books_raw", "kafka_retention_complete"),
    ("trades", "trade_ids_continuous"),
    ("book_signals", "book_signals_within_bounds"),
    ("trades", "trade_flow_within_bounds"),
}
DEPS = {  # asset -> the assets it is computed from
    "book_topic": set(),
    "live_signals": {"book_topic"},
    "books_raw": {"book_topic"},
    "book_signals": {"books_raw"},
    "trade_topic": set(),
    "trades": {"trade_topic"},
    "microprice_tables": {"book_signals"},
}


class Forbidden(AssertionError):
    pass


def _refuse(what: str, method: bool = False):
    def refused(*args, **kwargs):
        raise Forbidden(f"loading the definitions tried to {what}: {args[1 if method else 0]!r}")

    return refused


@pytest.fixture(scope="module")
def defs() -> Definitions:
    """`quantcore_platform.definitions.defs`, imported and resolved with sockets and processes refused."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", _refuse("open a connection", method=True))
        patch.setattr(socket.socket, "connect_ex", _refuse("open a connection", method=True))
        patch.setattr(socket, "create_connection", _refuse("open a connection"))
        patch.setattr(socket, "getaddrinfo", _refuse("resolve a host name"))
        patch.setattr(subprocess.Popen, "__init__", _refuse("start a process", method=True))
        definitions = importlib.import_module("quantcore_platform.definitions").defs
        Definitions.validate_loadable(definitions)  # keys, names, resources, asset jobs all resolve
        definitions.resolve_asset_graph()
        definitions.resolve_all_job_defs()
    return definitions


def test_the_asset_graph_is_book_topic_to_live_signals_and_to_the_replay_tables(defs):
    specs = {spec.key.to_user_string(): spec for spec in defs.resolve_all_asset_specs()}
    assert set(specs) == set(DEPS)
    assert {key: {dep.asset_key.to_user_string() for dep in spec.deps} for key, spec in specs.items()} == DEPS
    graph = defs.resolve_asset_graph()
    assert set(graph.materializable_asset_keys) == {AssetKey(k) for k in ("books_raw", "book_signals", "trades",
                                                                                "microprice_tables")}, \
        "the replays build the Delta tables; the topic and Redis are kept by the streams"
    assert {spec.group_name for spec in specs.values()} == {"market_data"}, "one lineage graph"


def test_jobs_streams_and_replays(defs):
    jobs = {job.name for job in defs.resolve_all_job_defs() if not job.name.startswith("__")}
    assert jobs == STREAM_JOBS | REPLAY_JOBS
    for name in STREAM_JOBS:
        job = defs.resolve_job_def(name)
        assert job.tags["quantcore/stream"] == name.removesuffix("_stream")
        assert job.executor_def.name == "in_process", f"{name}: the op supervises its stream in the run"
    replay = defs.resolve_job_def("replay_daily")
    assert replay.partitions_def is not None and replay.partitions_def.timezone == "UTC"
    assert replay.asset_layer.selected_asset_keys == {AssetKey("books_raw"), AssetKey("book_signals"),
                                                      AssetKey("trades"), AssetKey("microprice_tables")}


def test_schedules_run_the_replays(defs):
    assert {schedule.name for schedule in defs.schedules} == set(SCHEDULES)
    for name, (job, cron) in SCHEDULES.items():
        schedule = defs.resolve_schedule_def(name)
        assert (schedule.job_name, schedule.cron_schedule, schedule.execution_timezone) == (job, cron, "UTC")
        assert schedule.default_status == DefaultScheduleStatus.RUNNING


def test_sensors_watch_the_streams(defs):
    assert {sensor.name for sensor in defs.sensors} == SENSORS
    health = defs.resolve_sensor_def("stream_health_sensor")
    assert {target.job_name for target in health.targets} == STREAM_JOBS, "it restarts any stream"
    for name in SENSORS:
        sensor = defs.resolve_sensor_def(name)
        assert sensor.default_status == DefaultSensorStatus.RUNNING
        assert "quantcore" in sensor.required_resource_keys


def test_asset_checks(defs):
    graph = defs.resolve_asset_graph()
    assert {(key.asset_key.to_user_string(), key.name) for key in graph.asset_check_keys} == CHECKS
    declared = {(key.asset_key.to_user_string(), key.name) for checks in defs.asset_checks for key in checks.check_keys}
    assert declared == CHECKS


def test_the_quantcore_resource_serves_every_job(defs):
    from quantcore_platform.resources import QuantcoreSettingsResource

    assert isinstance(defs.resources["quantcore"], QuantcoreSettingsResource)
    for name in STREAM_JOBS | REPLAY_JOBS:
        assert "quantcore" in defs.resolve_job_def(name).required_resource_keys, name
