"""SubscribeBooks and SubscribeTrades against real Kafka (and Redis, for the server's health).

Book and trade records are produced straight to topics of the test's own (key = symbol), as
ingest writes them; the server reads them from Kafka (`serving.kafka_feed`). Books: the
snapshot is the newest record of each symbol already in the topic, then every new record, cut
to the requested depth, levels equal to the records'. Trades: every one, in order, exact; a
client that cannot keep up is dropped with RESOURCE_EXHAUSTED while the others get everything.
The server reads Kafka only while such clients are there (`serving.kafka_demand`): the tests
subscribe to a server that is not reading yet.
"""

from __future__ import annotations

import asyncio
import io
import random
import time
from collections import defaultdict

import grpc
import pytest
from confluent_kafka import Producer
from rich.console import Console

from quantcore import wire
from quantcore.polling import wait_for
from quantcore.settings import Settings
from quantcore.timeutil import now_us
from quantcore.topics import produce_all
from quantcore.wire import MarketUpdate, market_data_pb2
from quantcore_platform.services.process import free_port
from serving.client import MarketDataClient
from serving.server import MarketDataServer
from serving.service import SERVICE_NAME
from serving.watch import watch_books
from tests.support.books import produce_books, random_book
from tests.support.grpc_streams import next_message, rpc_error

pytestmark = pytest.mark.slow

TOKEN = "books-and-trades-token"
BUY = wire.AggressorSide.Value("AGGRESSOR_SIDE_BUY")
SELL = wire.AggressorSide.Value("AGGRESSOR_SIDE_SELL")


@pytest.fixture
def settings(kafka: Settings, redis_service: Settings, fresh_topic: str, trade_topic: str) -> Settings:
    return kafka.override(grpc_port=free_port(), book_topic=fresh_topic, trade_topic=trade_topic,
                          heartbeat_interval_s=0.2)



def levels(levels) -> list[tuple[str, str]]:
    return [(level.price, level.qty) for level in levels]


def trade(symbol: str, trade_id: int, rng: random.Random) -> wire.TradeRecord:
    stamp = now_us()
    return wire.TradeRecord(
        exchange="binance", symbol=symbol, trade_id=trade_id, price=f"{rng.uniform(10, 1000):.8f}",
        qty=f"{rng.uniform(0.0001, 5):.5f}", aggressor=rng.choice((BUY, SELL)), trade_time_us=stamp - 700,
        event_time_us=stamp - 500, ingest_time_us=stamp, shard_id=1, origin=wire.Origin.ORIGIN_SIMULATOR,
        simulator_seed=7, first_trade_id=trade_id, last_trade_id=trade_id,
        stream=wire.TradeStream.Value("TRADE_STREAM_TRADE"))


def produce_trades(settings: Settings, trades: list[wire.TradeRecord]) -> None:
    produce_all(settings.kafka, settings.kafka.trade_topic,
                ((t.symbol.encode(), t.SerializeToString(), None) for t in trades))


