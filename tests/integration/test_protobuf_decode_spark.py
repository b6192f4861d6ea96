"""The Java protobuf decoder inside a real SparkSession: every field, presence, bad input."""

from __future__ import annotations

import time

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from quantcore import wire
from streaming.spark.protobuf_decode import decode, message_descriptor, register_decoder, spark_schema

pytestmark = pytest.mark.slow

# `spark` is the shared session fixture of tests/fixtures/services.py (built with the Maven jars).

def levels(n: int, base: float) -> list[wire.PriceLevel]:
    return [wire.PriceLevel(price=f"{base + i * 0.01:.2f}", qty=f"{i + 1}.5") for i in range(n)]


BOOKS = [
    wire.BookRecord(),  # every field at its default: an empty payload, still a valid record
    wire.BookRecord(exchange="binance", symbol="BTCUSDT", event_time_us=1_700_000_000_123_456,
                     update_id=2**62, first_update_id=2**62 - 7, ingest_time_us=2**63 - 1,
                     bids=levels(1, 100.0), asks=levels(1, 100.5),
                     mode=wire.BookMode.BOOK_MODE_PARTIAL_SNAPSHOT, shard_id=2**31 - 1),
    wire.BookRecord(exchange="binance", symbol="ETHUSDT", update_id=42, first_update_id=-1,
                     bids=levels(20, 3000.0), asks=levels(20, 3001.0),
                     mode=wire.BookMode.BOOK_MODE_LOCAL_BOOK, shard_id=-3,
                     origin=wire.Origin.ORIGIN_SIMULATOR, simulator_seed=7),
    wire.BookRecord(symbol="SOLUSDT", asks=levels(20, 150.0)),  # one side empty
]


def expected_book(r: wire.BookRecord) -> dict:
    """The Python-side view of a record, field by field, as the decoded row must carry it."""
    side = lambda ls: [{"price": lv.price, "qty": lv.qty} for lv in ls]  # noqa: E731
    return {
        "exchange": r.exchange, "symbol": r.symbol, "event_time_us": r.event_time_us,
        "update_id": r.update_id, "first_update_id": r.first_update_id,
        "ingest_time_us": r.ingest_time_us, "bids": side(r.bids), "asks": side(r.asks),
        "mode": wire.BookMode.Name(r.mode), "shard_id": r.shard_id,
        "origin": wire.Origin.Name(r.origin), "simulator_seed": r.simulator_seed,
    }


def decoded(spark: SparkSession, payloads: list[bytes | None], message: str) -> list:
    frame = spark.createDataFrame([(i, p) for i, p in enumerate(payloads)], "i INT, value BINARY")
    out = frame.select("i", decode(F.col("value"), message).alias("m"))
    assert out.schema["m"].dataType == spark_schema(message_descriptor(message))
    return [row.m for row in out.orderBy("i").collect()]


def test_book_records_decode_field_for_field(spark):
    truncated = BOOKS[2].SerializeToString()[:-3]
    payloads = [b.SerializeToString() for b in BOOKS] + [b"\xff\xff\xff", truncated, None]

    rows = decoded(spark, payloads, "quantcore.v1.BookRecord")

    assert payloads[0] == b""
    for row, book in zip(rows[:len(BOOKS)], BOOKS, strict=True):
        assert row.asDict(recursive=True) == expected_book(book)
    assert list(rows[2].asDict()) == [f.name for f in wire.BookRecord.DESCRIPTOR.fields]
    assert rows[1].update_id == 2**62 and rows[1].ingest_time_us == 2**63 - 1
    assert len(rows[2].bids) == 20 and rows[2].bids[0].price == "3000.00"
    assert rows[len(BOOKS):] == [None, None, None], "garbage, truncated and null decode to null"


def test_presence_nested_messages_and_nested_enums(spark):
    present = wire.SignalUpdate(symbol="BTCUSDT", update_id=7, mode=wire.BookMode.BOOK_MODE_LOCAL_BOOK,
                                 signals=wire.Signals(obi_1=0.0, mid=100.25, ofi=-3.5),
                                 times=wire.PipelineTimes(ingest_us=5))
    market = wire.MarketUpdate(kind=wire.MarketUpdate.Kind.UPDATE, server_send_us=9,
                                updates=[present, wire.SignalUpdate(symbol="ETHUSDT")])

    update, bare = decoded(spark, [present.SerializeToString(), b""], "quantcore.v1.SignalUpdate")
    (wrapped,) = decoded(spark, [market.SerializeToString()], "quantcore.v1.MarketUpdate")

    assert update.signals.obi_1 == 0.0, "an optional set to zero is present, not null"
    assert update.signals.mid == 100.25 and update.signals.ofi == -3.5
    assert update.signals.obi_5 is None and update.signals.best_ask is None
    assert update.times.asDict() == {"exchange_event_us": 0, "ingest_us": 5, "kafka_append_us": 0,
                                     "compute_us": 0, "publish_us": 0}
    assert update.mode == "BOOK_MODE_LOCAL_BOOK"
    assert bare.signals is None and bare.times is None, "unset messages are null"
    assert (bare.symbol, bare.update_id, bare.mode) == ("", 0, "BOOK_MODE_UNSPECIFIED")
    assert wrapped.kind == "UPDATE" and wrapped.server_send_us == 9
    assert [u.symbol for u in wrapped.updates] == ["BTCUSDT", "ETHUSDT"]
    assert wrapped.updates[0] == update and wrapped.updates[1].signals is None


