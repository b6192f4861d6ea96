"""The one Redis subscription of a serve process, feeding the hub, reconnecting on loss.

Order on every (re)connect: SUBSCRIBE first, then read the snapshot. Anything published
in between arrives on the channel too, and the hub ignores what is not newer than the
snapshot, so no change falls in the gap between the two. Subscribers then get the fresh
snapshot and the stream carries on: a Redis restart is a gap, never an error, for clients.

redis-py's own retry is off here on purpose: a silent reconnect would resubscribe without
re-reading the snapshot, hiding the updates lost meanwhile.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from quantcore.backoff import Backoff
from quantcore.log import get_logger
from quantcore.settings import RedisSettings, ServeSettings, reveal
from quantcore.signal_store import UPDATES_CHANNEL, signal_key
from serving.hub import Hub

log = get_logger("serving.redis_feed")

IDLE_PING_S = 1.0  # no traffic for this long: ping, to notice a dead connection
DEAD_AFTER_S = 5.0  # no reply at all for this long: the connection is gone

HealthCallback = Callable[[bool], Awaitable[None]]


class RedisSilent(ConnectionError):
    """The connection stayed open but Redis stopped answering pings."""


def async_redis(redis: RedisSettings) -> aioredis.Redis:
    return aioredis.Redis.from_url(
        redis.address, password=reveal(redis.password), retry=Retry(NoBackoff(), 0),
        socket_connect_timeout=2.0, socket_timeout=5.0, socket_keepalive=True,
    )


async def read_snapshot(client: aioredis.Redis, symbols: tuple[str, ...]) -> dict[str, bytes]:
    """The serialized latest SignalUpdate of each symbol that has one (one round trip)."""
    async with client.pipeline(transaction=False) as pipe:
        for symbol in symbols:
            pipe.hget(signal_key(symbol), "msg")
        values = await pipe.execute()
    return {symbol: msg for symbol, msg in zip(symbols, values) if msg is not None}


async def follow(client: aioredis.Redis, hub: Hub, on_up: Callable[[], Awaitable[None]],
                 channel: str = UPDATES_CHANNEL) -> None:
    """Subscribe, snapshot, then feed the hub until the connection fails (raises)."""
    async with client.pubsub() as pubsub:
        await pubsub.subscribe(channel)
        await _confirmed(pubsub)
        hub.replace_state(await read_snapshot(client, hub.universe))
        await on_up()
        last_heard = time.monotonic()
        while True:
            message = await pubsub.get_message(timeout=IDLE_PING_S)
            now = time.monotonic()
            if message is None:
                if now - last_heard > DEAD_AFTER_S:
                    raise RedisSilent(f"no reply from Redis for {DEAD_AFTER_S:g}s")
                await pubsub.ping()
                continue
            last_heard = now
            if message["type"] == "message":
                hub.offer(message["data"])


async def _confirmed(pubsub: aioredis.client.PubSub, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = await pubsub.get_message(timeout=max(0.01, deadline - time.monotonic()))
        if message is not None and message["type"] == "subscribe":
            return
    raise RedisSilent("Redis did not confirm the subscription")


async def run_feed(redis: RedisSettings, serve: ServeSettings, hub: Hub, on_health: HealthCallback) -> None:
    """Forever (until cancelled): follow Redis; on loss, report unhealthy, back off
    (up to `serve.redis_backoff_max_s`), retry."""
    backoff = Backoff(initial=0.05, cap=serve.redis_backoff_max_s)
    metrics = hub.metrics

    async def up() -> None:
        if backoff.attempts:
            metrics.redis_reconnects += 1
            log.info("Redis reconnected; snapshot re-read and sent to subscribers",
                     after_attempts=backoff.attempts, subscribers=len(hub.subscribers))
        backoff.reset()
        await on_health(True)
        metrics.redis_up = True

    while True:
        client = async_redis(redis)
        try:
            await follow(client, hub, up)
        except (RedisError, OSError) as exc:
            if metrics.redis_up or backoff.attempts == 0:
                log.warning("Redis connection lost; reconnecting", error=str(exc) or type(exc).__name__)
            await on_health(False)
            metrics.redis_up = False
        finally:
            await _close_quietly(client)
        await asyncio.sleep(backoff.next())


async def _close_quietly(client: aioredis.Redis) -> None:
    try:
        await client.aclose()
    except (RedisError, OSError):
        pass
