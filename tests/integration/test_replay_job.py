"""The replay against the real broker and Spark: two simulated days, each day alone and --all,
exact values, the stream's signals, idempotent re-runs, quarantine and retention gaps.

The test topic uses CreateTime with explicit producer timestamps (a LogAppendTime topic
cannot be given past days); the replay reads Kafka's `timestamp` whatever its type.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from confluent_kafka import TopicPartition
from pyspark.sql import functions as F

from quantcore.clients import admin_client
from quantcore.settings import PathsSettings, Settings
from quantcore.timeutil import day_start_ms
from quantcore.topics import CREATE_TIME, temporary_topic
from streaming.spark import book_layout, book_validation, delta_tables
from streaming.spark.delta_tables import BOOK_SIGNALS, BOOKS_QUARANTINE, BOOKS_RAW, table_path
from quantcore.microstructure import ofi_levels
from streaming.spark.ofi import TopOfBook, ofi_value
from streaming.spark.replay_job import UNFIT_LEVELS, replay
from tests.support.replay_records import (
    DAY1,
    DAY2,
    PARTITIONS,
    RECORDS,
    SYMBOLS,
    expected_raw,
    expected_signal_books,
    partition_of,
    produce_known,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def topic(kafka: Settings):
    with temporary_topic(kafka.kafka, "qc.test.replay", PARTITIONS, CREATE_TIME) as name:
        produce_known(kafka.kafka, name)
        yield name


@pytest.fixture
def settings(kafka: Settings, topic: str, tmp_path) -> Settings:
    """A fresh, empty data root per test."""
    return kafka.override(book_topic=topic, data_root=str(tmp_path / "delta"))


@pytest.fixture(scope="module")
def replayed(spark, kafka: Settings, topic: str, tmp_path_factory):
    """Both days replayed once, for the tests that only read: (settings, result)."""
    settings = kafka.override(book_topic=topic, data_root=str(tmp_path_factory.mktemp("delta")))
    return settings, replay(spark, settings, [DAY1, DAY2])


def table_rows(spark, paths: PathsSettings, name: str, exclude=()) -> list[tuple]:
    frame = spark.read.format("delta").load(table_path(paths, name))
    columns = [c for c in frame.columns if c not in exclude]
    return sorted(tuple(row) for row in frame.select(columns).collect())


def snapshot(spark, paths: PathsSettings) -> dict[str, list[tuple]]:
    return {name: table_rows(spark, paths, name) for name in delta_tables.TABLES}


# --- tests ----------------------------------------------------------------------------------------

def test_each_day_then_all_gives_the_same_rows(spark, settings):
    first = replay(spark, settings, [DAY1])
    assert first.written_days == ["2024-03-01"] and first.complete
    assert first.kafka_records == {"2024-03-01": sum(r.day == DAY1 for r in RECORDS)}
    assert first.rows_by_day[BOOKS_RAW] == {"2024-03-01": len(expected_raw(DAY1))}
    assert first.rows[BOOKS_RAW] + first.rows[BOOKS_QUARANTINE] == first.kafka_records["2024-03-01"]
    assert first.rows[BOOK_SIGNALS] == len(expected_signal_books(DAY1)) == len(expected_raw(DAY1)) - 1, \
        "the re-sent duplicate is one signal row"
    second = replay_in_time_zone(spark, settings, [DAY2], "America/New_York")
    assert second.rows_by_day[BOOKS_RAW] == {"2024-03-02": len(expected_raw(DAY2))}, \
        "days come from Kafka's timestamps, whatever the session time zone"
    by_day = snapshot(spark, settings.paths)

    everything = replay(spark, settings, None)
    assert everything.days == ["2024-03-01", "2024-03-02"]
    assert len(everything.offsets) == 1, "--all is one Kafka read"
    assert everything.records_read == len(RECORDS)
    assert snapshot(spark, settings.paths) == by_day, "a re-run (--all) replaces, never duplicates"

    empty = replay(spark, settings, [date(2024, 3, 5)])
    assert empty.rows == {name: 0 for name in delta_tables.TABLES} and empty.kafka_records == {"2024-03-05": 0}
    assert snapshot(spark, settings.paths) == by_day, "an empty day clears that day only"


def replay_in_time_zone(spark, settings: Settings, days: list[date], zone: str):
    previous = spark.conf.get("spark.sql.session.timeZone")
    spark.conf.set("spark.sql.session.timeZone", zone)
    try:
        return replay(spark, settings, days)
    finally:
        spark.conf.set("spark.sql.session.timeZone", previous)


def test_books_raw_keeps_every_field_exactly(spark, replayed):
    settings, _ = replayed
    rows = spark.read.format("delta").load(table_path(settings.paths, BOOKS_RAW)).collect()

    produced = sorted((r.book.symbol, r.book.update_id, r.ts_ms * 1000, r.duplicate)
                      for r in RECORDS if r.book is not None)
    stored = sorted((row.symbol, row.update_id, row.kafka_timestamp_us, False) for row in rows)
    assert [p[:3] for p in produced] == [s[:3] for s in stored]
    by_key = {(r.book.symbol, r.book.update_id, r.ts_ms * 1000): r for r in RECORDS if r.book is not None}
    for row in rows:
        sent = by_key[(row.symbol, row.update_id, row.kafka_timestamp_us)]
        assert (row.bid_levels, row.ask_levels) == (len(sent.book.bids), len(sent.book.asks))
        for side, levels in (("bid", sent.book.bids), ("ask", sent.book.asks)):
            stored = [(row[f"{side}_px_{i}"], row[f"{side}_qty_{i}"]) for i in range(1, book_layout.DEPTH + 1)]
            exact = [(Decimal(lv.price), Decimal(lv.qty)) for lv in levels]
            assert stored == exact + [(None, None)] * (book_layout.DEPTH - len(levels)), "exact decimals, flat"
        assert (row.exchange, row.event_time_us, row.ingest_time_us, row.mode) == (
            "binance", sent.book.event_time_us, sent.book.ingest_time_us, "BOOK_MODE_LOCAL_BOOK")
        assert row.kafka_timestamp_type == "CreateTime" and row.kafka_topic == settings.kafka.book_topic
        assert row.date == sent.day
    offsets = {(row.kafka_partition, row.kafka_offset) for row in rows}
    assert len(offsets) == len(rows), "Kafka coordinates identify each record"
    last_of_day1 = [row for row in rows if row.kafka_timestamp_us == (day_start_ms(DAY2) - 1) * 1000]
    first_of_day2 = [row for row in rows if row.kafka_timestamp_us == day_start_ms(DAY2) * 1000]
    assert [r.date for r in last_of_day1] == [DAY1] and [r.date for r in first_of_day2] == [DAY2]


def sent_books(spark):
    """The produced books as the stream sees them (levels as decimal strings), straight from
    the records, not from the replay."""
    level = "array<struct<price:string,qty:string>>"
    rows = [(r.book.symbol, r.book.update_id, [(lv.price, lv.qty) for lv in r.book.bids],
             [(lv.price, lv.qty) for lv in r.book.asks]) for r in RECORDS if r.book is not None]
    return spark.createDataFrame(rows, f"symbol string, update_id long, bids {level}, asks {level}")


def test_signals_equal_the_streaming_module(spark, replayed):
    from streaming.spark import signals

    settings, _ = replayed
    replayed_rows = spark.read.format("delta").load(table_path(settings.paths, BOOK_SIGNALS))
    books = sent_books(spark)
    levels = signals.level_columns(F.col("bids"), F.col("asks"))
    direct = signals.add_signals(books.withColumns(levels), settings.signals.obi_lambda)
    compared = [c for c in (*signals.SIGNAL_COLUMNS, *signals.BOOK_TOP_COLUMNS)
                if c not in signals.CHAINED_COLUMNS]  # OFI: below

    key = ["symbol", "update_id"]
    valid = replayed_rows.where("invalid_reason IS NULL")
    expected = {tuple(r[:2]): tuple(r[2:]) for r in direct.select(*key, *compared).collect()}
    got = {tuple(r[:2]): tuple(r[2:]) for r in valid.select(*key, *compared).collect()}
    assert got == {k: expected[k] for k in got}, "replayed values are the stream's expressions, bit for bit"
    assert sorted(got) == [(b.symbol, b.update_id) for b in expected_signal_books()]
    assert replayed_rows.count() == len(expected_signal_books(valid_only=False)), "one row per (symbol, update_id)"

    rows = {(r.symbol, r.update_id): r for r in replayed_rows.collect()}
    for book in expected_signal_books():  # an independent look at a few values
        if not book.asks:
            continue
        bid, ask = book.bids[0], book.asks[0]
        row = rows[(book.symbol, book.update_id)]
        assert row.mid == pytest.approx((float(bid.price) + float(ask.price)) / 2)
        assert row.obi_1 == pytest.approx((float(bid.qty) - float(ask.qty)) / (float(bid.qty) + float(ask.qty)))
    one_sided = [r for r in rows.values() if r.best_ask is None and r.invalid_reason is None]
    assert len(one_sided) == 1 and one_sided[0].obi_5 == 1.0 and one_sided[0].mid is None
    rejected = [r for r in rows.values() if r.invalid_reason is not None]
    assert [r.invalid_reason for r in rejected] == [book_validation.CROSSED]
    assert all(rejected[0][name] is None for name in signals.SIGNAL_COLUMNS), "the stream publishes nothing for it"


def test_ofi_chains_consecutive_valid_books_of_a_symbol_within_the_day(spark, replayed):
    """Against the stream's plain-Python OFI twin, chained here book by book (a rejected book
    is skipped, as the stream's writer never sees it)."""
    settings, _ = replayed
    replayed_rows = spark.read.format("delta").load(table_path(settings.paths, BOOK_SIGNALS))
    got = {(r.symbol, r.update_id): r.ofi for r in replayed_rows.select("symbol", "update_id", "ofi").collect()}
    top = lambda b: TopOfBook(*(float(v) if v else None for v in (  # noqa: E731
        b.bids[0].price if b.bids else None, b.bids[0].qty if b.bids else None,
        b.asks[0].price if b.asks else None, b.asks[0].qty if b.asks else None)))
    valid = {(b.symbol, b.update_id) for b in expected_signal_books()}
    expected = {}
    for day in (DAY1, DAY2):
        previous = {}
        for book in expected_signal_books(day, valid_only=False):
            if (book.symbol, book.update_id) not in valid:
                expected[(book.symbol, book.update_id)] = None
                continue
            expected[(book.symbol, book.update_id)] = ofi_value(previous.get(book.symbol), top(book))
            previous[book.symbol] = top(book)
    assert got == expected
    assert sum(v is None for v in got.values()) >= 2 * len(SYMBOLS), "each symbol's first book of a day has none"
    assert sum(v is not None for v in got.values()) > len(got) // 2


