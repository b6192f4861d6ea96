"""SubscribeTradeFlow against real Redis and a real gRPC server.

Flows are written with `TradeFlowStore.write`, the trade-flow writer's own Lua write-if-newer
(hash `qc:trade_flow:{SYMBOL}` + PUBLISH on `qc:trade_flow`). The first message is a snapshot
equal to the hashes, then every new flow in order with its values; a client that does not read
is conflated to the newest flow per symbol (not dropped); bad requests, tokens and the stream
limit are refused as for `Subscribe`; a Redis restart or a lost subscription is a fresh
snapshot on the same stream, with still one Redis subscription per server.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections import defaultdict

import grpc
import pytest
from rich.console import Console

from quantcore.clients import redis_client
from quantcore.polling import wait_for
from quantcore.samples import signal_update
from quantcore.settings import Settings
from quantcore.signal_store import SignalStore
from quantcore.timeutil import now_us
from quantcore.wire import MarketUpdate, market_data_pb2
from quantcore_platform.services.process import free_port
from quantcore_platform.services.redis_server import RedisServer
from serving.client import MarketDataClient
from serving.server import MarketDataServer
from serving.service import SERVICE_NAME
from serving.watch import watch_trade_flow
from streaming.spark.trade_flow import TradeFlowStore
from tests.support.grpc_streams import next_message, rpc_error
from tests.support.settings import make_settings
from tests.support.trade_flows import trade_flow

pytestmark = pytest.mark.slow

TOKEN = "trade-flow-token"
TRADE_TOPIC = "qc.trades.test"  # names the writer's progress key only


def server_settings(base: Settings, **overrides) -> Settings:
    return base.override(grpc_port=free_port(), heartbeat_interval_s=0.2, **overrides)


async def serving(server: MarketDataServer) -> None:
    await wait_for(lambda: server.metrics.redis_up, 10, "the server's Redis feed")



def flow_stream(channel: grpc.aio.Channel, request: bytes, metadata=None):
    """A raw SubscribeTradeFlow call: the request as bytes (to send malformed ones), never read
    unless the test reads it."""
    return channel.unary_stream(f"/{SERVICE_NAME}/SubscribeTradeFlow", request_serializer=lambda raw: raw,
                                response_deserializer=market_data_pb2.TradeFlowUpdate.FromString)(
        request, metadata=metadata)


def test_the_snapshot_is_the_hashes_then_every_new_flow_in_order(redis_conn, redis_service):
    settings = server_settings(redis_service)
    store = TradeFlowStore(redis_conn, TRADE_TOPIC)
    assert store.write([trade_flow("BTCUSDT", 10, vwap=65_000.5), trade_flow("ETHUSDT", 20, tfi=-0.5)], {}) == 2
    SignalStore(redis_conn).write(signal_update("BTCUSDT", 1))  # the signals' channel stays apart

    async def scenario() -> None:
        async with MarketDataServer.from_settings(settings) as server:
            await serving(server)
            async with MarketDataClient(server.address) as client:
                some = client.subscribe_trade_flow(["btcusdt", "ETHUSDT", "SOLUSDT"], reconnect=False)
                every = client.subscribe_trade_flow(reconnect=False)
                for stream in (some, every):
                    snapshot = await next_message(stream)
                    assert snapshot.kind == MarketUpdate.SNAPSHOT and snapshot.server_send_us > 0
                    assert [f.symbol for f in snapshot.flows] == ["BTCUSDT", "ETHUSDT"], "SOLUSDT has no flow yet"
                    for flow in snapshot.flows:
                        assert flow == store.latest(flow.symbol), "the snapshot is what the hash holds"

                written = [trade_flow("BTCUSDT", 11, vwap=65_001.0), trade_flow("ETHUSDT", 21, tfi=0.75),
                           trade_flow("BTCUSDT", 12, vwap=65_002.0)]
                before = now_us()
                assert store.write(written, {}) == 3
                stale = trade_flow("BTCUSDT", 12, vwap=1.0)
                later = [stale, trade_flow("SOLUSDT", 1, vwap=150.25), trade_flow("BTCUSDT", 13, tfi=-1.0)]
                assert store.write(later, {}) == 2, "a trade id not above the stored one is not published"
                written += later[1:]

                received = []
                while len(received) < len(written):
                    message = await next_message(some)
                    arrived = now_us()
                    assert message.kind == MarketUpdate.UPDATE
                    for flow in message.flows:
                        assert before <= flow.times.publish_us <= message.server_send_us <= arrived
                        received.append(flow)
                assert received == written, "every new flow, in order, with the values written"
                assert received[-1].windows[0].tfi == -1.0 and received[-2].windows[0].vwap == 150.25
                assert server.flows.metrics.malformed == 0 and server.hub.metrics.malformed == 0
                assert [u.symbol for u in (await client.snapshot()).updates] == ["BTCUSDT"], \
                    "signals still come from their own hashes"
                counters = server.counters()
                assert counters["trade_flow_clients"] == 2 and counters["trade_flow_updates_received"] == 5

    asyncio.run(scenario())


def test_a_client_that_does_not_read_gets_the_newest_flow_per_symbol(redis_conn, redis_service):
    # A queue the fast client never fills (bursts of 30); the slow one is ~4,000 flows behind.
    settings = server_settings(redis_service, client_queue_size=256, client_max_lag_s=60.0)
    symbols, per_symbol, batch = ["BTCUSDT", "ETHUSDT", "SOLUSDT"], 1_500, 10
    store = TradeFlowStore(redis_conn, TRADE_TOPIC)

    def write_all() -> None:
        for start in range(1, per_symbol + 1, batch):
            store.write([trade_flow(s, i, vwap=100.0 + i) for i in range(start, start + batch) for s in symbols], {})
            time.sleep(0.01)

    async def scenario() -> None:
        async with MarketDataServer.from_settings(settings) as server:
            await serving(server)
            # No window growth on the slow channel: flow control stops the server after ~64 KiB
            # (test_serving_slow_consumer), then its queue conflates.
            slow_channel = grpc.aio.insecure_channel(server.address, options=[("grpc.http2.bdp_probe", 0)])
            slow = flow_stream(slow_channel, market_data_pb2.SubscribeTradeFlowRequest().SerializeToString())
            await slow.initial_metadata()
            async with MarketDataClient(server.address) as client:
                fast: dict[str, list[int]] = defaultdict(list)

                async def read() -> None:
                    async for message in client.subscribe_trade_flow(reconnect=False):
                        for flow in message.flows:
                            fast[flow.symbol].append(flow.trade_id)

                reader = asyncio.create_task(read())
                await wait_for(lambda: len(server.flows.subscribers) == 2, 5, "both streams")
                await asyncio.to_thread(write_all)
                await wait_for(lambda: sum(map(len, fast.values())) >= len(symbols) * per_symbol, 20, "every flow")
                assert all(fast[s] == list(range(1, per_symbol + 1)) for s in symbols), "the fast client got all"
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)

            newest: dict[str, market_data_pb2.TradeFlow] = {}
            seen: dict[str, list[int]] = defaultdict(list)

            async def read_slow_until_the_last_flows() -> None:
                async for message in slow:
                    for flow in message.flows:
                        newest[flow.symbol] = flow
                        seen[flow.symbol].append(flow.trade_id)
                    if all(s in newest and newest[s].trade_id == per_symbol for s in symbols):
                        return

            await asyncio.wait_for(read_slow_until_the_last_flows(), 20)
            slow.cancel()
            await slow_channel.close()
            for symbol in symbols:
                assert newest[symbol] == store.latest(symbol), "the newest flow, values included"
                assert seen[symbol] == sorted(set(seen[symbol])), "in order, never one twice"
            assert sum(map(len, seen.values())) < len(symbols) * per_symbol, "older flows were conflated away"
            assert server.flows.metrics.conflated > 0 and server.flows.metrics.drops == 0

    asyncio.run(scenario())


def test_bad_requests_tokens_and_the_stream_limit_as_for_subscribe(redis_conn, redis_service):
    settings = server_settings(redis_service, grpc_token=TOKEN, grpc_max_streams=1)

    async def scenario() -> None:
        async with MarketDataServer.from_settings(settings) as server:
            await serving(server)
            async with MarketDataClient(server.address, token=TOKEN) as client:
                error = await rpc_error(client.subscribe_trade_flow(["BTCUSDT", "NOPEUSDT"]))  # fatal: no retry
                assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
                assert error.details().startswith("unknown symbol(s) 'NOPEUSDT'; ListSymbols gives the")
                subscribe_error = await rpc_error(client.subscribe(["NOPEUSDT"]))
                assert subscribe_error.details() == error.details(), "the same message as Subscribe"
                symbols_as_varint = b"\x08\x01"  # field 1 with the wrong wire type
                raw = flow_stream(client.channel, symbols_as_varint, [("authorization", f"Bearer {TOKEN}")])
                malformed = await rpc_error(aiter(raw))
                assert malformed.code() == grpc.StatusCode.INVALID_ARGUMENT
                assert malformed.details().startswith("malformed SubscribeTradeFlowRequest: field 1 (symbols)")

                signals = client.subscribe(["BTCUSDT"], reconnect=False)
                assert (await next_message(signals)).kind == MarketUpdate.SNAPSHOT, "the token opens a stream"
                error = await rpc_error(client.subscribe_trade_flow(reconnect=False))
                assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, "max_streams counts every stream"
                await signals.aclose()
                await wait_for(lambda: not server.hub.subscribers, 5, "the signal stream's slot to free")
                flows = client.subscribe_trade_flow(["ETHUSDT"], reconnect=False)
                assert (await next_message(flows)).kind == MarketUpdate.SNAPSHOT
                await flows.aclose()
            for token in (None, "wrong"):
                async with MarketDataClient(server.address, token=token) as client:
                    error = await rpc_error(client.subscribe_trade_flow())
                    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
            assert server.flows.subscribers == set()

    asyncio.run(scenario())


def test_watch_trade_flow_shows_the_windows_of_the_newest_flow(redis_conn, redis_service):
    settings = server_settings(redis_service)
    store = TradeFlowStore(redis_conn, TRADE_TOPIC)
    store.write([trade_flow("ETHUSDT", 41), trade_flow("ETHUSDT", 42, vwap=3_210.5, tfi=0.5)], {})

    async def scenario() -> str:
        async with MarketDataServer.from_settings(settings) as server:
            await serving(server)
            out = io.StringIO()
            async with MarketDataClient(server.address) as client:
                state = await watch_trade_flow(client, "ethusdt", duration_s=1.0,
                                               console=Console(file=out, width=120, force_terminal=False))
            assert state.flow.trade_id == 42 and len(state.rows()) == 3
            return out.getvalue()

    shown = asyncio.run(scenario())
    assert "QuantCore trade flow ETHUSDT" in shown and "trade id 42" in shown
    for cell in ("3,210.50", "3,212.50", "+0.500", "+0.167", "126"):
        assert cell in shown


def test_a_redis_restart_or_a_lost_subscription_is_a_fresh_snapshot_on_the_same_stream(tmp_path):
    settings = make_settings(tmp_path / "home", serve_redis_backoff_max_s=0.3, heartbeat_interval_s=0.5)
    redis = RedisServer.from_settings(settings)
    redis.start()
    try:
        asyncio.run(_restarts(settings, redis))
    finally:
        redis.stop()


async def _restarts(settings: Settings, redis: RedisServer) -> None:
    def store() -> TradeFlowStore:
        return TradeFlowStore(redis_client(settings.redis), TRADE_TOPIC)

    def kinds_and_ids(messages) -> list[tuple[int, list[int]]]:
        return [(m.kind, [f.trade_id for f in m.flows]) for m in messages]

    store().write([trade_flow("BTCUSDT", 1)], {})
    async with MarketDataServer.from_settings(settings) as server, MarketDataClient(server.address) as client:
        await serving(server)
        messages: list = []

        async def read() -> None:
            async for message in client.subscribe_trade_flow(["BTCUSDT"], reconnect=False):
                messages.append(message)  # reconnect=False: any stream error fails the test

        reader = asyncio.create_task(read())
        await wait_for(lambda: len(messages) == 1, 5, "the first snapshot")
        store().write([trade_flow("BTCUSDT", 2)], {})
        await wait_for(lambda: len(messages) == 2, 5, "the first update")

        await asyncio.to_thread(redis.stop)
        await wait_for(lambda: not server.metrics.redis_up, 10, "the server to notice Redis is gone")
        await asyncio.to_thread(redis.start)
        await wait_for(lambda: server.metrics.redis_up, 10, "the server to reconnect")
        await wait_for(lambda: len(messages) == 3, 5, "the (empty) snapshot after the restart")
        store().write([trade_flow("BTCUSDT", 1, vwap=7.0)], {})  # a restarted writer's ids may start lower
        await wait_for(lambda: len(messages) == 4, 5, "an update after the restart")

        killed = redis_client(settings.redis).client_kill_filter(_type="pubsub")
        assert killed == 1, "one subscription per server process for the signals and the trade flow"
        await wait_for(lambda: server.metrics.redis_reconnects == 2, 10, "the second reconnection")
        await wait_for(lambda: len(messages) == 5, 5, "the re-read snapshot")

        assert kinds_and_ids(messages) == [(MarketUpdate.SNAPSHOT, [1]), (MarketUpdate.UPDATE, [2]),
                                           (MarketUpdate.SNAPSHOT, []), (MarketUpdate.UPDATE, [1]),
                                           (MarketUpdate.SNAPSHOT, [1])]
        assert messages[-1].flows[0].windows[0].vwap == 7.0
        assert not reader.done() and client.reconnects == 0, "the stream stayed open throughout"
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
