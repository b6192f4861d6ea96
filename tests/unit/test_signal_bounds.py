"""Signals within their bounds (streaming/spark/signal_bounds.py) on small hand-made frames:
a clean day passes, and each bound catches the rows that break it (and only those)."""

from __future__ import annotations

import json
from datetime import date

import polars as pl
import pytest

from streaming.spark import signal_bounds as sb

DAY = date(2024, 3, 1)
NAN = float("nan")

# Every bound the checks must keep: dropping (or renaming) one fails test_no_bound_is_dropped.
BOOK_BOUNDS = {
    "obi_1_in_[-1,1]": sb.ERROR, "obi_5_in_[-1,1]": sb.ERROR, "obi_10_in_[-1,1]": sb.ERROR,
    "obi_20_in_[-1,1]": sb.ERROR, "obi_weighted_in_[-1,1]": sb.ERROR,
    "spread_non_negative": sb.ERROR, "mid_within_best_bid_ask": sb.ERROR,
    "weighted_mid_within_best_bid_ask": sb.ERROR, "microprice_within_best_bid_ask": sb.WARN,
    "ofi_levels_10_levels_first_is_ofi": sb.ERROR,
    "rv_1s_non_negative": sb.ERROR, "rv_10s_non_negative": sb.ERROR, "rv_60s_non_negative": sb.ERROR,
    "rv_1s_le_rv_10s": sb.ERROR, "rv_10s_le_rv_60s": sb.ERROR,
}
TRADE_BOUNDS = {
    "trade_count_1s_at_least_1": sb.ERROR, "trade_count_1s_le_10s": sb.ERROR, "trade_count_10s_le_60s": sb.ERROR,
    "tfi_1s_in_[-1,1]": sb.ERROR, "tfi_10s_in_[-1,1]": sb.ERROR, "tfi_60s_in_[-1,1]": sb.ERROR,
    "vwap_1s_within_day_price_range": sb.ERROR, "vwap_10s_within_day_price_range": sb.ERROR,
    "vwap_60s_within_day_price_range": sb.ERROR,
}


def book(**overrides) -> dict:
    """A valid book: bid 100 x 3, ask 101 x 1, every signal consistent."""
    row = {"symbol": "BTCUSDT", "update_id": 1, "invalid_reason": None, "best_bid": 100.0, "best_ask": 101.0,
           "spread": 1.0, "mid": 100.5, "weighted_mid": 100.75, "microprice": 100.6, "ofi": 2.0,
           "ofi_levels": [2.0, *[0.0] * 9], "obi_1": 0.5, "obi_5": 0.2, "obi_10": -0.1, "obi_20": -1.0,
           "obi_weighted": 1.0, "rv_1s": 0.0, "rv_10s": 1e-4, "rv_60s": 1e-4}
    row.update(overrides)
    return row


def books(*rows: dict) -> pl.DataFrame:
    frame = pl.DataFrame([book(update_id=i + 1, **row) for i, row in enumerate(rows)],
                         schema_overrides={"invalid_reason": pl.String, "ofi_levels": pl.List(pl.Float64)},
                         infer_schema_length=None)
    return frame.with_columns(pl.col(c).cast(pl.Float64) for c in frame.columns
                              if c not in ("symbol", "update_id", "invalid_reason", "ofi_levels"))


def violations(frame: pl.DataFrame, bounds, keys) -> dict[str, int]:
    return {r.bound.name: r.violations for r in sb.evaluate(frame, bounds, keys) if r.violations}


def book_violations(*rows: dict) -> dict[str, int]:
    return violations(books(*rows), sb.BOOK_SIGNAL_BOUNDS, sb.BOOK_KEYS)


def test_no_bound_is_dropped():
    assert {b.name: b.severity for b in sb.BOOK_SIGNAL_BOUNDS} == BOOK_BOUNDS
    assert {b.name: b.severity for b in sb.TRADE_FLOW_BOUNDS} == TRADE_BOUNDS
    for bound in (*sb.BOOK_SIGNAL_BOUNDS, *sb.TRADE_FLOW_BOUNDS):
        assert bound.why, bound.name
    assert set(sb.BOOK_COLUMNS) | set(sb.BOOK_KEYS) >= {c for b in sb.BOOK_SIGNAL_BOUNDS for c in b.shown()}, \
        "the check reads every column a bound needs"