def test_books_snapshot_then_every_change_at_the_requested_depth(settings):
    rng = random.Random(5)
    before = [random_book(rng, "BTCUSDT", uid) for uid in (101, 102, 103)] + \
             [random_book(rng, "ETHUSDT", uid) for uid in (7, 8)]
    produce_books(settings.kafka, settings.kafka.book_topic, before)
    newest = {"BTCUSDT": before[2], "ETHUSDT": before[4]}

    async def scenario() -> None:
        async with MarketDataServer.from_settings(settings) as server:
            async with MarketDataClient(server.address) as client:
                top5 = client.subscribe_books(["BTCUSDT", "ethusdt"], depth=5, reconnect=False)
                full = client.subscribe_books(["BTCUSDT"], depth=20, reconnect=False)
                quiet = client.subscribe_books(["SOLUSDT"], depth=1, reconnect=False)

                snapshot = await next_message(top5)
                assert snapshot.kind == MarketUpdate.SNAPSHOT and snapshot.server_send_us > 0
                assert [(b.symbol, b.update_id) for b in snapshot.books] == [("BTCUSDT", 103), ("ETHUSDT", 8)]
                for book in snapshot.books:
                    record = newest[book.symbol]
                    assert levels(book.bids) == levels(record.bids[:5]) and levels(book.asks) == levels(record.asks[:5])
                    assert (book.exchange, book.mode, book.origin, book.simulator_seed) == \
                        (record.exchange, record.mode, record.origin, record.simulator_seed)
                    assert (book.event_time_us, book.ingest_time_us) == (record.event_time_us, record.ingest_time_us)
                    assert book.ingest_time_us <= book.kafka_append_us <= snapshot.server_send_us
                whole = (await next_message(full)).books
                assert len(whole) == 1 and levels(whole[0].bids) == levels(newest["BTCUSDT"].bids)
                assert len(whole[0].bids) == 20 and levels(whole[0].asks) == levels(newest["BTCUSDT"].asks)
                nothing = await next_message(quiet)
                assert nothing.kind == MarketUpdate.SNAPSHOT and list(nothing.books) == []

                after = [random_book(rng, "BTCUSDT", 104), random_book(rng, "ETHUSDT", 9),
                         random_book(rng, "BTCUSDT", 105), random_book(rng, "SOLUSDT", 1)]
                produced = {(r.symbol, r.update_id): r for r in after}
                await asyncio.to_thread(produce_books, settings.kafka, settings.kafka.book_topic, after)
                got = []
                while len(got) < 3:
                    message = await next_message(top5)
                    assert message.kind == MarketUpdate.UPDATE
                    got += message.books
                by_symbol = defaultdict(list)
                for book in got:
                    by_symbol[book.symbol].append(book.update_id)
                    record = produced[(book.symbol, book.update_id)]
                    assert levels(book.bids) == levels(record.bids[:5]) and levels(book.asks) == levels(record.asks[:5])
                assert dict(by_symbol) == {"BTCUSDT": [104, 105], "ETHUSDT": [9]}, "every change, in order"
                sol = (await next_message(quiet)).books
                assert [(b.symbol, b.update_id) for b in sol] == [("SOLUSDT", 1)]
                assert levels(sol[0].bids) == levels(produced[("SOLUSDT", 1)].bids[:1]) and len(sol[0].asks) == 1

                counters = server.counters()
                assert counters["kafka_books_loaded"] == 1 and counters["books_clients"] == 3

    asyncio.run(scenario())


