"""Micro-price tables: sampling and estimation (pure), the writer applying Redis's table
(fake Redis, refreshed every 60 s), the replay's Column twin of `apply` and its choice of
table by day (Spark)."""

from __future__ import annotations

import json
import random
from datetime import date

import pytest

from quantcore.microstructure.microprice import MicropriceTable, Quote, apply
from streaming.spark import microprice_tables as mt
from tests.unit.test_redis_writer_chaining import FakeRedis, book_row, sink_on

TICK = 0.01


def test_sampling_takes_the_last_book_at_or_before_each_multiple_of_the_interval():
    books = [(1_500_000, 1.0, 2.0, 1.0, 1.0), (2_000_000, 1.1, 2.0, 1.0, 1.0), (2_100_000, 1.2, 2.0, 1.0, 1.0),
             (4_700_000, 1.3, 2.0, 1.0, 1.0)]
    sampled = mt.sample_quotes(books, 1_000_000)
    # t = 2 s: the book of 2.0 s; 3 s and 4 s: the book of 2.1 s (as of); the last book has no sample after it.
    assert [q.bid for q in sampled] == [1.1, 1.2, 1.2]


def random_walk(rng: random.Random, count: int, start_us: int = 0) -> list[tuple]:
    """A book every 100 ms: the mid moves half a tick more often toward the heavier queue."""
    books, bid, t = [], 100.0, start_us
    for _ in range(count):
        t += 100_000
        bid_qty, ask_qty = rng.uniform(0.1, 10), rng.uniform(0.1, 10)
        spread = rng.choice([1, 1, 1, 2])
        if rng.random() < 0.3:
            bid = round(bid + (TICK if rng.random() < bid_qty / (bid_qty + ask_qty) else -TICK), 2)
        books.append((t, bid, round(bid + spread * TICK, 2), bid_qty, ask_qty))
    return books


def estimated(symbol: str = "BTCUSDT", day: date = date(2024, 3, 1)) -> mt.EstimatedTable:
    table = mt.estimate_symbol(symbol, day, (day,), random_walk(random.Random(5), 20_000), TICK, 1_000_000)
    assert table is not None
    return table


def test_an_estimated_table_goes_through_json_and_applies_as_the_pure_function():
    table = estimated()
    assert table.samples == 2000 and table.table.transitions > 1000
    published = mt.Published.parse(json.dumps(table.payload()))
    assert published.table == table.table and published.tick == TICK and published.day == "2024-03-01"
    heavy_bid, heavy_ask = published.microprice(100.0, 100.01, 9.0, 1.0), published.microprice(100.0, 100.01, 1.0, 9.0)
    assert all(abs(value - 100.005) < TICK for value in (heavy_bid, heavy_ask)), "within a tick of the mid"
    assert published.microprice(100.0, 100.05, 1.0, 1.0) is None, "5 ticks: outside the table"
    row = table.row()
    assert len(row["adjustments"]) == 20 and row["estimated_from"] == "2024-03-01..2024-03-01"


def quote_row(symbol: str, update_id: int, bid: float, ask: float, bid_qty: float, ask_qty: float) -> dict:
    return book_row(symbol, update_id, [(bid, bid_qty)], [(ask, ask_qty)])


def test_the_writer_applies_the_symbols_table_from_redis_and_refreshes_it():
    redis = FakeRedis()
    sink, published = sink_on(redis)
    clock = [0.0]
    sink.microprices = mt.TableCache(clock=lambda: clock[0])
    sink.write([quote_row("BTCUSDT", 1, 100.0, 100.01, 9.0, 1.0)])
    assert not published[-1].signals.HasField("microprice"), "no table: absent"

    table = estimated()
    redis.strings[mt.redis_key("BTCUSDT")] = json.dumps(table.payload()).encode()
    clock[0] = 59.0
    sink.write([quote_row("BTCUSDT", 2, 100.0, 100.01, 9.0, 1.0)])
    assert not published[-1].signals.HasField("microprice"), "not re-read before 60 s"
    clock[0] = 60.0
    sink.write([quote_row("BTCUSDT", 3, 100.0, 100.01, 8.0, 1.0), quote_row("BTCUSDT", 4, 100.0, 100.01, 9.0, 1.0)])
    (update,) = published[-1:]
    assert update.update_id == 4
    assert update.signals.microprice == apply(table.table, 100.0, 100.01, 9.0, 1.0, TICK), "the published book's"
    assert json.loads(redis.hashes["qc:sig:BTCUSDT"]["microprice"]) == update.signals.microprice

    sink.write([quote_row("BTCUSDT", 5, 100.0, 100.05, 9.0, 1.0)])
    assert not published[-1].signals.HasField("microprice"), "a state outside the table: absent"
    redis.strings[mt.redis_key("BTCUSDT")] = b"{broken"
    clock[0] = 200.0
    sink.write([quote_row("BTCUSDT", 6, 100.0, 100.01, 9.0, 1.0)])
    assert not published[-1].signals.HasField("microprice"), "a broken payload is no table, not a failure"


