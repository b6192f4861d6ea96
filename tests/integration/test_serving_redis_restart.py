"""Redis restarts mid-stream: the server reconnects, re-reads the snapshot, and clients keep
their streams (a fresh SNAPSHOT, then updates again; no error, no resubscription).

Runs its own redis-server on a free port (the session's shared one must not restart).
"""

from __future__ import annotations

import asyncio

import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from quantcore.wire import MarketUpdate
from quantcore.clients import redis_client
from quantcore_platform.services.redis_server import RedisServer
from serving.client import MarketDataClient
from serving.server import MarketDataServer
from quantcore.polling import wait_for
from quantcore.samples import signal_update
from quantcore.signal_store import SignalStore
from tests.support.settings import make_settings

pytestmark = pytest.mark.slow

CLIENTS = 3


def updates_after(messages: list[MarketUpdate], index: int) -> list[tuple[str, int]]:
    """(symbol, update id) of the UPDATE messages from `index` on."""
    return [(u.symbol, u.update_id) for m in messages[index:] if m.kind == MarketUpdate.UPDATE for u in m.updates]


def test_server_recovers_from_a_redis_restart_and_clients_keep_their_streams(tmp_path):
    settings = make_settings(tmp_path / "home", serve_redis_backoff_max_s=0.3, heartbeat_interval_s=0.5)
    redis = RedisServer.from_settings(settings)
    redis.start()
    try:
        _scenario(settings, redis)
    finally:
        redis.stop()


def _scenario(settings, redis: RedisServer) -> None:
    def store() -> SignalStore:
        return SignalStore(redis_client(settings.redis))

    store().write(signal_update("BTCUSDT", 1, obi=0.1))

    async def scenario() -> None:
        async with MarketDataServer.from_settings(settings) as server, MarketDataClient(server.address) as client:
            await wait_for(lambda: server.metrics.redis_up, 10, "the Redis feed")
            health = health_pb2_grpc.HealthStub(client.channel)

            async def status() -> int:
                return (await health.Check(health_pb2.HealthCheckRequest())).status

            messages: list[list[MarketUpdate]] = [[] for _ in range(CLIENTS)]

            async def read(into: list) -> None:
                async for message in client.subscribe(["BTCUSDT", "ETHUSDT"], reconnect=False):
                    into.append(message)  # reconnect=False: any stream error fails the test

            tasks = [asyncio.create_task(read(into)) for into in messages]
            await wait_for(lambda: all(len(m) == 1 for m in messages), 5, "the first snapshots")
            store().write(signal_update("BTCUSDT", 2, obi=0.2))
            await wait_for(lambda: all(len(m) == 2 for m in messages), 5, "the first update")

            await asyncio.to_thread(redis.stop)
            await wait_for(lambda: not server.metrics.redis_up, 10, "the server to notice Redis is gone")
            assert await status() == health_pb2.HealthCheckResponse.NOT_SERVING

            await asyncio.to_thread(redis.start)
            await wait_for(lambda: server.metrics.redis_up, 10, "the server to reconnect")
            assert await status() == health_pb2.HealthCheckResponse.SERVING
            # Redis keeps no data across a restart, so the re-read snapshot is empty...
            await wait_for(lambda: all(len(m) == 3 for m in messages), 5, "the snapshot after the restart")
            store().write_many([signal_update("BTCUSDT", 3, obi=0.3), signal_update("ETHUSDT", 7, obi=-0.7)])
            await wait_for(lambda: all(len(updates_after(m, 3)) == 2 for m in messages), 5, "updates after the restart")

            # ...so lose the connection once more, Redis still holding data: the snapshot is re-read.
            killed = redis_client(settings.redis).client_kill_filter(_type="pubsub")
            assert killed == 1, "one subscription per server process, whatever the number of clients"
            await wait_for(lambda: server.metrics.redis_reconnects == 2, 10, "the second reconnection")
            await wait_for(lambda: all(m[-1].kind == MarketUpdate.SNAPSHOT for m in messages), 5, "the re-read snapshot")

            for received in messages:
                assert [m.kind for m in received[:3]] == [MarketUpdate.SNAPSHOT, MarketUpdate.UPDATE, MarketUpdate.SNAPSHOT]
                assert [(u.symbol, u.update_id) for u in received[1].updates] == [("BTCUSDT", 2)]
                assert list(received[2].updates) == []
                assert updates_after(received, 3) == [("BTCUSDT", 3), ("ETHUSDT", 7)]
                assert [(u.symbol, u.update_id, u.signals.obi_1) for u in received[-1].updates] == \
                    [("BTCUSDT", 3, 0.3), ("ETHUSDT", 7, -0.7)]
            assert not any(task.done() for task in tasks), "every stream is still open"
            assert client.reconnects == 0
            for task in tasks:
                task.cancel()

    asyncio.run(scenario())
