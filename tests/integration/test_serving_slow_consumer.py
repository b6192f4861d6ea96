"""A client that never reads cannot slow the others: it is conflated, then dropped.

50 clients read normally while one opens a stream and never reads it. The slow client's
channel turns off HTTP/2 window growth (BDP probing) so flow control holds the server back
after ~64 KiB instead of several MiB: the same behaviour, reached in a second not a minute.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict

import grpc
import pytest

from quantcore.wire import MarketUpdate, market_data_pb2
from quantcore_platform.services.process import free_port
from quantcore.timeutil import now_us
from serving.client import MarketDataClient
from serving.server import MarketDataServer
from serving.service import SERVICE_NAME
from quantcore.polling import wait_for
from quantcore.samples import signal_update
from quantcore.signal_store import SignalStore

pytestmark = pytest.mark.slow

FAST_CLIENTS = 50
SYMBOLS = 30
BURSTS = 50
BURST_INTERVAL_S = 0.05  # 30 symbols x 20 Hz = 600 updates/s
PROMPT_S = 2.0  # generous (CI machines are shared): a stalled fan-out would never end


class Reader:
    """One fast subscriber: every (symbol, update id) it gets, and the worst latency."""

    def __init__(self) -> None:
        self.ids: dict[str, list[int]] = defaultdict(list)
        self.worst_latency_us = 0
        self.snapshots = 0

    async def read(self, client: MarketDataClient) -> None:
        async for message in client.subscribe(reconnect=False):
            arrived = now_us()
            if message.kind == MarketUpdate.SNAPSHOT:
                self.snapshots += 1
                continue
            for update in message.updates:
                self.ids[update.symbol].append(update.update_id)
                self.worst_latency_us = max(self.worst_latency_us, arrived - update.times.publish_us)

    def count(self) -> int:
        return sum(len(ids) for ids in self.ids.values())


def test_a_slow_consumer_is_conflated_then_dropped_and_never_slows_the_others(redis_conn, redis_service):
    settings = redis_service.override(grpc_port=free_port(), client_queue_size=64, client_max_lag_s=1.5,
                                      heartbeat_interval_s=0.2)
    symbols = settings.market.symbols[:SYMBOLS]
    store = SignalStore(redis_conn)

    def write_bursts() -> None:
        for burst in range(1, BURSTS + 1):
            store.write_many([signal_update(symbol, burst, obi=burst / 100) for symbol in symbols])
            time.sleep(BURST_INTERVAL_S)

    async def scenario() -> None:
        async with MarketDataServer.from_settings(settings) as server:
            await wait_for(lambda: server.metrics.redis_up, 10, "the Redis feed")
            slow_channel = grpc.aio.insecure_channel(server.address, options=[("grpc.http2.bdp_probe", 0)])
            slow_call = slow_channel.unary_stream(
                f"/{SERVICE_NAME}/Subscribe", request_serializer=market_data_pb2.SubscribeRequest.SerializeToString,
                response_deserializer=MarketUpdate.FromString)(market_data_pb2.SubscribeRequest())
            await slow_call.initial_metadata()  # the stream is open; it is never read until the end

            async with MarketDataClient(server.address) as client:
                readers = [Reader() for _ in range(FAST_CLIENTS)]
                tasks = [asyncio.create_task(reader.read(client)) for reader in readers]
                await wait_for(lambda: all(r.snapshots for r in readers), 10, "every fast client's snapshot")
                assert len(server.hub.subscribers) == FAST_CLIENTS + 1

                await asyncio.to_thread(write_bursts)
                expected = BURSTS * SYMBOLS
                await wait_for(lambda: all(r.count() >= expected for r in readers), 10, "every update to every reader")
                await wait_for(lambda: server.metrics.drops == 1, 5, "the slow client to be dropped")

                for reader in readers:
                    assert reader.count() == expected
                    assert all(ids == list(range(1, BURSTS + 1)) for ids in reader.ids.values()), "in order, no gaps"
                    assert reader.worst_latency_us < PROMPT_S * 1e6, reader.worst_latency_us
                assert server.metrics.conflated > 0, "the slow client's queue conflated before the drop"
                assert len(server.hub.subscribers) == FAST_CLIENTS
                assert not any(task.done() for task in tasks), "the fast streams are still open"
                for task in tasks:
                    task.cancel()

                counters = server.counters()  # what the lifecycle's heartbeat reports (test_serving_grpc)
                assert counters["drops"] == 1 and counters["conflated"] == server.metrics.conflated

            # Reading now, the slow client gets what was in flight, then the reason it was dropped.
            got = 0
            with pytest.raises(grpc.aio.AioRpcError) as dropped:
                async for message in slow_call:
                    got += len(message.updates)
            assert dropped.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "behind" in dropped.value.details()
            assert got < BURSTS * SYMBOLS
            await slow_channel.close()

    asyncio.run(scenario())