def test_a_clean_day_and_nulls_pass():
    undefined = {c: None for c in ("spread", "mid", "weighted_mid", "microprice", "ofi", "ofi_levels", "obi_1",
                                   "rv_1s", "rv_10s", "rv_60s")}
    frame = books({}, {"weighted_mid": 101.0, "obi_1": 1.0, "microprice": 101.0}, undefined,
                  {"invalid_reason": "crossed book: best bid >= best ask", "best_bid": 102.0, "spread": -1.0,
                   "mid": 101.5, "weighted_mid": 99.0, "microprice": 90.0})
    assert violations(frame, sb.BOOK_SIGNAL_BOUNDS, sb.BOOK_KEYS) == {}
    results = sb.evaluate(frame, sb.BOOK_SIGNAL_BOUNDS, sb.BOOK_KEYS)
    checked = {r.bound.name: r.checked for r in results}
    assert checked["spread_non_negative"] == 2, "invalid books and null spreads are not checked"
    assert checked["obi_5_in_[-1,1]"] == 4


@pytest.mark.parametrize(("row", "broken"), [
    ({"obi_1": 1.5, "weighted_mid": 100.5}, {"obi_1_in_[-1,1]"}),
    ({"obi_5": NAN}, {"obi_5_in_[-1,1]"}),
    ({"obi_10": -1.0000001}, {"obi_10_in_[-1,1]"}),
    ({"obi_20": 2.0}, {"obi_20_in_[-1,1]"}),
    ({"obi_weighted": -3.0}, {"obi_weighted_in_[-1,1]"}),
    ({"spread": -0.5}, {"spread_non_negative"}),
    ({"mid": 101.5}, {"mid_within_best_bid_ask"}),
    ({"mid": 99.0}, {"mid_within_best_bid_ask"}),
    ({"weighted_mid": 101.2}, {"weighted_mid_within_best_bid_ask"}),
    ({"microprice": 99.9}, {"microprice_within_best_bid_ask"}),
    ({"ofi_levels": [2.0] * 9}, {"ofi_levels_10_levels_first_is_ofi"}),
    ({"ofi_levels": [3.0, *[0.0] * 9]}, {"ofi_levels_10_levels_first_is_ofi"}),
    ({"ofi": None}, {"ofi_levels_10_levels_first_is_ofi"}),
    ({"rv_1s": -1e-9}, {"rv_1s_non_negative"}),
    ({"rv_10s": NAN}, {"rv_10s_non_negative", "rv_10s_le_rv_60s"}),  # polars orders NaN above every number
    ({"rv_60s": -1.0, "rv_10s": -2.0, "rv_1s": -3.0}, {"rv_1s_non_negative", "rv_10s_non_negative",
                                                        "rv_60s_non_negative"}),
    ({"rv_1s": 2e-4}, {"rv_1s_le_rv_10s"}),
    ({"rv_60s": 5e-5}, {"rv_10s_le_rv_60s"}),
    ({"rv_10s": None}, {"rv_1s_le_rv_10s"}),
])
def test_each_book_bound_catches_its_rows(row, broken):
    assert book_violations({}, row, {}) == dict.fromkeys(broken, 1)


def test_price_limits_allow_rounding_only():
    assert book_violations({"weighted_mid": 101.0 * (1 + 1e-12), "obi_1": 1.0}) == {}
    assert book_violations({"weighted_mid": 101.0 * (1 + 1e-6), "obi_1": 1.0}) == \
        {"weighted_mid_within_best_bid_ask": 1}


