"""The trade half of the replay against the real broker and Spark: the known trades of a day
become `trades` one for one (exact strings and decimals, every field, Kafka coordinates), a
re-run leaves the same rows, malformed records are in `trades_quarantine` with their reason,
the continuity check finds the deliberate gap, and a missing trade topic leaves books only.

Topics use CreateTime with explicit producer timestamps (past days), as test_replay_job.py.
"""

from __future__ import annotations

import re
import uuid
from decimal import Decimal

import pytest

from quantcore.settings import REPO_ROOT, Settings
from quantcore.topics import CREATE_TIME, temporary_topic
from streaming.spark import delta_tables
from streaming.spark.delta_tables import BOOKS_RAW, table_path
from streaming.spark.replay_job import replay
from streaming.spark.trade_checks import check_trade_id_continuity
from streaming.spark.trade_replay import TRADE_TABLES, TRADES, TRADES_QUARANTINE
from tests.support.replay_records import DAY1, DAY2, PARTITIONS, RECORDS, expected_raw, partition_of, produce_known
from tests.support.trade_records import GAP_SYMBOL
from tests.support.trade_records import TRADES as SENT
from tests.support.trade_records import produce_trades

pytestmark = pytest.mark.slow

FIELDS = ("exchange", "symbol", "trade_id", "aggressor", "trade_time_us", "event_time_us", "ingest_time_us",
          "shard_id", "origin", "simulator_seed", "first_trade_id", "last_trade_id", "stream")


@pytest.fixture(scope="module")
def topics(kafka: Settings):
    with (temporary_topic(kafka.kafka, "qc.test.replay-books", PARTITIONS, CREATE_TIME) as books,
          temporary_topic(kafka.kafka, "qc.test.replay-trades", PARTITIONS, CREATE_TIME) as trades):
        produce_known(kafka.kafka, books)
        produce_trades(kafka.kafka, trades)
        yield books, trades


def rows(spark, settings: Settings, table: str) -> list:
    return spark.read.format("delta").load(table_path(settings.paths, table)).collect()


def as_sent(row) -> tuple:
    """A trades row as the produced record's fields (enums by name) and its Kafka key."""
    return (*(row[name] for name in FIELDS), row.price_text, row.qty_text)


def sent_fields(trade) -> tuple:
    from quantcore import wire

    return (trade.exchange, trade.symbol, trade.trade_id, wire.AggressorSide.Name(trade.aggressor),
            trade.trade_time_us, trade.event_time_us, trade.ingest_time_us, trade.shard_id,
            wire.Origin.Name(trade.origin), trade.simulator_seed, trade.first_trade_id, trade.last_trade_id,
            wire.TradeStream.Name(trade.stream), trade.price, trade.qty)


