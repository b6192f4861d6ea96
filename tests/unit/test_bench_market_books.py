"""The replay bench's market books: BookRecords as the ingest writes them, 20 sorted levels a
side from the market model, stamped one step per symbol, and the cache gives back exactly
what the model made."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from bench import market_books
from quantcore import wire
from quantcore.timeutil import day_start_ms

SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
DAY = date(2024, 3, 1)


def parsed(records):
    return [(key, wire.BookRecord.FromString(value), timestamp_ms) for key, value, timestamp_ms in records]


def test_books_are_full_sorted_and_keyed_by_symbol():
    for key, book, _ in parsed(market_books.market_day(SYMBOLS, 30, DAY)):
        assert key == book.symbol.encode()
        bids = [Decimal(level.price) for level in book.bids]
        asks = [Decimal(level.price) for level in book.asks]
        assert len(bids) == len(asks) == market_books.DEPTH
        assert bids == sorted(bids, reverse=True) and asks == sorted(asks) and bids[0] < asks[0]
        assert all(Decimal(level.qty) > 0 for level in [*book.bids, *book.asks])
        assert book.origin == wire.Origin.Value("ORIGIN_SIMULATOR")


def test_each_symbol_steps_every_100_ms_with_ingest_after_the_exchange():
    books = parsed(market_books.market_day(SYMBOLS, 60, DAY))
    start_us = day_start_ms(DAY) * 1000
    for n, (_, book, timestamp_ms) in enumerate(books):
        step = n // len(SYMBOLS)
        assert 0 <= book.event_time_us - (start_us + step * 100_000) < 3_000
        assert 300 <= book.ingest_time_us - book.event_time_us < 3_000
        assert timestamp_ms == book.ingest_time_us // 1000
    for symbol in SYMBOLS:
        ids = [book.update_id for _, book, _ in books if book.symbol == symbol]
        firsts = [book.first_update_id for _, book, _ in books if book.symbol == symbol]
        assert all(first == previous + 1 for previous, first in zip(ids, firsts[1:])), "update ids chain per symbol"


def test_the_cache_returns_the_models_records_and_a_second_read_reuses_it(tmp_path, monkeypatch):
    monkeypatch.setattr(market_books, "CACHE_DIR", tmp_path)
    made = list(market_books.market_day(SYMBOLS, 40, DAY))

    assert list(market_books.cached_market_day(SYMBOLS, 40, DAY)) == made
    (cache,) = tmp_path.glob("market-day-40-*.bin")
    stamp = cache.stat().st_mtime_ns
    assert list(market_books.cached_market_day(SYMBOLS, 40, DAY)) == made
    assert cache.stat().st_mtime_ns == stamp and not list(tmp_path.glob("*.partial"))
