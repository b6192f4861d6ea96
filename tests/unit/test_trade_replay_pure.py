"""The trade replay's pure parts: trade-id continuity (gaps, repeats) and its Pipes metadata."""

from __future__ import annotations

import polars as pl

from streaming.spark.trade_checks import continuity_summary, trade_id_gaps, trade_id_repeats
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
