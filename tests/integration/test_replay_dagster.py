"""The replay assets materialized in-process by Dagster, with real Kafka and a real Spark job
launched through Dagster Pipes: metadata comes back, the checks pass on a good day and fail
loudly on a day that Kafka's retention has cut. Two Spark processes in all."""

from __future__ import annotations


import pytest
from confluent_kafka import TopicPartition
from dagster import AssetCheckSeverity, DagsterInstance, materialize

from quantcore.topics import CREATE_TIME, temporary_topic
from quantcore_platform.replay_assets import REPLAY_ASSET_CHECKS, replay_books
from quantcore_platform.resources import QuantcoreSettingsResource
from quantcore.clients import admin_client
from quantcore.settings import Settings
from tests.support.replay_records import (
    DAY1,
    DAY2,
    PARTITIONS,
    RECORDS,
    expected_raw,
    expected_signal_books,
    partition_of,
    produce_known,
)
from tests.support.settings import settings_toml
from tests.support.trade_records import GAP_SYMBOL, produce_trades
from tests.support.trade_records import TRADES as SENT_TRADES

pytestmark = pytest.mark.slow

CHECKS = {"obi_within_bounds", "no_duplicate_updates", "update_ids_increasing", "row_count_matches_kafka",
          "kafka_retention_complete", "trade_ids_continuous", "book_signals_within_bounds",
          "trade_flow_within_bounds"}
TABLES = ("books_raw", "book_signals", "trades")


def settings_file(settings: Settings, topic: str, data_root: str, path, **flat) -> str:
    """The TOML the resource points at: how a deployment configures Dagster's settings."""
    return settings_toml(path, settings, book_topic=topic, data_root=data_root, spark_driver_memory="1g", **flat)


@pytest.fixture
def topic(kafka: Settings):
    with temporary_topic(kafka.kafka, "qc.test.dagster", PARTITIONS, CREATE_TIME) as name:
        produce_known(kafka.kafka, name)
        yield name


@pytest.fixture
def trade_topic(kafka: Settings):
    with temporary_topic(kafka.kafka, "qc.test.dagster-trades", PARTITIONS, CREATE_TIME) as name:
        produce_trades(kafka.kafka, name)
        yield name


def run(resource: QuantcoreSettingsResource, **partition):
    return materialize([replay_books, *REPLAY_ASSET_CHECKS], resources={"quantcore": resource},
                       instance=DagsterInstance.ephemeral(), **partition)


def test_a_day_materializes_with_metadata_and_its_checks(kafka, topic, trade_topic, tmp_path):
    resource = QuantcoreSettingsResource(config_file=settings_file(
        kafka, topic, str(tmp_path / "delta"), tmp_path / "quantcore.toml", trade_topic=trade_topic))
    result = run(resource, partition_key=DAY1.isoformat())

    assert result.success
    events = {e.asset_key.path[-1]: e for e in result.get_asset_materialization_events()}
    assert set(events) == set(TABLES)
    assert {e.partition for e in events.values()} == {DAY1.isoformat()}
    raw = events["books_raw"].materialization.metadata
    assert raw["rows"].value == len(expected_raw(DAY1))
    assert raw["quarantined"].value == 1, "the corrupted record of day 1"
    assert raw["kafka_records"].value == {DAY1.isoformat(): sum(r.day == DAY1 for r in RECORDS)}
    assert raw["complete"].value is True and raw["missing_ranges"].value == []
    (read,) = raw["offsets"].value
    assert read["days"] == "2024-03-01..2024-03-01"
    assert set(read["partitions"]) == {str(partition_of(r.key)) for r in RECORDS if r.day == DAY1}
    signals = events["book_signals"].materialization.metadata
    assert signals["rows"].value == len(expected_signal_books(DAY1, valid_only=False))

    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(evaluations) == CHECKS
    failed = {name: e.description for name, e in evaluations.items() if not e.passed}
    assert set(failed) == {"trade_ids_continuous"}, failed
    trades = events["trades"].materialization.metadata
    good = [t for t in SENT_TRADES if t.day == DAY1 and t.trade is not None]
    assert trades["status"].value == "written" and trades["rows"].value == len(good)
    assert trades["quarantined"].value == sum(t.day == DAY1 and t.trade is None for t in SENT_TRADES)
    continuity = evaluations["trade_ids_continuous"]
    assert continuity.severity == AssetCheckSeverity.WARN, "a gap is the exchange feed's, not the replay's"
    assert GAP_SYMBOL in continuity.description
    day = continuity.metadata["per_day"].value[DAY1.isoformat()]
    assert (day["gaps"], day["missing_ids"], day["gap_examples"][0]["symbol"]) == (1, 2, GAP_SYMBOL)
    counted = evaluations["row_count_matches_kafka"].metadata["per_day"].value[DAY1.isoformat()]
    assert counted["delta_rows"] == counted["kafka_records"] == raw["kafka_records"].value[DAY1.isoformat()]


def test_a_range_cut_by_retention_fails_its_check_loudly(kafka, topic, tmp_path):
    admin = admin_client(kafka.kafka)  # keep a reference: a collected client never completes its futures
    for future in admin.delete_records([TopicPartition(topic, 0, 2)], request_timeout=30).values():
        future.result(30)
    resource = QuantcoreSettingsResource(config_file=settings_file(kafka, topic, str(tmp_path / "delta"),
                                                                   tmp_path / "quantcore.toml"))
    result = run(resource, tags={"dagster/asset_partition_range_start": DAY1.isoformat(),
                                 "dagster/asset_partition_range_end": DAY2.isoformat()})

    assert result.success, "a cut day is reported, not a crash"
    partitions = {(e.asset_key.path[-1], e.partition) for e in result.get_asset_materialization_events()}
    assert partitions == {(t, d.isoformat()) for t in TABLES for d in (DAY1, DAY2)}, \
        "one Spark run materialized both days"
    raw = next(e for e in result.get_asset_materialization_events()
               if e.asset_key.path[-1] == "books_raw").materialization.metadata
    assert raw["skipped_days"].value == [DAY1.isoformat()]
    assert [(m["date"], m["partition"]) for m in raw["missing_ranges"].value] == [(DAY1.isoformat(), 0)]
    assert raw["rows_by_day"].value == {DAY2.isoformat(): len(expected_raw(DAY2))}

    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    retention = evaluations["kafka_retention_complete"]
    assert not retention.passed and retention.severity == AssetCheckSeverity.ERROR
    assert "retention dropped part of the day" in retention.description
    assert retention.metadata["failed_days"].value == [DAY1.isoformat()]
    assert evaluations["obi_within_bounds"].passed and evaluations["no_duplicate_updates"].passed
