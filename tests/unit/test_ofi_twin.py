"""OFI: the stream's plain-Python twin equals the Spark Column version, case for case."""

from __future__ import annotations

import random

import pytest
from pyspark.sql import functions as F

from streaming.spark.ofi import TopOfBook, ofi_value
from streaming.spark.signals import ofi_column

FIELDS = ("bid", "bid_qty", "ask", "ask_qty")


def test_hand_computed_cases():
    previous = TopOfBook(100.0, 5.0, 101.0, 4.0)
    assert ofi_value(None, previous) is None
    assert ofi_value(previous, TopOfBook(100.0, 7.0, 101.0, 4.0)) == 2.0      # bid qty up, same price
    assert ofi_value(previous, TopOfBook(100.5, 1.0, 101.0, 3.0)) == 1.0 - 3.0 + 4.0  # bid up, ask same
    assert ofi_value(previous, TopOfBook(99.5, 9.0, 100.5, 2.0)) == -5.0 - 2.0  # bid down, ask down
    assert ofi_value(previous, TopOfBook(100.0, 5.0, 101.5, 8.0)) == 5.0 - 5.0 + 4.0  # ask up: its qty left
    assert ofi_value(previous, TopOfBook(100.0, 5.0, None, None)) is None
    assert ofi_value(TopOfBook(None, None, 101.0, 4.0), previous) is None


def random_cases(count: int, seed: int = 11) -> list[tuple[TopOfBook | None, TopOfBook]]:
    """Prices on a coarse grid so equal prices (the indicator edges) are frequent."""
    rng = random.Random(seed)

    def top() -> TopOfBook:
        bid = 100 + rng.randint(-3, 3) * 0.25
        values = [bid, rng.uniform(0, 20), bid + rng.randint(1, 4) * 0.25, round(rng.uniform(0, 20), rng.randint(0, 8))]
        if rng.random() < 0.05:
            values[rng.choice([0, 1, 2, 3])] = None
        return TopOfBook(*values)

    return [(top() if rng.random() > 0.05 else None, top()) for _ in range(count)]


@pytest.mark.slow
def test_python_twin_equals_the_spark_column(spark):
    cases = random_cases(2000)
    rows = [(i, *(previous or TopOfBook(None, None, None, None)), *current)
            for i, (previous, current) in enumerate(cases)]
    columns = ["i", *(f"prev_{f}" for f in FIELDS), *FIELDS]
    schema = ", ".join(f"{c} {'INT' if c == 'i' else 'DOUBLE'}" for c in columns)
    frame = spark.createDataFrame(rows, schema)

    result = frame.select("i", ofi_column(*(F.col(c) for c in columns[1:])).alias("ofi")).orderBy("i").collect()

    expected = [ofi_value(previous, current) for previous, current in cases]
    assert [row.ofi for row in result] == expected  # exact: same operations, same order
    assert 50 < sum(value is None for value in expected) < 500, "both defined and undefined cases are covered"


def random_side(rng: random.Random, best: float, step: float) -> list[tuple[float, float]]:
    """0..12 levels on a coarse grid (equal prices at a rank are frequent), best first."""
    start = best + rng.randint(-2, 2) * 0.25
    return [(start + step * i, round(rng.uniform(0, 20), rng.randint(0, 8)))
            for i in range(rng.choice([0, 1, 2, 5, 10, 10, 12]))]


@pytest.mark.slow
def test_multi_level_column_equals_the_pure_function(spark):
    """signals.ofi_levels_column (the replay) against quantcore.microstructure.ofi_levels
    (the stream's writer), exactly, over the top 10 of random books."""
    from quantcore.microstructure import ofi_levels
    from streaming.spark.signals import OFI_LEVELS, TOP_LEVEL_COLUMNS, ofi_levels_column, top_level_columns

    rng = random.Random(13)
    book = lambda: (random_side(rng, 100.0, -0.25), random_side(rng, 101.0, 0.25))  # noqa: E731
    cases = [(book() if rng.random() > 0.05 else None, book()) for _ in range(2000)]

    def arrays(side_pair) -> list:
        if side_pair is None:
            return [None] * 4
        bids, asks = side_pair
        return [[p for p, _ in bids], [q for _, q in bids], [p for p, _ in asks], [q for _, q in asks]]

    names = ("bid_px", "bid_qty", "ask_px", "ask_qty")
    schema = ", ".join(["i INT", *(f"prev_{n} ARRAY<DOUBLE>" for n in names), *(f"{n} ARRAY<DOUBLE>" for n in names)])
    frame = spark.createDataFrame([(i, *arrays(prev), *arrays(cur)) for i, (prev, cur) in enumerate(cases)], schema)
    tops = top_level_columns(*(F.col(n) for n in names))  # the 10-level cut both sides make
    prev_tops = top_level_columns(*(F.col(f"prev_{n}") for n in names))
    column = ofi_levels_column(*(prev_tops[n] for n in TOP_LEVEL_COLUMNS), *(tops[n] for n in TOP_LEVEL_COLUMNS))
    result = frame.select("i", column.alias("levels")).orderBy("i").collect()

    expected = []
    for previous, current in cases:
        values = ofi_levels(*previous, *current, levels=OFI_LEVELS) if previous else [None]
        expected.append(None if values[0] is None else values)
    assert [row.levels for row in result] == expected  # exact: same operations, same order
    defined = [values for values in expected if values is not None]
    assert 300 < len(expected) - len(defined) < 1500, "both defined and undefined cases are covered"
    assert any(values[9] != 0.0 for values in defined) and any(values[9] == 0.0 for values in defined)
    ofi = frame.select(ofi_column(*(F.get(F.col(c), 0) for c in (*(f"prev_{n}" for n in names), *names)))
                       .alias("ofi"), "i").orderBy("i").collect()
    assert [row.ofi for row in ofi] == [None if v is None else v[0] for v in expected], "level 1 is `ofi`"