def test_every_trade_in_order_exactly_as_produced(settings):
    rng = random.Random(11)
    symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    trades = [trade(symbols[i % 3], 1_000 + i // 3, rng) for i in range(600)]

    async def scenario() -> None:
        async with MarketDataServer.from_settings(settings) as server:
            async with MarketDataClient(server.address) as client:
                received: dict[str, list] = {"all": [], "btc": []}

                async def read(name: str, wanted: list[str]) -> None:
                    async for message in client.subscribe_trades(wanted, reconnect=False):
                        assert message.server_send_us > 0
                        received[name] += message.trades

                readers = [asyncio.create_task(read("all", [])), asyncio.create_task(read("btc", ["btcusdt"]))]
                await wait_for(lambda: len(server.trades.subscribers) == 2, 5, "both trade streams")
                await asyncio.to_thread(produce_trades, settings, trades)
                await wait_for(lambda: len(received["all"]) >= 600 and len(received["btc"]) >= 200, 20,
                               "every trade")
                await asyncio.sleep(0.2)
                for task in readers:
                    task.cancel()

                per_symbol = defaultdict(list)
                for printed in received["all"]:
                    per_symbol[printed.trade.symbol].append(printed.trade)
                    assert printed.trade.ingest_time_us <= printed.kafka_append_us
                for symbol in symbols:
                    assert per_symbol[symbol] == [t for t in trades if t.symbol == symbol], "every trade, in order, exact"
                assert [p.trade for p in received["btc"]] == [t for t in trades if t.symbol == "BTCUSDT"]
                assert server.trades.metrics.drops == 0 and server.trades.metrics.conflated == 0

    asyncio.run(scenario())


def test_a_slow_trade_client_is_dropped_with_how_far_behind_and_the_others_get_everything(settings):
    settings = settings.override(client_queue_size=64, client_max_lag_s=30.0)
    rng = random.Random(3)
    rounds, per_round = 25, 400
    trades = [trade("BTCUSDT" if i % 2 else "ETHUSDT", 1 + i // 2, rng) for i in range(rounds * per_round)]

    async def scenario() -> None:
        async with MarketDataServer.from_settings(settings) as server:
            # The slow client's channel turns off window growth: flow control stops the server
            # after ~64 KiB (test_serving_slow_consumer), then its queue fills.
            slow_channel = grpc.aio.insecure_channel(server.address, options=[("grpc.http2.bdp_probe", 0)])
            slow_call = slow_channel.unary_stream(
                f"/{SERVICE_NAME}/SubscribeTrades",
                request_serializer=market_data_pb2.SubscribeTradesRequest.SerializeToString,
                response_deserializer=market_data_pb2.TradeUpdate.FromString)(market_data_pb2.SubscribeTradesRequest())
            await slow_call.initial_metadata()
            async with MarketDataClient(server.address) as client:
                fast: list = []

                async def read() -> None:
                    async for message in client.subscribe_trades(reconnect=False):
                        fast.extend((p.trade.symbol, p.trade.trade_id) for p in message.trades)

                reader = asyncio.create_task(read())
                await wait_for(lambda: len(server.trades.subscribers) == 2, 5, "both trade streams")

                def produce_rounds() -> None:
                    producer = Producer({**settings.kafka.client_config(), "linger.ms": 5, "enable.idempotence": True})
                    for r in range(rounds):
                        for t in trades[r * per_round:(r + 1) * per_round]:
                            producer.produce(settings.kafka.trade_topic, t.SerializeToString(), t.symbol.encode())
                        producer.flush(10)
                        time.sleep(0.03)

                await asyncio.to_thread(produce_rounds)
                await wait_for(lambda: len(fast) >= len(trades), 30, "every trade to the fast client")
                await wait_for(lambda: server.trades.metrics.drops == 1, 10, "the slow client to be dropped")
                for symbol in ("BTCUSDT", "ETHUSDT"):
                    assert [i for s, i in fast if s == symbol] == [t.trade_id for t in trades if t.symbol == symbol], \
                        "the fast client got every trade, in order"
                assert not reader.done(), "the fast stream is still open"
                assert len(server.trades.subscribers) == 1 and server.trades.metrics.conflated == 0
                assert server.counters()["trades_drops"] == 1
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)

            got = 0
            with pytest.raises(grpc.aio.AioRpcError) as dropped:
                async for message in slow_call:
                    got += len(message.trades)
            assert dropped.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "fell behind by" in dropped.value.details() and "never conflated" in dropped.value.details()
            assert got < len(trades)
            await slow_channel.close()

    asyncio.run(scenario())


def test_bad_depth_unknown_symbols_auth_and_the_stream_limit(settings):
    settings = settings.override(grpc_token=TOKEN, grpc_max_streams=1)

    async def scenario() -> None:
        async with MarketDataServer.from_settings(settings) as server:
            async with MarketDataClient(server.address, token=TOKEN) as client:
                for depth in (0, 21, -3):
                    error = await rpc_error(client.subscribe_books(["BTCUSDT"], depth=depth))  # fatal: no retry
                    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
                    assert error.details() == f"depth must be 1..20 (levels per side), got {depth}"
                error = await rpc_error(client.subscribe_books(["BTCUSDT", "NOPEUSDT"], depth=5))
                assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "NOPEUSDT" in error.details()
                error = await rpc_error(client.subscribe_trades(["FAKEUSDT"]))
                assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "FAKEUSDT" in error.details()

                books = client.subscribe_books(["BTCUSDT"], depth=3, reconnect=False)
                assert (await next_message(books)).kind == MarketUpdate.SNAPSHOT, "the token opens the stream"
                error = await rpc_error(client.subscribe_trades(reconnect=False))
                assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, "max_streams counts every stream"
                await books.aclose()
            for token in (None, "wrong"):
                async with MarketDataClient(server.address, token=token) as client:
                    for stream in (client.subscribe_books(depth=5), client.subscribe_trades()):
                        assert (await rpc_error(stream)).code() == grpc.StatusCode.UNAUTHENTICATED
            assert server.books.subscribers == set() and server.trades.subscribers == set()

    asyncio.run(scenario())


def test_watch_books_shows_the_ladder_of_the_newest_book(settings):
    rng = random.Random(9)
    record = random_book(rng, "ETHUSDT", 42)
    produce_books(settings.kafka, settings.kafka.book_topic, [random_book(rng, "ETHUSDT", 41), record])

    async def scenario() -> str:
        async with MarketDataServer.from_settings(settings) as server:
            out = io.StringIO()
            async with MarketDataClient(server.address) as client:
                state = await watch_books(client, "ethusdt", depth=3, duration_s=1.0,
                                          console=Console(file=out, width=120, force_terminal=False))
            assert state.book.update_id == 42 and len(state.rows()) == 3
            return out.getvalue()

    shown = asyncio.run(scenario())
    assert "QuantCore book ETHUSDT" in shown and "update id 42" in shown
    for level in (*record.bids[:3], *record.asks[:3]):
        assert level.price in shown and level.qty in shown
    assert record.bids[3].price not in shown


def test_kafka_is_read_only_while_book_or_trade_clients_are_there(settings):
    """No book or trade client: no feed. The first one starts it (books: the snapshot; trades:
    from its request on); the last one leaving stops it after the idle time, and the books it
    held are forgotten: the next client gets the newest books, written while nobody read."""
    settings = settings.override(serve_kafka_idle_stop_s=0.5)
    rng = random.Random(13)
    produce_books(settings.kafka, settings.kafka.book_topic, [random_book(rng, "BTCUSDT", 1)])

    async def scenario() -> None:
        async with MarketDataServer.from_settings(settings) as server:
            await asyncio.sleep(1.0)
            assert not server.kafka_feed.running and server.kafka_feed.starts == 0, "nobody asked for books"
            assert not server.books.loaded and server.counters()["kafka_books_loaded"] == 0
            async with MarketDataClient(server.address) as client:
                books = client.subscribe_books(["BTCUSDT"], depth=5, reconnect=False)
                first = await next_message(books)
                assert [(b.symbol, b.update_id) for b in first.books] == [("BTCUSDT", 1)]
                assert server.kafka_feed.running and server.kafka_feed.starts == 1
                await books.aclose()
                await wait_for(lambda: not server.kafka_feed.running, 10, "the idle feed to stop")
                assert not server.books.loaded and server.books.state == {}, "its books forgotten"

                await asyncio.to_thread(produce_books, settings.kafka, settings.kafka.book_topic,
                                        [random_book(rng, "BTCUSDT", 2)])
                books = client.subscribe_books(["BTCUSDT"], depth=5, reconnect=False)
                again = await next_message(books)
                assert again.kind == MarketUpdate.SNAPSHOT
                assert [(b.symbol, b.update_id) for b in again.books] == [("BTCUSDT", 2)], "the newest, not the held"
                assert server.kafka_feed.starts == 2

                got: list = []

                async def read_trades() -> None:  # while the feed runs for the books client
                    async for message in client.subscribe_trades(["BTCUSDT"], reconnect=False):
                        got.extend(p.trade for p in message.trades)

                reader = asyncio.create_task(read_trades())
                await wait_for(lambda: len(server.trades.subscribers) == 1, 5, "the trade stream")
                printed = [trade("BTCUSDT", 500 + i, rng) for i in range(3)]
                await asyncio.to_thread(produce_trades, settings, printed)
                await wait_for(lambda: len(got) >= 3, 10, "the trades printed after the subscription")
                assert got == printed
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)
                await books.aclose()

    asyncio.run(scenario())
