"""Each signal against hand-computed values, run through Spark on small DataFrames."""

from __future__ import annotations

import math

import pytest
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from streaming.spark.signals import (
    BOOK_TOP_COLUMNS,
    LEVEL_COLUMNS,
    MICROPRICE,
    RV_COLUMNS,
    SIGNAL_COLUMNS,
    add_signals,
    level_columns,
    ofi_column,
)

pytestmark = pytest.mark.slow

SCHEMA = "id INT, bids ARRAY<STRUCT<price: STRING, qty: STRING>>, asks ARRAY<STRUCT<price: STRING, qty: STRING>>"
LAMBDA = 0.5


def levels(*pairs) -> list[dict]:
    return [{"price": str(price), "qty": str(qty)} for price, qty in pairs]


def with_signals(frame: DataFrame, obi_lambda: float) -> DataFrame:
    """What the stream and the replay do to a checked book: parse the levels, add the signals."""
    parsed = frame.withColumns(level_columns(F.col("bids"), F.col("asks")))
    no_ofi = F.lit(None).cast("double")  # chained by the caller: see the OFI test below
    no_levels = F.lit(None).cast("array<double>")  # likewise (tests/unit/test_ofi_twin.py)
    writer = {name: no_ofi for name in (*RV_COLUMNS, MICROPRICE)}  # likewise (test_mid_volatility.py)
    return add_signals(parsed, obi_lambda).drop(*LEVEL_COLUMNS).withColumns({"ofi": no_ofi, "ofi_levels": no_levels,
                                                                             **writer})


def signals_of(spark, books: list[tuple[list, list]], obi_lambda: float = LAMBDA) -> list[dict]:
    frame = spark.createDataFrame([(i, bids, asks) for i, (bids, asks) in enumerate(books)], SCHEMA)
    rows = with_signals(frame, obi_lambda).orderBy("id").collect()
    return [row.asDict() for row in rows]


def test_signal_columns_are_the_proto_fields():
    from quantcore import wire

    assert set(SIGNAL_COLUMNS) == {field.name for field in wire.Signals.DESCRIPTOR.fields}


def test_empty_book_gives_nulls_never_errors(spark):
    (row,) = signals_of(spark, [([], [])])
    assert all(row[name] is None for name in (*SIGNAL_COLUMNS, *BOOK_TOP_COLUMNS))


def test_one_side_only(spark):
    bids_only, asks_only = signals_of(spark, [(levels((100, 2), (99, 3)), []), ([], levels((101, 4)))])
    assert bids_only["obi_1"] == 1.0 and bids_only["obi_5"] == 1.0 and bids_only["obi_weighted"] == 1.0
    assert asks_only["obi_1"] == -1.0 and asks_only["obi_20"] == -1.0
    for row in (bids_only, asks_only):
        assert row["mid"] is None and row["spread"] is None and row["spread_bps"] is None
        assert row["weighted_mid"] is None
    assert bids_only["best_bid"] == 100.0 and bids_only["best_ask"] is None
    assert asks_only["best_ask"] == 101.0 and asks_only["best_ask_qty"] == 4.0


def test_one_level_each_side(spark):
    (row,) = signals_of(spark, [(levels(("100.00", "3")), levels(("101.00", "1")))])
    assert row["obi_1"] == row["obi_5"] == row["obi_20"] == 0.5  # (3 - 1) / (3 + 1)
    assert row["obi_weighted"] == 0.5  # a single level has weight 1
    assert row["best_bid"] == 100.0 and row["best_ask"] == 101.0
    assert row["best_bid_qty"] == 3.0 and row["best_ask_qty"] == 1.0
    assert row["mid"] == 100.5 and row["spread"] == 1.0
    assert row["spread_bps"] == pytest.approx(1 / 100.5 * 1e4, rel=1e-15)
    assert row["weighted_mid"] == 100.5 + 1.0 / 2 * 0.5
    assert row["ofi"] is None, "the stream's writer chains OFI; without a window it is null"


