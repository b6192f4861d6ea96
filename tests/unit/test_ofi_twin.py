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