def test_multi_level_ofi_is_the_stream_writers_function_chained_the_same_way(spark, replayed):
    """book_signals.ofi_levels against quantcore.microstructure.ofi_levels, the function the
    stream's writer applies (tests/unit/test_redis_writer_chaining.py), chained book by book
    over the valid books of a symbol and day; level 1 against the replay's own `ofi`."""
    settings, _ = replayed
    replayed_rows = spark.read.format("delta").load(table_path(settings.paths, BOOK_SIGNALS))
    rows = {(r.symbol, r.update_id): r for r in replayed_rows.select("symbol", "update_id", "ofi", "ofi_levels")
            .collect()}
    side = lambda levels: [(float(lv.price), float(lv.qty)) for lv in levels][:10]  # noqa: E731
    valid = {(b.symbol, b.update_id) for b in expected_signal_books()}
    expected = {}
    for day in (DAY1, DAY2):
        previous = {}
        for book in expected_signal_books(day, valid_only=False):
            key = (book.symbol, book.update_id)
            if key not in valid:
                expected[key] = None
                continue
            current = (side(book.bids), side(book.asks))
            values = ofi_levels(*previous[book.symbol], *current) if book.symbol in previous else [None]
            expected[key] = None if values[0] is None else values
            previous[book.symbol] = current
    assert {key: row.ofi_levels for key, row in rows.items()} == expected
    for row in rows.values():
        assert (row.ofi_levels is None) == (row.ofi is None) and (row.ofi is None or row.ofi_levels[0] == row.ofi)
    assert sum(row.ofi_levels is not None for row in rows.values()) > len(rows) // 2
    assert any(row.ofi_levels and any(v != 0.0 for v in row.ofi_levels[1:]) for row in rows.values()), \
        "deeper levels carry flow too"
    schema = {f.name: f.dataType.simpleString() for f in replayed_rows.schema.fields}
    assert schema["ofi_levels"] == "array<double>"