def test_a_day_of_trades_one_for_one_idempotent_with_its_dead_letters_and_gap(spark, kafka, topics, tmp_path):
    books, trades = topics
    settings = kafka.override(book_topic=books, trade_topic=trades, data_root=str(tmp_path / "delta"))
    first = replay(spark, settings, [DAY1])

    sent = [t for t in SENT if t.day == DAY1]
    good, bad = [t for t in sent if t.trade is not None], [t for t in sent if t.trade is None]
    assert first.trades["status"] == "written" and first.trades["written_days"] == [DAY1.isoformat()]
    assert first.trades["kafka_records"] == {DAY1.isoformat(): len(sent)}
    assert first.trades["rows_by_day"] == {TRADES: {DAY1.isoformat(): len(good)},
                                           TRADES_QUARANTINE: {DAY1.isoformat(): len(bad)}}
    assert first.trades["records_read"] == len(sent) and first.trades["quarantined"] == len(bad)
    assert first.rows_by_day[BOOKS_RAW] == {DAY1.isoformat(): len(expected_raw(DAY1))}, "books as before"
    assert "trades" in first.phase_seconds

    stored = rows(spark, settings, TRADES)
    assert sorted(as_sent(r) for r in stored) == sorted(sent_fields(t.trade) for t in good), "one row per record"
    by_id = {(t.trade.symbol, t.trade.trade_id): t for t in good}
    for row in stored:
        trade = by_id[(row.symbol, row.trade_id)]
        assert (row.price, row.qty) == (Decimal(trade.trade.price), Decimal(trade.trade.qty)), "exact decimals"
        assert row.kafka_partition == partition_of(trade.key) and row.kafka_topic == trades
        assert row.kafka_timestamp_us == trade.ts_ms * 1000 and row.kafka_timestamp_type == "CreateTime"
        assert row.date == DAY1
    assert len({(r.kafka_partition, r.kafka_offset) for r in stored}) == len(stored)

    quarantined = rows(spark, settings, TRADES_QUARANTINE)
    assert sorted((bytes(r.payload), r.reason) for r in quarantined) == sorted((t.value, t.reason) for t in bad)
    assert all(r.date == DAY1 and r.kafka_topic == trades for r in quarantined)

    snapshot = {name: sorted(tuple(r) for r in rows(spark, settings, name)) for name in (TRADES, TRADES_QUARANTINE)}
    again = replay(spark, settings, [DAY1])
    assert again.trades["rows"] == first.trades["rows"]
    assert {name: sorted(tuple(r) for r in rows(spark, settings, name))
            for name in (TRADES, TRADES_QUARANTINE)} == snapshot, "a re-run replaces the day, never duplicates"

    outcome = check_trade_id_continuity(settings.paths, DAY1)
    assert not outcome.passed
    assert outcome.metadata["gaps"] == 1 and outcome.metadata["missing_ids"] == 2 and outcome.metadata["repeats"] == 0
    assert outcome.metadata["gap_examples"] == [{"symbol": GAP_SYMBOL, "stream": "TRADE_STREAM_TRADE",
                                                 "after": 204, "before": 207, "missing": 2}]
    per_symbol = outcome.metadata["per_symbol"]
    assert per_symbol[f"{GAP_SYMBOL} TRADE_STREAM_TRADE"]["missing"] == 2
    assert per_symbol["CCCUSDT TRADE_STREAM_AGG_TRADE"]["gaps"] == 0, "aggregate ids count on their own"
    assert GAP_SYMBOL in outcome.description and "2 id(s) missing" in outcome.description
    assert check_trade_id_continuity(settings.paths, DAY2).description.endswith("no trades"), "DAY2 not replayed"
    doc_queries_give_the_known_numbers(spark, settings, good)

    maintained = delta_tables.maintain(spark, settings.paths, settings.replay, TRADE_TABLES)
    assert set(maintained) == set(TRADE_TABLES), "`quantcore maintain` compacts the trade tables too"
    assert sorted(as_sent(r) for r in rows(spark, settings, TRADES)) == sorted(sent_fields(t.trade) for t in good)


def doc_queries_give_the_known_numbers(spark, settings: Settings, good: list) -> None:
    """docs/analysts.md's trade queries (its ```sql blocks: Spark SQL, then duckdb) on this table."""
    from quantcore.duckdb_delta import connect

    section = (REPO_ROOT / "docs" / "analysts.md").read_text().split("## Trades")[1].split("\n## ")[0]
    spark_sql, duckdb_sql = (block.replace("{root}", settings.paths.delta_root)
                             for block in re.findall(r"^```sql\n(.*?)^```", section, re.M | re.S))
    vwap = {r.symbol: (r.trades, r.vwap, r.tfi) for r in spark.sql(spark_sql).collect()}
    plain = [t.trade for t in good if t.trade.stream == 1]
    for symbol, (count, price, tfi) in vwap.items():
        mine = [t for t in plain if t.symbol == symbol]
        volume = sum(Decimal(t.qty) for t in mine)
        taken = sum(Decimal(t.qty) * (1 if t.aggressor == 1 else -1) for t in mine)
        notional = sum(Decimal(t.price) * Decimal(t.qty) for t in mine)
        assert (count, price, tfi) == (len(mine), pytest.approx(notional / volume), pytest.approx(taken / volume))
    assert set(vwap) == {"AAAUSDT", "BBBUSDT"}, "the @trade streams"
    con = connect()
    gaps, asof = (con.sql(statement).fetchall() for statement in duckdb_sql.split(";") if statement.strip())
    assert gaps == [(GAP_SYMBOL, "TRADE_STREAM_TRADE", 204, 207, 2)]
    assert len(asof) == len(good) and all(row[4] is not None for row in asof), "every trade has a book before it"


def test_without_a_trade_topic_the_replay_writes_books_and_says_so(spark, kafka, topics, tmp_path):
    books, _ = topics
    absent = f"qc.test.no-trades.{uuid.uuid4().hex[:8]}"
    settings = kafka.override(book_topic=books, trade_topic=absent, data_root=str(tmp_path / "delta"))
    result = replay(spark, settings, [DAY2])
    assert result.rows_by_day[BOOKS_RAW] == {DAY2.isoformat(): len(expected_raw(DAY2))}
    assert result.trades["status"] == "no trade topic" and absent in result.trades["note"]
    assert result.kafka_records == {DAY2.isoformat(): sum(r.day == DAY2 for r in RECORDS)}
    assert check_trade_id_continuity(settings.paths, DAY2).passed, "no table: nothing to report"