def test_outcome_severity_examples_and_json_metadata():
    warn = sb.outcome(DAY, "book_signals", 3, sb.evaluate(books({}, {"microprice": 102.0}, {}),
                                                          sb.BOOK_SIGNAL_BOUNDS, sb.BOOK_KEYS))
    assert not warn.passed and warn.metadata["severity"] == sb.WARN
    assert warn.metadata["examples"] == {"microprice_within_best_bid_ask": [
        {"symbol": "BTCUSDT", "update_id": 2, "microprice": 102.0, "best_bid": 100.0, "best_ask": 101.0}]}
    error = sb.outcome(DAY, "book_signals", 3, sb.evaluate(books({"microprice": 102.0}, {"obi_1": NAN}),
                                                           sb.BOOK_SIGNAL_BOUNDS, sb.BOOK_KEYS))
    assert error.metadata["severity"] == sb.ERROR
    assert error.metadata["violations"]["obi_1_in_[-1,1]"] == 1
    assert error.metadata["examples"]["obi_1_in_[-1,1]"][0]["obi_1"] == "nan"
    json.dumps(error.metadata, allow_nan=False)
    clean = sb.outcome(DAY, "book_signals", 1, sb.evaluate(books({}), sb.BOOK_SIGNAL_BOUNDS, sb.BOOK_KEYS))
    assert clean.passed and clean.metadata["severity"] is None
    empty = sb.outcome(DAY, "trades", 0, sb.evaluate(pl.DataFrame(), sb.TRADE_FLOW_BOUNDS, sb.TRADE_KEYS))
    assert empty.passed and "no trades rows" in empty.description


def test_examples_are_capped():
    results = sb.evaluate(books(*[{"obi_1": 2.0, "weighted_mid": 100.5}] * 8), sb.BOOK_SIGNAL_BOUNDS,
                          sb.BOOK_KEYS, examples=3)
    (obi,) = [r for r in results if r.violations]
    assert obi.violations == 8 and len(obi.examples) == 3


# --- trade flow -----------------------------------------------------------------------------------

S = 1_000_000


def trade(trade_id: int, time_s: float, price: float, **overrides) -> dict:
    row = {"symbol": "BTCUSDT", "stream": "TRADE_STREAM_TRADE", "trade_id": trade_id, "price": price,
           "trade_time_us": int(time_s * S)}
    for label in ("1s", "10s", "60s"):
        row |= {f"trade_count_{label}": 1, f"vwap_{label}": price, f"tfi_{label}": 1.0}
    row.update(overrides)
    return row


def trades(*rows: dict) -> pl.DataFrame:
    frame = pl.DataFrame(list(rows), infer_schema_length=None)
    frame = frame.with_columns(pl.col("price").cast(pl.Decimal(18, 8)),
                               *(pl.col(c).cast(pl.Float64) for c in frame.columns if c.startswith(("vwap", "tfi"))),
                               *(pl.col(c).cast(pl.Int64) for c in frame.columns if c.startswith("trade_count")))
    return sb.prepare_trades(frame)


def trade_violations(*rows: dict) -> dict[str, int]:
    return violations(trades(*rows), sb.TRADE_FLOW_BOUNDS, sb.TRADE_KEYS)


# The day's prices of the symbol: 100 .. 110; the first counted trade at 1000 s.
BASE = (trade(1, 1000, 100.0), trade(2, 1100, 110.0))


def test_clean_trades_and_uncounted_rows_pass():
    uncounted = trade(3, 1200, 105.0, **{f"{k}_{w}": None for w in ("1s", "10s", "60s")
                                         for k in ("trade_count", "vwap", "tfi")})
    counted = trade(4, 1200, 105.0, trade_count_10s=3, trade_count_60s=7, tfi_60s=-1.0, vwap_60s=104.0)
    assert trade_violations(*BASE, uncounted, counted) == {}


