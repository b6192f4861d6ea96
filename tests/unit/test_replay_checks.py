"""The frame-level data-quality checks of replayed days, and the retention verdict."""

from __future__ import annotations

from datetime import date

import polars as pl

from streaming.spark.delta_tables import replace_days_predicate
from streaming.spark.replay_checks import (
    check_retention,
    duplicate_updates,
    obi_out_of_bounds,
    update_id_regressions,
)

DAY = date(2024, 3, 1)


def test_obi_bounds_count_values_outside_and_nan():
    frame = pl.DataFrame({"obi_1": [-1.0, 1.0, 0.2, None], "obi_5": [1.0000001, -2.0, float("nan"), 0.0],
                          "mid": [5.0, 6.0, 7.0, 8.0]})
    assert obi_out_of_bounds(frame) == {"obi_1": 0, "obi_5": 3}


def test_duplicates_are_counted_per_pair():
    frame = pl.DataFrame({"symbol": ["A", "A", "B", "A", "B"], "update_id": [1, 2, 1, 1, 2]})
    assert duplicate_updates(frame) == 1
    assert duplicate_updates(frame.unique()) == 0
    assert duplicate_updates(pl.DataFrame()) == 0


def test_update_id_regressions_follow_log_order_per_symbol():
    frame = pl.DataFrame({
        "symbol": ["A", "A", "A", "B", "B"],
        "update_id": [10, 12, 11, 5, 5],
        "kafka_timestamp_us": [1, 2, 3, 1, 2],
        "kafka_partition": [0, 0, 0, 1, 1],
        "kafka_offset": [0, 1, 2, 0, 1],
    })
    bad = update_id_regressions(frame)
    assert bad.select("symbol", "update_id", "previous_update_id").rows() == [("A", 11, 12), ("B", 5, 5)]
    assert update_id_regressions(frame.filter(pl.col("kafka_offset") < 2)).height == 1


def test_retention_verdict_uses_the_replay_metadata():
    assert check_retention(DAY, [], []).passed
    cut = [{"date": "2024-03-01", "partition": 3, "low_watermark": 9}, {"date": "2024-03-02", "partition": 1}]
    outcome = check_retention(DAY, cut, ["2024-03-01"])
    assert not outcome.passed and "left unwritten" in outcome.description
    assert outcome.metadata["missing_ranges"] == cut[:1]
    assert check_retention(date(2024, 3, 2), cut, ["2024-03-01"]).description.endswith("written partially")
    assert not check_retention(DAY, None, None).passed, "no metadata: the day was never replayed"


def test_replace_where_predicate_lists_exact_days():
    assert replace_days_predicate([date(2024, 3, 2), DAY, DAY]) == "date IN (DATE'2024-03-01', DATE'2024-03-02')"
