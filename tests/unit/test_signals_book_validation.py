"""Which decoded records the stream refuses, and the reason it gives (through Spark)."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from streaming.spark import book_validation as v
from streaming.spark.protobuf_decode import decode
from streaming.spark.signals import level_columns
from tests.support.books import book_record

pytestmark = pytest.mark.slow

GOOD_BIDS = [("100.10", "1"), ("100.00", "2")]
GOOD_ASKS = [("100.20", "1"), ("100.30", "0")]  # a zero qty is allowed


def reasons(spark, payloads: list[bytes]) -> list[str | None]:
    frame = spark.createDataFrame([(i, p) for i, p in enumerate(payloads)], "i INT, value BINARY")
    decoded = frame.select("i", decode(F.col("value"), "quantcore.v1.BookRecord").alias("book"))
    book = F.col("book")
    levels = level_columns(book["bids"], book["asks"])
    rows = decoded.select("i", v.invalid_reason(book, *levels.values()).alias("reason")).orderBy("i").collect()
    return [row.reason for row in rows]


CASES = [
    (book_record("BTCUSDT", 1, GOOD_BIDS, GOOD_ASKS).SerializeToString(), None),
    (book_record("BTCUSDT", 2, GOOD_BIDS, []).SerializeToString(), None),  # one side empty: valid
    (book_record("BTCUSDT", 3).SerializeToString(), None),  # both empty: valid, signals null
    (b"\x0a\xff\xff\xff", v.UNDECODABLE),
    (book_record("", 1, GOOD_BIDS, GOOD_ASKS).SerializeToString(), v.MISSING_SYMBOL),
    (book_record("BTCUSDT", 0, GOOD_BIDS, GOOD_ASKS).SerializeToString(), v.MISSING_UPDATE_ID),
    (book_record("BTCUSDT", 4, [("abc", "1")], GOOD_ASKS).SerializeToString(), v.NOT_A_NUMBER),
    (book_record("BTCUSDT", 4, GOOD_BIDS, [("100.2", "NaN")]).SerializeToString(), v.NOT_A_NUMBER),
    (book_record("BTCUSDT", 4, GOOD_BIDS, [("Infinity", "1")]).SerializeToString(), v.NOT_A_NUMBER),
    (book_record("BTCUSDT", 5, [("0", "1")], GOOD_ASKS).SerializeToString(), v.NON_POSITIVE_PRICE),
    (book_record("BTCUSDT", 6, GOOD_BIDS, [("100.2", "-0.5")]).SerializeToString(), v.NEGATIVE_QTY),
    (book_record("BTCUSDT", 7, [("100.00", "1"), ("100.10", "1")], GOOD_ASKS).SerializeToString(), v.BIDS_UNSORTED),
    (book_record("BTCUSDT", 8, [("100.10", "1"), ("100.10", "1")], GOOD_ASKS).SerializeToString(), v.BIDS_UNSORTED),
    (book_record("BTCUSDT", 9, GOOD_BIDS, [("100.3", "1"), ("100.2", "1")]).SerializeToString(), v.ASKS_UNSORTED),
    (book_record("BTCUSDT", 10, [("100.2", "1")], [("100.2", "1")]).SerializeToString(), v.CROSSED),
    (book_record("BTCUSDT", 11, [("101", "1")], [("100.5", "1")]).SerializeToString(), v.CROSSED),
]


def test_each_bound_has_its_reason(spark):
    payloads, expected = zip(*CASES, strict=True)
    assert reasons(spark, list(payloads)) == list(expected)


def test_first_failing_check_names_the_record(spark):
    # Unsorted AND crossed AND negative: the earlier check in the list wins.
    record = book_record("BTCUSDT", 12, [("99", "-1"), ("100", "1")], [("98", "1")])
    assert reasons(spark, [record.SerializeToString()]) == [v.NEGATIVE_QTY]