def test_bad_records_are_quarantined_and_the_day_completes(spark, replayed):
    settings, result = replayed
    assert result.quarantined == 3 and result.complete
    quarantined = (spark.read.format("delta").load(table_path(settings.paths, BOOKS_QUARANTINE))
                   .orderBy("kafka_timestamp_us").collect())

    bad = [r for r in RECORDS if r.book is None]
    assert [(q.payload, q.kafka_timestamp_us, q.date) for q in quarantined] == [
        (bytearray(r.value), r.ts_ms * 1000, r.day) for r in bad]
    assert [q.reason for q in quarantined] == [book_validation.UNDECODABLE, book_validation.MISSING_SYMBOL,
                                               UNFIT_LEVELS]
    assert [q.kafka_partition for q in quarantined] == [partition_of(r.key) for r in bad]
    assert all(q.kafka_offset >= 0 and q.kafka_timestamp_type == "CreateTime" for q in quarantined)
    assert result.rows_by_day[BOOKS_QUARANTINE] == {"2024-03-01": 1, "2024-03-02": 2}


def test_tables_document_their_schema(replayed):
    from deltalake import DeltaTable

    settings, _ = replayed
    for name in delta_tables.TABLES:
        table = DeltaTable(table_path(settings.paths, name))
        metadata = table.metadata()
        assert metadata.partition_columns == ["date"]
        assert metadata.description == delta_tables.DESCRIPTIONS[name]
        assert metadata.configuration["quantcore.table"] == name
        comments = {f.name: (f.metadata or {}).get("comment") for f in table.schema().fields}
        assert all(comments.values()), f"{name}: columns without a comment: {comments}"
        assert comments["date"] == delta_tables.COMMENTS["date"]