def test_twenty_levels(spark):
    bids = levels(*[(f"{100 - i * 0.5:.2f}", i + 1) for i in range(20)])  # qty 1..20
    asks = levels(*[(f"{101 + i * 0.5:.2f}", 2) for i in range(20)])  # qty 2 each
    (row,) = signals_of(spark, [(bids, asks)])
    assert row["obi_1"] == pytest.approx((1 - 2) / (1 + 2))
    assert row["obi_5"] == pytest.approx((15 - 10) / 25)
    assert row["obi_10"] == pytest.approx((55 - 20) / 75)
    assert row["obi_20"] == pytest.approx((210 - 40) / 250)
    weights = [math.exp(-LAMBDA * i) for i in range(20)]
    bid_w = sum(w * (i + 1) for i, w in enumerate(weights))
    ask_w = sum(w * 2 for w in weights)
    assert row["obi_weighted"] == pytest.approx((bid_w - ask_w) / (bid_w + ask_w), rel=1e-12)
    assert row["mid"] == 100.5 and row["spread"] == 1.0


def test_fewer_levels_than_depth_and_more_than_twenty(spark):
    three = (levels((10, 1), (9, 1), (8, 1)), levels((11, 5)))
    deep_bids = levels(*[(1000 - i, 1) for i in range(25)])  # 25 levels: only 20 count
    deep_asks = levels(*[(1001 + i, 1) for i in range(20)])
    short, deep = signals_of(spark, [three, (deep_bids, deep_asks)])
    assert short["obi_5"] == short["obi_10"] == pytest.approx((3 - 5) / 8)
    assert deep["obi_20"] == 0.0 and deep["obi_weighted"] == 0.0


def test_zero_quantities_give_null_imbalance_not_a_division_error(spark):
    (row,) = signals_of(spark, [(levels((100, 0)), levels((101, "0.000")))])
    assert row["obi_1"] is None and row["obi_weighted"] is None and row["weighted_mid"] is None
    assert row["mid"] == 100.5 and row["spread_bps"] is not None


@pytest.mark.parametrize("obi_lambda", [0.0, 2.0])
def test_weighted_obi_decay(spark, obi_lambda):
    bids = levels((100, 1), (99, 10))
    asks = levels((101, 10), (102, 1))
    (row,) = signals_of(spark, [(bids, asks)], obi_lambda)
    w2 = math.exp(-obi_lambda)
    bid_w, ask_w = 1 + 10 * w2, 10 + 1 * w2
    assert row["obi_weighted"] == pytest.approx((bid_w - ask_w) / (bid_w + ask_w), rel=1e-12)
    if obi_lambda == 0.0:
        assert row["obi_weighted"] == pytest.approx(row["obi_20"]), "no decay = plain OBI over 20"


def test_ofi_over_a_window_of_consecutive_books(spark):
    """`ofi_column` between consecutive books of a symbol (the replay feeds it the previous
    valid book by symbol, ordered by update id)."""
    books = [
        ("A", 1, levels((100, 5)), levels((101, 4))),
        ("A", 2, levels((100, 7)), levels((101, 4))),   # bid qty +2 at same price: e = 7 - 5 = 2
        ("A", 3, levels((100.5, 1)), levels((101, 3))),  # bid up: +1; ask same, qty 3: -3 + 4 = 1 -> e = 2
        ("A", 4, levels((100, 6)), levels((100.5, 2))),  # bid down: -1; ask down: -2 -> e = -3
        ("A", 5, levels((100, 6)), []),                  # ask side gone: undefined
        ("B", 1, levels((50, 1)), levels((51, 1))),      # first book of its symbol: undefined
    ]
    frame = spark.createDataFrame(books, "symbol STRING, update_id INT, " + SCHEMA.split(", ", 1)[1])
    window = Window.partitionBy("symbol").orderBy("update_id")
    top = [F.col(name) for name in ("best_bid", "best_bid_qty", "best_ask", "best_ask_qty")]
    with_ofi = with_signals(frame, LAMBDA).withColumn("ofi", ofi_column(*(F.lag(c).over(window) for c in top), *top))
    rows = with_ofi.orderBy("symbol", "update_id").collect()
    assert [row.ofi for row in rows] == [None, 2.0, 2.0, -3.0, None, None]
