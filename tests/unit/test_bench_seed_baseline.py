"""The Spark baseline's pure parts: the seed's JSON records are our protobuf books field for
field, its payload round-trips, and per-record visibility counts superseded books."""

from __future__ import annotations

import datetime
import json

import pytest

from quantcore import wire
from bench.scenarios.compute import BookFeed, Published
from bench.scenarios.seed_books import BOOK_SCHEMA, JsonBookFeed, book_json, json_update_id
from bench.scenarios.seed_json_job import seed_payload, seed_published
from bench.scenarios.visibility import Appended, visible_after_ms

TIME_FIELDS = {"event_time_us", "ingest_time_us"}  # stamped when a record is made


def a_book() -> wire.BookRecord:
    return wire.BookRecord(
        exchange="binance", symbol="BTCUSDT", event_time_us=11, update_id=70_000_000_001, first_update_id=70_000_000_000,
        ingest_time_us=12, bids=[wire.PriceLevel(price="100.10", qty="0.5000"), wire.PriceLevel(price="100.00", qty="2")],
        asks=[wire.PriceLevel(price="100.20", qty="1.25")], mode=wire.BookMode.BOOK_MODE_LOCAL_BOOK, shard_id=2)


def test_json_record_is_the_protobuf_record_field_for_field():
    book = a_book()
    record = json.loads(book_json(book))

    assert list(record) == [field.name for field in wire.BookRecord.DESCRIPTOR.fields]
    assert record["bids"] == [["100.10", "0.5000"], ["100.00", "2"]] and record["asks"] == [["100.20", "1.25"]]
    assert record["mode"] == "BOOK_MODE_LOCAL_BOOK" and record["origin"] == "ORIGIN_UNSPECIFIED"
    scalars = set(record) - {"bids", "asks", "mode", "origin"}
    assert {name: record[name] for name in scalars} == {name: getattr(book, name) for name in scalars}
    assert json_update_id(book_json(book)) == 70_000_000_001


def test_the_from_json_schema_names_every_protobuf_field_in_order():
    names = [column.strip().split(" ")[0] for column in BOOK_SCHEMA.split(", ")]
    assert names == [field.name for field in wire.BookRecord.DESCRIPTOR.fields]


def test_json_feed_offers_the_same_books_as_the_protobuf_feed():
    symbols = ["AUSDT", "BUSDT"]
    ours, seeds = BookFeed(symbols), JsonBookFeed(symbols)
    for symbol in symbols * 20:
        expected = json.loads(book_json(wire.BookRecord.FromString(ours.record(symbol))))
        got = json.loads(seeds.record(symbol))
        assert {k: v for k, v in got.items() if k not in TIME_FIELDS} == \
            {k: v for k, v in expected.items() if k not in TIME_FIELDS}
        assert len(got["bids"]) == len(got["asks"]) == 20
    assert seeds.produced() == ours.produced() == 40


def test_seed_payload_is_strings_and_reads_back():
    row = {"symbol": "BTCUSDT", "update_id": 7, "obi_5": 0.25, "mid": 100.15, "spread": 0.1, "kafka_append_us": 1_000,
           "compute_us": 1_500}
    payload = seed_payload(row, publish_us=2_000)

    assert all(isinstance(value, str) for value in payload.values())
    assert seed_published(json.dumps(payload).encode()) == Published("BTCUSDT", 7, 1_000, 2_000)


def test_a_superseded_record_is_visible_when_a_newer_book_is_published():
    records = [Appended("A", 1, 1_000), Appended("A", 2, 2_000), Appended("A", 3, 3_000), Appended("B", 1, 1_000),
               Appended("A", 9, 9_000)]
    published = [Published("A", 3, 3_000, 13_000), Published("A", 1, 1_000, 5_000), Published("B", 1, 1_000, 4_000)]

    delays, unseen = visible_after_ms(records, published)

    # A1 at its own publish; A2 with A3's; B1 its own; A9 never published
    assert delays == [4.0, 11.0, 10.0, 3.0] and unseen == 1


def test_an_earlier_publish_of_a_newer_id_counts_first():
    published = [Published("A", 5, 0, 3_000), Published("A", 4, 0, 8_000)]  # out of order
    assert visible_after_ms([Appended("A", 4, 1_000)], published) == ([2.0], 0)


@pytest.mark.slow
def test_the_seed_query_parses_the_json_and_computes_obi_top_5(spark):
    from bench.scenarios.seed_json_job import seed_rows

    appended = datetime.datetime(2026, 11, 24, tzinfo=datetime.UTC)
    kafka = spark.createDataFrame([(bytearray(book_json(a_book())), appended)], "value BINARY, timestamp TIMESTAMP")

    (row,) = seed_rows(kafka).collect()

    assert (row["symbol"], row["update_id"]) == ("BTCUSDT", 70_000_000_001)
    assert row["obi_5"] == pytest.approx((2.5 - 1.25) / (2.5 + 1.25))
    assert row["mid"] == pytest.approx(100.15) and row["spread"] == pytest.approx(0.1)
    assert row["kafka_append_us"] == int(appended.timestamp() * 1_000_000) and row["compute_us"] > 0