def random_quotes(rng: random.Random, count: int) -> list[tuple]:
    quotes = []
    for _ in range(count):
        bid = 100 + rng.randint(-50, 50) * TICK
        values = [bid, bid + rng.choice([0, 1, 1, 2, 3]) * TICK,
                  rng.choice([0.0, rng.uniform(0, 5), round(rng.uniform(0, 5), 1)]),
                  rng.choice([0.0, rng.uniform(0, 5), round(rng.uniform(0, 5), 1)])]
        if rng.random() < 0.03:
            values[rng.randrange(4)] = None
        quotes.append(tuple(values))
    return quotes


@pytest.mark.slow
def test_the_replays_column_equals_apply_and_picks_the_table_of_an_earlier_day(spark, tmp_path):
    from pyspark.sql import functions as F

    from types import SimpleNamespace

    old = estimated(day=date(2024, 3, 1))
    new = mt.EstimatedTable("BTCUSDT", date(2024, 3, 3), (date(2024, 3, 3),), TICK,
                            MicropriceTable(10, 2, tuple(tuple(None if k == 4 else 0.1 * k - 0.45 for k in range(10))
                                                         for _ in range(2)), 6, 0.0, 10, True), 100)
    paths = SimpleNamespace(delta_root=str(tmp_path))  # what table_path reads
    mt.write_tables(paths, old.day, [old])
    path = mt.write_tables(paths, new.day, [new])

    quotes = random_quotes(random.Random(9), 600)
    days = [date(2024, 3, d) for d in (1, 2, 3, 4)]
    rows = [(i, "BTCUSDT", days[i % 4], *q, i % 17 != 0) for i, q in enumerate(quotes)]
    rows.append((len(rows), "ETHUSDT", days[1], 100.0, 100.01, 1.0, 2.0, True))
    frame = spark.createDataFrame(rows, "i int, symbol string, date date, best_bid double, best_ask double, "
                                        "best_bid_qty double, best_ask_qty double, valid boolean")
    got = {r.i: r.microprice for r in mt.add_microprice(spark, frame, path, F.col("valid")).collect()}

    def expected(i: int, day: date, bid, ask, bid_qty, ask_qty, valid: bool, symbol: str = "BTCUSDT"):
        table = {date(2024, 3, 2): old, date(2024, 3, 3): old, date(2024, 3, 4): new}.get(day)
        if not valid or table is None or symbol != "BTCUSDT" or None in (bid, ask, bid_qty, ask_qty):
            return None
        return apply(table.table, bid, ask, bid_qty, ask_qty, TICK)

    wanted = {r[0]: expected(r[0], r[2], *r[3:7], r[7], r[1]) for r in rows}
    assert got == wanted, "bit for bit: the same operations in the same order"
    assert sum(v is not None for v in wanted.values()) > 150 and sum(v is None for v in wanted.values()) > 150
    assert mt.add_microprice(spark, frame, str(tmp_path / "none"), F.col("valid")).where(
        "microprice IS NOT NULL").count() == 0, "no table yet: null"


def test_quote_rows_feed_the_pure_estimate():
    """estimate_symbol = sample_quotes -> transitions -> estimate, as documented."""
    from quantcore.microstructure.microprice import estimate, transitions

    books = random_walk(random.Random(2), 3000)
    table = mt.estimate_symbol("X", date(2024, 3, 1), (date(2024, 3, 1),), books, TICK, 500_000)
    quotes = mt.sample_quotes(books, 500_000)
    assert table.table == estimate(transitions([Quote(*q) for q in quotes], TICK))


