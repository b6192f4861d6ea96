"""The replay's Dagster definitions load together and schedule what they promise."""

from __future__ import annotations

from datetime import datetime, timezone

from dagster import AssetKey, Definitions, build_schedule_context

from quantcore_platform.replay_assets import (
    REPLAY_ASSET_CHECKS,
    REPLAY_ASSETS,
    REPLAY_JOB,
    REPLAY_JOBS,
    REPLAY_PARTITIONS,
    REPLAY_SCHEDULES,
    replay_books,
)
from quantcore_platform.resources import QuantcoreSettingsResource
from quantcore_platform.spark_launch import LocalLauncher
from streaming.spark.replay_job import ReplayResult, pipes_metadata

DEFS = Definitions(assets=REPLAY_ASSETS, asset_checks=REPLAY_ASSET_CHECKS, jobs=REPLAY_JOBS,
                   schedules=REPLAY_SCHEDULES, resources={"quantcore": QuantcoreSettingsResource()})


def test_definitions_resolve():
    assert DEFS.resolve_job_def("replay_daily") and DEFS.resolve_job_def("delta_maintenance")
    graph = DEFS.resolve_asset_graph()
    assert {AssetKey("books_raw"), AssetKey("book_signals"), AssetKey("trades")} <= set(graph.get_all_asset_keys())
    assert len(graph.asset_check_keys) == 8  # 6 + the signal and trade-flow bounds


def test_backfills_are_one_run_and_partitions_are_utc_days():
    assert replay_books.backfill_policy.max_partitions_per_run is None, "single_run: any range, one Spark run"
    assert REPLAY_PARTITIONS.timezone == "UTC"
    assert REPLAY_PARTITIONS.get_first_partition_key() == "2024-01-01"


def test_nightly_schedule_replays_yesterday():
    schedule = DEFS.resolve_schedule_def("replay_nightly")
    assert schedule.cron_schedule == "30 0 * * *" and schedule.execution_timezone == "UTC"
    context = build_schedule_context(scheduled_execution_time=datetime(2024, 3, 2, 0, 30, tzinfo=timezone.utc))
    (request,) = list(schedule.evaluate_tick(context).run_requests)
    assert request.partition_key == "2024-03-01"


def test_weekly_maintenance_schedule():
    schedule = DEFS.resolve_schedule_def("delta_maintenance_weekly")
    assert schedule.cron_schedule == "0 3 * * 0" and schedule.job_name == "delta_maintenance"


def test_job_command_and_pipes_metadata():
    assert LocalLauncher.command(REPLAY_JOB.with_args("--dates", "2024-03-01..2024-03-02"))[1:] == [
        "-m", "streaming.spark.replay_job", "--dates", "2024-03-01..2024-03-02"]
    result = ReplayResult(topic="t", days=["2024-03-01"], written_days=["2024-03-01"], skipped_days=[],
                          rows={"books_raw": 5, "book_signals": 4, "books_quarantine": 1},
                          rows_by_day={"books_raw": {"2024-03-01": 5}, "book_signals": {"2024-03-01": 4},
                                       "books_quarantine": {"2024-03-01": 1}},
                          kafka_records={"2024-03-01": 6}, offsets=[{"days": "x", "partitions": {"0": [0, 6]}}],
                          records_read=6, quarantined=1)
    raw = pipes_metadata(result, "books_raw")
    assert raw["rows"] == {"raw_value": 5, "type": "int"}
    assert raw["offsets"]["type"] == "json" and raw["complete"]["raw_value"] is True
    assert "offsets" not in pipes_metadata(result, "book_signals")


def test_the_trade_continuity_check_reports_the_comparison_across_midnight(tmp_path):
    """The asset check on its own (the last replayed day, from the instance) over a small
    `trades` table: the gap across midnight and what was compared are in its metadata."""
    from dagster import AssetMaterialization, DagsterInstance, build_asset_check_context

    from quantcore_platform.replay_assets import trade_ids_continuous
    from tests.unit.test_trade_replay_pure import DAYS, write_trades

    root = str(tmp_path / "delta")
    write_trades(root)
    config = tmp_path / "quantcore.toml"
    config.write_text(f'home = "{tmp_path}"\ndata_root = "{root}"\n')
    instance = DagsterInstance.ephemeral()
    instance.report_runless_asset_event(AssetMaterialization("books_raw", partition=DAYS[1].isoformat()))
    result = trade_ids_continuous(build_asset_check_context(
        resources={"quantcore": QuantcoreSettingsResource(config_file=str(config))}, instance=instance))
    assert not result.passed and "3 id(s) missing" in result.description
    day = result.metadata["per_day"].value[DAYS[1].isoformat()]
    assert day["previous_day"] == {"date": DAYS[0].isoformat(), "compared": 1, "gaps": 1, "missing_ids": 3,
                                   "overlaps": []}
    assert day["per_symbol"]["A TRADE_STREAM_TRADE"]["previous_last_id"] == 2