@pytest.mark.parametrize(("row", "broken"), [
    ({"trade_count_1s": 0}, {"trade_count_1s_at_least_1"}),
    ({"trade_count_1s": 2, "trade_count_10s": 1, "trade_count_60s": 1}, {"trade_count_1s_le_10s"}),
    ({"trade_count_10s": 5, "trade_count_60s": 4}, {"trade_count_10s_le_60s"}),
    ({"trade_count_60s": None}, {"trade_count_10s_le_60s"}),
    ({"tfi_1s": 1.01}, {"tfi_1s_in_[-1,1]"}),
    ({"tfi_10s": NAN}, {"tfi_10s_in_[-1,1]"}),
    ({"tfi_60s": -2.0}, {"tfi_60s_in_[-1,1]"}),
    ({"vwap_1s": 111.0}, {"vwap_1s_within_day_price_range"}),
    ({"vwap_10s": 99.0}, {"vwap_10s_within_day_price_range"}),
    ({"vwap_60s": NAN}, {"vwap_60s_within_day_price_range"}),
])
def test_each_trade_flow_bound_catches_its_rows(row, broken):
    assert trade_violations(*BASE, trade(3, 1200, 105.0, **row)) == dict.fromkeys(broken, 1)


def test_vwap_skips_windows_reaching_before_the_day():
    # 30 s after the first counted trade: the 60 s window may hold yesterday's trades.
    early = trade(3, 1030, 105.0, vwap_1s=120.0, vwap_10s=120.0, vwap_60s=120.0)
    assert trade_violations(*BASE, early) == {"vwap_1s_within_day_price_range": 1,
                                              "vwap_10s_within_day_price_range": 1}
    other_symbol = trade(4, 1200, 50.0, symbol="ETHUSDT")  # its own range: 50 .. 50, first trade at 1200 s
    assert trade_violations(*BASE, other_symbol) == {}


# --- the day read from Delta (deltalake, no Spark), and the Dagster result's severity ----------------

def test_checks_read_one_day_of_the_delta_tables(tmp_path):
    from types import SimpleNamespace

    from deltalake import write_deltalake

    paths = SimpleNamespace(delta_root=str(tmp_path / "delta"))  # all the reader needs of PathsSettings
    assert sb.check_book_signals(paths, DAY).passed is True  # no table yet: nothing to break
    other = books({"obi_1": 9.0})
    write_deltalake(f"{paths.delta_root}/book_signals", pl.concat([
        books({}, {"microprice": 102.0}).with_columns(date=pl.lit(DAY)),
        other.with_columns(date=pl.lit(date(2024, 3, 2)))]).to_arrow(), partition_by=["date"])
    outcome = sb.check_book_signals(paths, DAY)
    assert not outcome.passed and outcome.metadata["rows"] == 2 and outcome.metadata["severity"] == sb.WARN
    assert {k for k, v in outcome.metadata["violations"].items() if v} == {"microprice_within_best_bid_ask"}
    write_deltalake(f"{paths.delta_root}/trades", trades(*BASE, trade(3, 1200, 105.0, tfi_1s=3.0))
                    .drop(sb.DAY_MIN, sb.DAY_MAX, sb.FIRST_COUNTED).with_columns(date=pl.lit(DAY)).to_arrow(),
                    partition_by=["date"])
    flow = sb.check_trade_flow(paths, DAY)
    assert not flow.passed and flow.metadata["severity"] == sb.ERROR and flow.metadata["rows"] == 3
    assert flow.metadata["violations"]["tfi_1s_in_[-1,1]"] == 1


def test_the_asset_check_takes_the_worst_broken_bound_severity():
    from dagster import AssetCheckSeverity

    from quantcore_platform.replay_assets import bounds_result
    from streaming.spark.replay_checks import CheckOutcome

    def outcomes(*severities):
        by_day = {date(2024, 3, i + 1): CheckOutcome(s is None, "d", {"severity": s}) for i, s in enumerate(severities)}
        return bounds_result(list(by_day), by_day.__getitem__)

    assert outcomes(None, sb.WARN).severity == AssetCheckSeverity.WARN
    assert not outcomes(None, sb.WARN).passed
    assert outcomes(sb.WARN, sb.ERROR).severity == AssetCheckSeverity.ERROR
    assert outcomes(None, None).passed