def test_retention_gap_is_reported_and_never_overwrites_a_day(spark, kafka, tmp_path):
    with temporary_topic(kafka.kafka, "qc.test.retention", PARTITIONS, CREATE_TIME) as name:
        settings = kafka.override(book_topic=name, data_root=str(tmp_path / "delta"))
        produce_known(kafka.kafka, name)
        complete = replay(spark, settings, [DAY1, DAY2])
        kept = table_rows(spark, settings.paths, BOOKS_RAW)

        # Retention (here: delete-records) drops the first two records of partition 0.
        admin = admin_client(kafka.kafka)  # keep a reference: a collected client never completes its futures
        for future in admin.delete_records([TopicPartition(name, 0, 2)], request_timeout=30, operation_timeout=30).values():
            future.result(30)
        again = replay(spark, settings, [DAY1, DAY2])

        assert not again.complete and again.skipped_days == ["2024-03-01"]
        assert again.missing_ranges == [{"date": "2024-03-01", "partition": 0, "low_watermark": 2,
                                         "earliest_retained_timestamp_ms": again.missing_ranges[0][
                                             "earliest_retained_timestamp_ms"]}]
        assert table_rows(spark, settings.paths, BOOKS_RAW) == kept, "the cut day keeps its complete rows"
        assert again.rows_by_day[BOOKS_RAW] == {"2024-03-02": complete.rows_by_day[BOOKS_RAW]["2024-03-02"]}

        partial = replay(spark, settings, [DAY1], allow_partial=True)
        assert partial.rows_by_day[BOOKS_RAW]["2024-03-01"] == complete.rows_by_day[BOOKS_RAW]["2024-03-01"] - 2
        assert not partial.complete


def test_realized_volatility_is_the_stream_writers_windows(spark, replayed):
    """book_signals.rv_* against streaming.spark.mid_volatility.MidVolatility, the writer's
    state, fed book by book with the valid books of a symbol and day (the known books are
    seconds apart: few windows hold two mids; tests/unit/test_mid_volatility.py covers
    dense random books)."""
    from streaming.spark.mid_volatility import MidVolatility
    from streaming.spark.signals import RV_COLUMNS

    settings, _ = replayed
    replayed_rows = spark.read.format("delta").load(table_path(settings.paths, BOOK_SIGNALS))
    got = {(r.symbol, r.update_id): tuple(r[name] for name in RV_COLUMNS)
           for r in replayed_rows.select("symbol", "update_id", *RV_COLUMNS).collect()}
    valid = {(b.symbol, b.update_id) for b in expected_signal_books()}
    expected = {}
    for day in (DAY1, DAY2):
        state = MidVolatility()
        for book in expected_signal_books(day, valid_only=False):
            key = (book.symbol, book.update_id)
            mid = (float(book.bids[0].price) + float(book.asks[0].price)) / 2 if book.bids and book.asks else None
            if key in valid:
                state.feed(book.symbol, book.update_id, book.event_time_us, mid)
            values = state.values(book.symbol, book.update_id) if key in valid else dict.fromkeys(RV_COLUMNS)
            expected[key] = tuple(values[name] for name in RV_COLUMNS)
    assert got == expected
    schema = {f.name: f.dataType.simpleString() for f in replayed_rows.schema.fields}
    assert all(schema[name] == "double" for name in (*RV_COLUMNS, "microprice"))