def test_wire_parser_edge_cases_match_protobuf(spark):
    """The direct wire parser (WireRowParser) against protobuf's own parse of the same bytes:
    concatenated messages (scalars last-wins, repeated appended, a singular message twice
    merged via the DynamicMessage fallback), unknown fields skipped, invalid UTF-8 refused."""
    first = wire.SignalUpdate(symbol="A", update_id=1, signals=wire.Signals(obi_1=0.5, mid=10.0))
    second = wire.SignalUpdate(update_id=2, signals=wire.Signals(mid=11.0, ofi=1.0))
    merged_bytes = first.SerializeToString() + second.SerializeToString()
    merged = wire.SignalUpdate.FromString(merged_bytes)
    unknown_field = b"\xa8\x06\x07" + b"\xb2\x06\x02hi"  # fields 101 (varint) and 102 (bytes)
    book = BOOKS[2]
    appended = book.SerializeToString() + wire.BookRecord(update_id=43, bids=levels(1, 1.0)).SerializeToString()
    bad_utf8 = b"\x12\x02\xc3\x28"  # symbol = an invalid two-byte sequence

    (update,) = decoded(spark, [merged_bytes], "quantcore.v1.SignalUpdate")
    rows = decoded(spark, [book.SerializeToString() + unknown_field, appended, bad_utf8], "quantcore.v1.BookRecord")

    assert (update.symbol, update.update_id) == ("A", 2)
    assert (update.signals.obi_1, update.signals.mid, update.signals.ofi) == (merged.signals.obi_1, 11.0, 1.0)
    assert rows[0].asDict(recursive=True) == expected_book(book), "unknown fields are skipped"
    assert rows[1].asDict(recursive=True) == expected_book(wire.BookRecord.FromString(appended))
    assert len(rows[1].bids) == 21 and rows[1].update_id == 43
    assert rows[2] is None, "a string that is not UTF-8 makes the record undecodable"


def test_bytes_field_and_explicit_descriptor_set(spark):
    letter = wire.DeadLetter(stage="compute", reason="undecodable", payload=b"\x00\xff\xfe",
                              source_partition=29, source_offset=2**40)
    frame = spark.createDataFrame([(letter.SerializeToString(),)], "value BINARY")
    explicit = wire.DESCRIPTOR_SET.read_bytes()

    row = frame.select(decode("value", "quantcore.v1.DeadLetter", explicit).alias("d")).first().d

    assert row.payload == bytearray(b"\x00\xff\xfe")
    assert (row.stage, row.source_partition, row.source_offset) == ("compute", 29, 2**40)


def test_registered_function_is_callable_from_sql(spark):
    name = register_decoder(spark)
    assert register_decoder(spark) == name, "registration is idempotent"
    spark.createDataFrame([(BOOKS[1].SerializeToString(),)], "value BINARY").createOrReplaceTempView("raw")
    spark.createDataFrame([(bytearray(wire.DESCRIPTOR_SET.read_bytes()),)], "d BINARY") \
        .createOrReplaceTempView("descriptor")

    row = spark.sql(f"SELECT {name}(value, d, 'quantcore.v1.BookRecord').symbol AS s, "
                    f"{name}(value, d, 'quantcore.v1.BookRecord').update_id AS u "
                    "FROM raw CROSS JOIN descriptor").first()

    assert (row.s, row.u) == ("BTCUSDT", 2**62)


def test_decode_throughput(spark):
    """Sanity only: prints records/s of one job decoding 200k 20-level books."""
    distinct = [wire.BookRecord(exchange="binance", symbol=f"S{i}", update_id=2**40 + i,
                                 bids=levels(20, 100.0 + i), asks=levels(20, 101.0 + i),
                                 mode=wire.BookMode.BOOK_MODE_LOCAL_BOOK).SerializeToString()
                for i in range(1000)]
    seeds = spark.createDataFrame([(p,) for p in distinct], "value BINARY")
    raw = seeds.crossJoin(spark.range(200).withColumnRenamed("id", "k")).select("value").cache()
    n = raw.count()

    start = time.perf_counter()
    stats = (raw.select(decode("value", "quantcore.v1.BookRecord").alias("b"))
             .agg(F.count("b").alias("ok"), F.sum(F.size("b.bids") + F.size("b.asks")).alias("levels"))
             .first())
    elapsed = time.perf_counter() - start
    raw.unpersist()

    assert n == 200_000 and stats.ok == n and stats.levels == 40 * n
    print(f"\nprotobuf decode: {n} records in {elapsed:.2f}s = {n / elapsed:,.0f} records/s")
