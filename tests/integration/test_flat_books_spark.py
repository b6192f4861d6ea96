"""The replay's flat layout against plain-Python references: a value fits exactly as
book_layout.fits says or not at all (FlatBookDecoder), the other fields are the generic
decoder's, and the decimals' doubles (level_arrays) are Python's float() of the strings,
which is what the stream's cast parses, so the signals' inputs are the stream's."""

from __future__ import annotations

import random
from decimal import Decimal

from pyspark.sql import functions as F

from quantcore import wire
from quantcore.wire import BOOK_MESSAGE
from streaming.spark import book_layout
from streaming.spark.flat_books import FITS, decode_flat, level_arrays
from streaming.spark.protobuf_decode import decode

STRINGS = ["65000.01000000", "0.00000001", "0.0000001", "1234567890.12345678", "12345678901.5",
           "999999999999.999999", "1000000000000", ".5", "5.", "-3.25", "+7", "0", "000000000000000042.10",
           "", "-", ".", "1e5", "--5", "1.2.3", " 1", "NaN", "١٢"]


def record(bids: list[tuple[str, str]], asks: list[tuple[str, str]], **fields) -> bytes:
    level = lambda pair: wire.PriceLevel(price=pair[0], qty=pair[1])  # noqa: E731
    return wire.BookRecord(exchange="binance", symbol="BTCUSDT", update_id=7, bids=[level(b) for b in bids],
                           asks=[level(a) for a in asks], **fields).SerializeToString()


def flat_rows(spark, payloads: list[bytes]):
    frame = spark.createDataFrame([(p,) for p in payloads], "payload binary")
    return frame.select(decode_flat(F.col("payload")).alias("b")).select("b.*").collect()


def test_a_value_fits_exactly_or_not_at_all(spark):
    rows = flat_rows(spark, [record([(text, text)], []) for text in STRINGS])
    for text, row in zip(STRINGS, rows, strict=True):
        for what in ("px", "qty"):
            value = row[book_layout.level_column("bid", what, 1)]
            if book_layout.fits(text, what):
                assert value == Decimal(text), f"{text!r} as {what} is kept exactly"
            else:
                assert value is None and row[FITS] is False, f"{text!r} as {what} must not fit"
        assert row[FITS] == (book_layout.fits(text, "px") and book_layout.fits(text, "qty")), text
    assert 0 < sum(row[FITS] for row in rows) < len(rows), "both verdicts are exercised"


def test_doubles_are_the_nearest_to_the_exact_value_at_every_magnitude(spark):
    """Unscaled values above 2^53 too (a quantity of 1e12 has 18 digits): float()'s answer."""
    rng = random.Random(7)
    quantities = [f"{rng.randrange(10**12)}.{rng.randrange(10**6):06d}" for _ in range(2000)]
    prices = [f"{rng.randrange(10**10)}.{rng.randrange(10**8):08d}" for _ in range(2000)]
    payloads = [record([(p, q), (p, q)], [(p, q)]) for p, q in zip(prices, quantities, strict=True)]
    frame = spark.createDataFrame([(p,) for p in payloads], "payload binary")
    flat = frame.select(decode_flat(F.col("payload")).alias("b")).select("b.*")
    rows = flat.select(*(c.alias(n) for n, c in level_arrays().items())).collect()
    for p, q, row in zip(prices, quantities, rows, strict=True):
        assert (row.bid_px, row.bid_qty, row.ask_px, row.ask_qty) == ([float(p)] * 2, [float(q)] * 2,
                                                                      [float(p)], [float(q)])


def test_levels_beyond_a_side_are_null_and_too_many_do_not_fit(spark):
    row, deep = flat_rows(spark, [record([("100.5", "2")] * 3, [("101", "1.5")]),
                                  record([("100", "1")] * (book_layout.DEPTH + 1), [])])
    assert row[FITS] is True and (row["bid_levels"], row["ask_levels"]) == (3, 1)
    assert [row[f"bid_px_{i}"] for i in (1, 3, 4)] == [Decimal("100.5"), Decimal("100.5"), None]
    assert (row["ask_qty_1"], row["ask_px_2"]) == (Decimal("1.5"), None)
    assert deep[FITS] is False and deep[f"bid_px_{book_layout.DEPTH}"] == Decimal(100)


def test_fields_are_the_generic_decoders(spark):
    books = [record([("100", "1"), ("99", "2")], [("101", "1")], event_time_us=5, shard_id=2,
                    origin=wire.Origin.ORIGIN_SIMULATOR, simulator_seed=42),
             record([], [], mode=wire.BookMode.BOOK_MODE_PARTIAL_SNAPSHOT),
             b"\x0a\xff\xff\x01"]  # truncated: undecodable
    frame = spark.createDataFrame([(p,) for p in books], "payload binary")
    rows = frame.select(decode(F.col("payload"), BOOK_MESSAGE).alias("g"), decode_flat(F.col("payload")).alias("f")
                        ).collect()
    for row in rows[:2]:
        g, f = row.g.asDict(), row.f.asDict()
        assert {k: v for k, v in g.items() if k not in ("bids", "asks")} == {k: f[k] for k in g if k in f}
        assert (f["bid_levels"], f["ask_levels"]) == (len(g["bids"]), len(g["asks"]))
    assert rows[0].f["origin"] == "ORIGIN_SIMULATOR" and rows[0].f["simulator_seed"] == 42
    assert rows[2].g is None and rows[2].f is None