# --- ticks: the exchange's exchangeInfo, the simulator's instruments standing in -----------------

def settings_of(source: str):
    from quantcore.settings import load_settings

    return load_settings(source=source, simulator_port=18765, binance_rest_url="https://api.example.test/")


def unreachable(rest_base: str):
    from streaming.ingest.exchange_info import ExchangeUnreachable

    raise ExchangeUnreachable(f"GET {rest_base}/api/v3/exchangeInfo: ConnectionRefusedError")


def test_ticks_come_from_the_configured_sources_exchange_info():
    from tests.unit.test_simulator_rest import GOLDEN_EXCHANGE_INFO

    asked = []
    ticks = mt.exchange_ticks(settings_of("binance"), fetch=lambda base: asked.append(base) or GOLDEN_EXCHANGE_INFO)
    assert asked == ["https://api.example.test"], "the ingest's REST base (endpoints.exchange_urls)"
    assert ticks("ETHBTC") == 0.000001
    assert ticks.by_origin() == {"exchangeInfo https://api.example.test/api/v3/exchangeInfo": ["ETHBTC"]}


def test_without_the_simulators_exchange_info_its_instruments_stand_in():
    ticks = mt.exchange_ticks(settings_of("simulator"), fetch=unreachable)
    assert ticks.info is None and ticks("BTCUSDT") == mt.tick_size("BTCUSDT") == 0.01
    (origin,) = ticks.by_origin()
    assert origin.startswith(mt.SIMULATOR_INSTRUMENTS) and "http://127.0.0.1:18765/api/v3/exchangeInfo" in origin

    listed = mt.exchange_ticks(settings_of("simulator"), fetch=lambda base: {"symbols": []})
    assert listed("BTCUSDT") == 0.01, "a symbol the simulator does not list: its instrument's tick"
    assert "does not list BTCUSDT" in listed.origins["BTCUSDT"]


def test_binance_unreachable_fails_with_the_fix_and_an_unlisted_symbol_is_an_error():
    from quantcore.errors import PlatformError
    from streaming.ingest.exchange_info import ExchangeInfoError

    with pytest.raises(PlatformError, match="need Binance's tick sizes.*QUANTCORE_BINANCE_REST_URL"):
        mt.exchange_ticks(settings_of("binance"), fetch=unreachable)
    ticks = mt.exchange_ticks(settings_of("binance"), fetch=lambda base: {"symbols": []})
    with pytest.raises(ExchangeInfoError, match="does not list BTCUSDT"):
        ticks("BTCUSDT")


def test_a_day_skips_a_symbol_without_a_tick_and_says_why(tmp_path):
    import polars as pl
    from deltalake import write_deltalake

    from quantcore.settings import load_settings
    from streaming.spark.delta_tables import BOOK_SIGNALS

    day = date(2024, 3, 1)
    start = (day - date(1970, 1, 1)).days * 86_400_000_000
    rows = [{"symbol": symbol, "update_id": i + 1, "event_time_us": t, "best_bid": b, "best_ask": a,
             "best_bid_qty": bq, "best_ask_qty": aq, "invalid_reason": None, "date": day}
            for symbol in ("BTCUSDT", "GONEUSDT")
            for i, (t, b, a, bq, aq) in enumerate(random_walk(random.Random(1), 3000, start))]
    root = tmp_path / "delta"
    write_deltalake(f"{root}/{BOOK_SIGNALS}", pl.DataFrame(rows).to_arrow(), partition_by=["date"])
    ticks = mt.exchange_ticks(settings_of("binance"), fetch=lambda base: {"symbols": [
        {"symbol": "BTCUSDT", "filters": [{"filterType": "PRICE_FILTER", "tickSize": "0.01000000"}]}]})
    tables, skipped = mt.estimate_day(load_settings(data_root=str(root)).paths, day, ticks)
    assert [(t.symbol, t.tick) for t in tables] == [("BTCUSDT", 0.01)]
    assert list(skipped) == ["GONEUSDT"] and "no tick size: exchangeInfo does not list GONEUSDT" in skipped["GONEUSDT"]
