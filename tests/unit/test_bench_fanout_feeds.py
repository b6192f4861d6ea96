"""The fanout benchmark's feeds (bench/scenarios/fanout_feeds.py): the books load, how the
subscribers read each feed's messages, and their bookkeeping. No services: messages are
built by the server's own code (serving.kinds), Kafka is a list."""

from __future__ import annotations

from array import array

import pytest

from bench.scenarios.fanout import write_load
from bench.scenarios.fanout_clients import open_subscribers
from bench.scenarios.fanout_feeds import SIGNALS, BooksFeed, BookWriter, book_pool, feed_named, restamped
from bench.scenarios.fanout_python import StreamStats, complete, tally
from quantcore.errors import PlatformError
from quantcore.samples import signal_update
from quantcore.wire import BookRecord, market_data_pb2
from serving.kinds import BOOKS, SIGNALS as SIGNAL_KIND

SYMBOLS = ("BTCUSDT", "ETHUSDT")


@pytest.fixture(scope="module")
def pool():
    return book_pool(SYMBOLS, ticks=3)


def book_message(pool, update_id: int, stamp_us: int, append_us: int, send_us: int, *, snapshot=False,
                 depth=20) -> bytes:
    """A BookUpdate as the server sends it: the writer's records, framed by the books kind."""
    changes = [BOOKS.decode(restamped(pool[0][symbol], update_id, stamp_us), append_us) for symbol in SYMBOLS]
    return BOOKS.message(snapshot, changes, depth, send_us)


class FakeSink:
    def __init__(self) -> None:
        self.published: list[tuple[str, bytes]] = []

    def publish(self, symbol: str, value: bytes) -> None:
        self.published.append((symbol, value))


class Counters:
    delivery_errors = 0


def test_the_pool_holds_a_20_level_book_of_every_symbol_each_tick(pool):
    assert len(pool) == 3 and all(set(books) == set(SYMBOLS) for books in pool)
    record = BookRecord.FromString(pool[2]["ETHUSDT"])
    assert record.symbol == "ETHUSDT" and len(record.bids) == len(record.asks) == 20
    assert book_pool(SYMBOLS, ticks=3) is pool, "built once, every round cycles through the same books"


def test_a_restamped_book_keeps_its_levels_and_takes_the_rounds_id_and_time(pool):
    original = BookRecord.FromString(pool[0]["BTCUSDT"])

    record = BookRecord.FromString(restamped(pool[0]["BTCUSDT"], 1_765_000_000_000_123, 1_765_000_000_500_000))

    assert (record.update_id, record.first_update_id) == (1_765_000_000_000_123,) * 2
    assert (record.ingest_time_us, record.event_time_us) == (1_765_000_000_500_000,) * 2
    assert list(record.bids) == list(original.bids) and list(record.asks) == list(original.asks)


def test_the_book_writer_produces_each_symbol_keyed_and_reports_what_it_stamped(pool):
    sink = FakeSink()
    writer = BookWriter(sink, pool, Counters())

    written = writer.write(SYMBOLS, 77, tick=4)  # the pool cycles: tick 4 is its book 1

    assert [symbol for symbol, _ in sink.published] == list(SYMBOLS)
    records = [BookRecord.FromString(value) for _, value in sink.published]
    assert [(r.symbol, r.update_id, r.ingest_time_us) for r in records] == written
    assert list(records[0].bids) == list(BookRecord.FromString(pool[1]["BTCUSDT"]).bids)
    assert writer.figures() == {"kafka_delivery_errors": 0}


def test_write_load_writes_a_tick_at_once_in_burst_and_a_symbol_at_a_time_in_spread():
    class Recorder:
        def __init__(self) -> None:
            self.calls = []

        def write(self, symbols, update_id, tick):
            self.calls.append((tuple(symbols), update_id, tick))
            return [(s, update_id, 1_000 * tick) for s in symbols]

    burst, spread, published = Recorder(), Recorder(), {}
    write_load(burst, SYMBOLS, 10, 2, "burst", published)
    write_load(spread, SYMBOLS, 10, 2, "spread")

    assert burst.calls == [(SYMBOLS, 10, 0), (SYMBOLS, 11, 1)]
    assert spread.calls == [(("BTCUSDT",), 10, 0), (("ETHUSDT",), 10, 0), (("BTCUSDT",), 11, 1), (("ETHUSDT",), 11, 1)]
    assert published == {("BTCUSDT", 10): 0, ("ETHUSDT", 10): 0, ("BTCUSDT", 11): 1_000, ("ETHUSDT", 11): 1_000}


def test_books_subscribers_read_what_subscribe_books_sends(pool):
    feed = BooksFeed(depth=5)
    request = market_data_pb2.SubscribeBooksRequest.FromString(feed.request())
    assert (list(request.symbols), request.depth) == ([], 5)

    received = feed.parse(book_message(pool, 9, stamp_us=1_000, append_us=3_000, send_us=4_500, depth=5))

    assert not received.snapshot and received.server_send_us == 4_500 and received.hop_start_us == 3_000
    assert received.updates == [("BTCUSDT", 9, 1_000), ("ETHUSDT", 9, 1_000)]
    assert feed.parse(book_message(pool, 9, 1_000, 3_000, 4_500, snapshot=True)).snapshot


def test_signals_subscribers_read_what_subscribe_sends():
    update = signal_update("BTCUSDT", 5)
    update.times.publish_us = 2_000
    message = SIGNAL_KIND.message(False, [SIGNAL_KIND.decode(update.SerializeToString())], None, 2_600)

    received = SIGNALS.parse(message)

    assert (received.snapshot, received.server_send_us, received.hop_start_us) == (False, 2_600, 2_000)
    assert received.updates == [("BTCUSDT", 5, 2_000)]
    assert SIGNALS.request() == b""  # every symbol


def test_tally_times_the_window_books_from_their_produce_and_hops_from_kafka_append(pool):
    stats, latencies, hops = StreamStats(sampled=True), array("q"), array("q")
    for update_id, received_us in ((8, 9_000), (9, 19_000)):  # 8: warm-up, outside the window
        stats.received_us.append(received_us)
        stats.messages.append(book_message(pool, update_id, stamp_us=received_us - 4_000,
                                           append_us=received_us - 3_000, send_us=received_us - 500))

    tally(stats, 9, 12, latencies, hops, BooksFeed())

    assert stats.count == 2 and stats.newest == 9
    assert list(latencies) == [4_000, 4_000]
    assert list(hops) == [2_500, 500]  # Kafka append -> server send, server send -> receive
    assert stats.seen == [("BTCUSDT", 9, 19_000), ("ETHUSDT", 9, 19_000)]


def test_a_conflated_stream_is_complete_once_the_last_tick_arrived():
    stats = StreamStats(sampled=False)
    stats.count, stats.newest = 50, 11
    assert not complete(stats, expected=60, high=12), "the window's last tick is still to come"
    stats.newest = 12
    assert complete(stats, expected=60, high=12), "the books it lacks were superseded (conflated)"


def test_feeds_are_chosen_by_name_and_bad_ones_explained():
    assert feed_named("signals") is SIGNALS and feed_named("books", 20) == BooksFeed(20)
    with pytest.raises(PlatformError, match="unknown fanout feed"):
        feed_named("trades")
    with pytest.raises(PlatformError, match="bad depth=21"):
        feed_named("books", 21)


def test_the_go_client_refuses_the_books_feed_before_starting_anything():
    with pytest.raises(PlatformError) as error:
        open_subscribers("go", "127.0.0.1:1", 1, feed=BooksFeed())
    assert "SubscribeBooks" in error.value.problem and "client=python" in error.value.fix
