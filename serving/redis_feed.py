"""The one Redis subscription of a serve process, feeding its Redis hubs, reconnecting on loss.

Two states come from Redis, each a channel plus a hash per symbol (`RedisStream`): the signals
(`qc:updates`, `qc:sig:{SYMBOL}`) and the trade flow (`qc:trade_flow`, `qc:trade_flow:{SYMBOL}`).
One connection subscribes to both channels and routes each message to its channel's hub, so a
process still holds one Redis subscription, and a loss or a restart is handled once for both.

Order on every (re)connect: SUBSCRIBE first, then read the snapshots. Anything published
in between arrives on the channel too, and the hub ignores what is not newer than the
snapshot, so no change falls in the gap between the two. Subscribers then get the fresh
snapshot and the stream carries on: a Redis restart is a gap, never an error, for clients.

redis-py's own retry is off here on purpose: a silent reconnect would resubscribe without
re-reading the snapshot, hiding the updates lost meanwhile.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import NamedTuple

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from quantcore.backoff import Backoff
from quantcore.log import get_logger
from quantcore.settings import RedisSettings, ServeSettings, reveal
from quantcore.signal_store import FLOW_CHANNEL, UPDATES_CHANNEL, flow_key, signal_key
from serving.hub import Hub
from serving.metrics import ServeMetrics

log = get_logger("serving.redis_feed")

IDLE_PING_S = 1.0  # no traffic for this long: ping, to notice a dead connection
DEAD_AFTER_S = 5.0  # no reply at all for this long: the connection is gone

HealthCallback = Callable[[bool], Awaitable[None]]


class RedisSilent(ConnectionError):
    """The connection stayed open but Redis stopped answering pings."""


class RedisStream(NamedTuple):
    """A hub fed from Redis: the channel each new value is published on, and the hash
    (`key(symbol)`, field `msg`) holding each symbol's newest one, its snapshot."""

    hub: Hub
    channel: str
    key: Callable[[str], str]


def redis_streams(signals: Hub, flows: Hub) -> list[RedisStream]:
    """The signals' and the trade flow's Redis contract (`quantcore.signal_store`)."""
    return [RedisStream(signals, UPDATES_CHANNEL, signal_key), RedisStream(flows, FLOW_CHANNEL, flow_key)]


def async_redis(redis: RedisSettings) -> aioredis.Redis:
    return aioredis.Redis.from_url(
        redis.address, password=reveal(redis.password), retry=Retry(NoBackoff(), 0),
        socket_connect_timeout=2.0, socket_timeout=5.0, socket_keepalive=True,
    )


async def read_snapshot(client: aioredis.Redis, symbols: tuple[str, ...],
                        key: Callable[[str], str] = signal_key) -> dict[str, bytes]:
    """The serialized latest value (a SignalUpdate, by default) of each symbol that has one
    (one round trip)."""
    async with client.pipeline(transaction=False) as pipe:
        for symbol in symbols:
            pipe.hget(key(symbol), "msg")
        values = await pipe.execute()
    return {symbol: msg for symbol, msg in zip(symbols, values) if msg is not None}


async def follow(client: aioredis.Redis, streams: Sequence[RedisStream],
                 on_up: Callable[[], Awaitable[None]]) -> None:
    """Subscribe, snapshot, then feed each channel's hub until the connection fails (raises)."""
    hubs = {stream.channel.encode(): stream.hub for stream in streams}
    async with client.pubsub() as pubsub:
        await pubsub.subscribe(*(stream.channel for stream in streams))
        await _confirmed(pubsub, len(streams))
        for stream in streams:
            stream.hub.replace_state(await read_snapshot(client, stream.hub.universe, stream.key))
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
                hubs[message["channel"]].offer(message["data"])


async def _confirmed(pubsub: aioredis.client.PubSub, channels: int = 1, timeout: float = 5.0) -> None:
    """Wait for Redis to confirm each of the `channels` subscribed to (one reply per channel)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = await pubsub.get_message(timeout=max(0.01, deadline - time.monotonic()))
        if message is not None and message["type"] == "subscribe":
            channels -= 1
            if channels == 0:
                return
    raise RedisSilent("Redis did not confirm the subscription")


async def run_feed(redis: RedisSettings, serve: ServeSettings, streams: Sequence[RedisStream],
                   on_health: HealthCallback, metrics: ServeMetrics) -> None:
    """Forever (until cancelled): follow Redis; on loss, report unhealthy, back off
    (up to `serve.redis_backoff_max_s`), retry. `metrics` gets the connection's state
    (`redis_up`, `redis_reconnects`)."""
    backoff = Backoff(initial=0.05, cap=serve.redis_backoff_max_s)

    async def up() -> None:
        if backoff.attempts:
            metrics.redis_reconnects += 1
            log.info("Redis reconnected; snapshots re-read and sent to subscribers", after_attempts=backoff.attempts,
                     subscribers=sum(len(stream.hub.subscribers) for stream in streams))
        backoff.reset()
        await on_health(True)
        metrics.redis_up = True

    while True:
        client = async_redis(redis)
        try:
            await follow(client, streams, up)
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
