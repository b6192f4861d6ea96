"""The trade replay's pure parts: trade-id continuity (gaps, repeats, across midnight) and its
Pipes metadata; the continuity check on a small Delta table written with deltalake (no JVM)."""

from __future__ import annotations

from datetime import date

import polars as pl

from streaming.spark.trade_checks import (
    continuity_summary,
    last_ids,
    midnight_overlaps,
    midnight_steps,
    trade_id_gaps,
    trade_id_repeats,
)
from streaming.spark.trade_replay import TRADES, TradeReplay, pipes_metadata

TRADE = "TRADE_STREAM_TRADE"
AGG = "TRADE_STREAM_AGG_TRADE"


def frame(rows: list[tuple[str, str, int]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"symbol": pl.String, "stream": pl.String, "trade_id": pl.Int64}, orient="row")


def test_consecutive_ids_have_no_gap_per_symbol_and_stream():
    trades = frame([("A", TRADE, 3), ("A", TRADE, 1), ("A", TRADE, 2), ("B", TRADE, 10), ("B", TRADE, 11),
                    ("A", AGG, 500), ("A", AGG, 501)])  # another stream counts on its own
    assert trade_id_gaps(trades).is_empty() and trade_id_repeats(trades) == 0


def test_gaps_count_the_missing_ids_and_repeats_count_extra_rows():
    trades = frame([("A", TRADE, 1), ("A", TRADE, 2), ("A", TRADE, 5), ("A", TRADE, 6), ("A", TRADE, 6),
                    ("A", TRADE, 9), ("B", TRADE, 7), ("B", TRADE, 8)])
    gaps = trade_id_gaps(trades)
    assert gaps.to_dicts() == [{"symbol": "A", "stream": TRADE, "after": 2, "before": 5, "missing": 2},
                               {"symbol": "A", "stream": TRADE, "after": 6, "before": 9, "missing": 2}]
    assert trade_id_repeats(trades) == 1
    summary = continuity_summary(trades)
    assert summary[f"A {TRADE}"] == {"trades": 6, "first_id": 1, "last_id": 9, "gaps": 2, "missing": 4, "repeats": 1}
    assert summary[f"B {TRADE}"]["gaps"] == 0


def test_an_empty_day_has_nothing_to_report():
    assert trade_id_gaps(pl.DataFrame()).is_empty() and trade_id_repeats(pl.DataFrame()) == 0
    assert continuity_summary(pl.DataFrame()) == {}


def test_pipes_metadata_says_why_nothing_was_written():
    missing = pipes_metadata(TradeReplay("qc.trades.v1", "no trade topic", note="does not exist").as_dict(), 1.5)
    assert missing["status"] == {"raw_value": "no trade topic", "type": "text"}
    assert missing["rows"]["raw_value"] == 0 and missing["complete"]["raw_value"] is True
    written = TradeReplay("t", "written", written_days=["2024-03-01"], rows={TRADES: 7},
                          rows_by_day={TRADES: {"2024-03-01": 7}}, quarantined=1).as_dict()
    metadata = pipes_metadata(written, 2.0)
    assert metadata["rows"]["raw_value"] == 7 and metadata["rows_by_day"]["raw_value"] == {"2024-03-01": 7}
    assert metadata["quarantined"]["raw_value"] == 1


# --- across midnight: the day's first id against the previous day's last ------------------------

def test_a_jump_across_midnight_is_a_gap_like_any_other():
    previous_last = last_ids(frame([("A", TRADE, 8), ("A", TRADE, 10), ("B", TRADE, 50), ("A", AGG, 400)]))
    assert previous_last.to_dicts() == [{"symbol": "A", "stream": AGG, "last_id": 400},
                                        {"symbol": "A", "stream": TRADE, "last_id": 10},
                                        {"symbol": "B", "stream": TRADE, "last_id": 50}]
    trades = frame([("A", TRADE, 14), ("A", TRADE, 15), ("A", TRADE, 17), ("B", TRADE, 51), ("A", AGG, 401),
                    ("C", TRADE, 900)])  # C: no previous day to compare with
    gaps = trade_id_gaps(trades, previous_last)
    assert gaps.to_dicts() == [{"symbol": "A", "stream": TRADE, "after": 10, "before": 14, "missing": 3},
                               {"symbol": "A", "stream": TRADE, "after": 15, "before": 17, "missing": 1}]
    assert trade_id_gaps(trades).height == 1, "without the previous day: the day alone"
    summary = continuity_summary(trades, previous_last)
    assert summary[f"A {TRADE}"]["gaps"] == 2 and summary[f"A {TRADE}"]["previous_last_id"] == 10
    assert summary[f"C {TRADE}"]["previous_last_id"] is None and summary[f"C {TRADE}"]["gaps"] == 0


def test_a_first_id_at_or_below_the_previous_last_is_an_overlap_not_a_gap():
    previous_last = last_ids(frame([("A", TRADE, 10), ("B", TRADE, 20)]))
    trades = frame([("A", TRADE, 9), ("A", TRADE, 11), ("B", TRADE, 21)])
    steps = midnight_steps(trades, previous_last)
    assert steps.to_dicts() == [{"symbol": "A", "stream": TRADE, "after": 10, "before": 9},
                                {"symbol": "B", "stream": TRADE, "after": 20, "before": 21}]
    assert midnight_overlaps(steps) == [{"symbol": "A", "stream": TRADE, "after": 10, "before": 9}]
    assert trade_id_gaps(trades, previous_last).to_dicts() == [
        {"symbol": "A", "stream": TRADE, "after": 9, "before": 11, "missing": 1}], "the day's own gap only"


DAYS = (date(2024, 3, 1), date(2024, 3, 2), date(2024, 3, 3))


def write_trades(delta_root: str) -> None:
    """Three days of `trades` (deltalake, no Spark): ids 1-2, then 6-7 (3 missing across
    midnight), then 8."""
    from deltalake import write_deltalake

    for day, rows in zip(DAYS, ([("A", TRADE, 1), ("A", TRADE, 2)], [("A", TRADE, 6), ("A", TRADE, 7)],
                                [("A", TRADE, 8)]), strict=True):
        write_deltalake(f"{delta_root}/{TRADES}", frame(rows).with_columns(date=pl.lit(day)).to_arrow(),
                        mode="append", partition_by=["date"])


def test_the_check_compares_with_the_previous_day_in_the_table_and_says_when_it_cannot(tmp_path):
    from quantcore.settings import load_settings
    from streaming.spark.trade_checks import check_trade_id_continuity

    paths = load_settings(data_root=str(tmp_path / "delta")).paths
    write_trades(paths.delta_root)
    day1, day2, day3 = DAYS

    first = check_trade_id_continuity(paths, day1)
    assert first.passed and first.metadata["previous_day"]["compared"] == 0
    assert "not compared" in first.metadata["previous_day"]["note"]
    second = check_trade_id_continuity(paths, day2)
    assert not second.passed and "3 id(s) missing" in second.description
    assert second.metadata["gap_examples"] == [{"symbol": "A", "stream": TRADE, "after": 2, "before": 6, "missing": 3}]
    assert second.metadata["previous_day"] == {"date": "2024-03-01", "compared": 1, "gaps": 1, "missing_ids": 3,
                                               "overlaps": []}
    assert check_trade_id_continuity(paths, day3).passed, "8 follows 7"
