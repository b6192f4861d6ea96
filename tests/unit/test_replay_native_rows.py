"""The bench's native replay yardstick: Kafka records -> books_raw's flat Arrow rows."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pyarrow as pa
from confluent_kafka import TIMESTAMP_CREATE_TIME, TIMESTAMP_LOG_APPEND_TIME

from bench.scenarios.replay_native import SCHEMA, columns_of
from quantcore.wire import BookMode, BookRecord, Origin, PriceLevel
from streaming.spark import book_layout

TOPIC = "qc.books"


def book(symbol: str = "BTCUSDT", bids=(("65000.01000000", "0.00100000"),), asks=(("65000.02", "1.5"),),
         **fields) -> bytes:
    return BookRecord(exchange="binance", symbol=symbol, update_id=fields.pop("update_id", 7),
                      bids=[PriceLevel(price=p, qty=q) for p, q in bids],
                      asks=[PriceLevel(price=p, qty=q) for p, q in asks], **fields).SerializeToString()


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp() * 1000)


def record(value: bytes, offset: int = 0, timestamp_ms: int = 1_709_251_200_000,
           timestamp_type: int = TIMESTAMP_CREATE_TIME) -> tuple:
    return value, 2, offset, timestamp_ms, timestamp_type


def rows(*records) -> list[dict]:
    return columns_of(list(records), TOPIC).to_pylist()


def test_columns_are_books_raw_in_table_order():
    head = ["exchange", "symbol", "event_time_us", "update_id", "first_update_id", "ingest_time_us", "mode",
            "shard_id", "origin", "simulator_seed", "bid_levels", "ask_levels"]
    kafka = ["kafka_topic", "kafka_partition", "kafka_offset", "kafka_timestamp_us", "kafka_timestamp_type"]
    assert SCHEMA.names == [*head, *book_layout.level_columns(), *kafka, "date"]
    assert columns_of([record(book())], TOPIC).schema == SCHEMA
    assert SCHEMA.field("bid_px_1").type == pa.decimal128(book_layout.PRECISION, book_layout.scale("px"))
    assert SCHEMA.field("ask_qty_20").type == pa.decimal128(book_layout.PRECISION, book_layout.scale("qty"))
    assert SCHEMA.field("date").type == pa.date32() and SCHEMA.field("shard_id").type == pa.int32()


def test_fields_and_kafka_coordinates():
    value = book(event_time_us=11, update_id=12, first_update_id=10, ingest_time_us=13, shard_id=3,
                 mode=BookMode.BOOK_MODE_PARTIAL_SNAPSHOT, origin=Origin.ORIGIN_SIMULATOR, simulator_seed=42)
    [row] = rows(record(value, offset=99, timestamp_ms=1_709_251_200_123, timestamp_type=TIMESTAMP_LOG_APPEND_TIME))
    assert {k: row[k] for k in ("exchange", "symbol", "event_time_us", "update_id", "first_update_id",
                                "ingest_time_us", "shard_id", "simulator_seed")} == {
        "exchange": "binance", "symbol": "BTCUSDT", "event_time_us": 11, "update_id": 12, "first_update_id": 10,
        "ingest_time_us": 13, "shard_id": 3, "simulator_seed": 42}
    assert (row["mode"], row["origin"]) == ("BOOK_MODE_PARTIAL_SNAPSHOT", "ORIGIN_SIMULATOR")
    assert (row["kafka_topic"], row["kafka_partition"], row["kafka_offset"]) == (TOPIC, 2, 99)
    assert (row["kafka_timestamp_us"], row["kafka_timestamp_type"]) == (1_709_251_200_123_000, "LogAppendTime")
    assert rows(record(book()))[0]["kafka_timestamp_type"] == "CreateTime"
    assert rows(record(book()))[0]["mode"] == "BOOK_MODE_UNSPECIFIED"


def test_levels_beyond_the_records_are_null_and_counted():
    bids = [(f"{100 - i}.5", f"{i + 1}") for i in range(3)]
    asks = [("101.25", "0.5"), ("101.5", "2")]
    [row] = rows(record(book(bids=bids, asks=asks)))
    assert (row["bid_levels"], row["ask_levels"]) == (3, 2)
    assert [row[f"bid_px_{n}"] for n in (1, 2, 3)] == [Decimal("100.5"), Decimal("99.5"), Decimal("98.5")]
    assert [row[f"bid_qty_{n}"] for n in (1, 2, 3)] == [Decimal(1), Decimal(2), Decimal(3)]
    assert [row[f"ask_px_{n}"] for n in (1, 2)] == [Decimal("101.25"), Decimal("101.5")]
    assert row["ask_qty_2"] == Decimal(2)
    for n in range(4, book_layout.DEPTH + 1):
        assert row[f"bid_px_{n}"] is None and row[f"bid_qty_{n}"] is None
    for n in range(3, book_layout.DEPTH + 1):
        assert row[f"ask_px_{n}"] is None and row[f"ask_qty_{n}"] is None
    full = [(f"{i}.1", "1") for i in range(1, book_layout.DEPTH + 1)]
    [row] = rows(record(book(bids=full, asks=[])))
    assert (row["bid_levels"], row["ask_levels"], row[f"bid_px_{book_layout.DEPTH}"]) == (20, 0, Decimal("20.1"))


def test_decimals_are_exact():
    [row] = rows(record(book(bids=[("65000.01000000", "0.00001000")], asks=[("0.00000001", "123456789012.5")])))
    assert row["bid_px_1"] == Decimal("65000.01") and str(row["bid_px_1"]) == "65000.01000000"
    assert row["bid_qty_1"] == Decimal("0.00001")
    assert row["ask_px_1"] == Decimal("0.00000001") and row["ask_qty_1"] == Decimal("123456789012.5")


def test_date_is_the_utc_day_of_the_kafka_timestamp():
    last_ms, midnight = ms("2024-03-01T23:59:59.999"), ms("2024-03-02T00:00:00")
    assert midnight - last_ms == 1
    batch = rows(record(book(), 0, last_ms), record(book(), 1, midnight))
    assert [r["date"] for r in batch] == [date(2024, 3, 1), date(2024, 3, 2)]
    assert [r["kafka_timestamp_us"] for r in batch] == [last_ms * 1000, midnight * 1000]


def test_records_that_do_not_decode_or_fit_are_left_out_in_order():
    deep = [("1.0", "1")] * (book_layout.DEPTH + 1)
    bad = [b"\xff\xff\xff", book(symbol=""), book(bids=deep), book(bids=[("1.123456789", "1")]),
           book(asks=[("1", "0.0000001")]), book(bids=[("12345678901", "1")]), book(asks=[("1", "1e5")]),
           book(bids=[("abc", "1")]), book(bids=[("", "1")])]
    good = [book(update_id=n) for n in range(len(bad) + 1)]
    mixed = [good[0], *(v for pair in zip(bad, good[1:]) for v in pair)]
    batch = rows(*(record(value, offset) for offset, value in enumerate(mixed)))
    assert [r["update_id"] for r in batch] == list(range(len(good)))
    assert [r["kafka_offset"] for r in batch] == [0, *range(2, len(mixed), 2)]
    assert rows(*(record(value) for value in bad)) == []
    assert rows() == []


def test_fit_agrees_with_book_layout():
    values = ["65000.01000000", "1e5", "1E-2", "+1.5", "-0.1", " 1.0", "1.123456789", "1.123456780", "0.0000001",
              "9999999999.99999999", "12345678901.0", "abc", ".5", "5.", "-.5", "+-5", "007.5", "0x10", "nan"]
    for value in values:
        kept = rows(record(book(bids=[(value, "1")], asks=[("1", value)])))
        assert bool(kept) == (book_layout.fits(value, "px") and book_layout.fits(value, "qty")), value
