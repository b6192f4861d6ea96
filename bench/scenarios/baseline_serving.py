"""baseline (serving): the seed's serving designs re-created and measured beside ours, as ratios.

- polling: every Subscribe stream polls Redis (HGETALL of each symbol's hash) every 500 ms
  and sends what changed, vs our push hub.
- per-client subscription: every Subscribe stream opens its own Redis subscription and
  decodes and forwards each message on its own, vs our one shared subscription + hub.

All three servers speak the same `quantcore.v1.MarketData/Subscribe` and run the same way
(their own process, same subscribers, same 30 symbols x 10 Hz load written through
`SignalStore`), so `fanout.measure_round` measures them identically.

    python -m bench.scenarios.baseline_serving --subscribers 100 --duration 20
    (or `run(ctx)` from the harness's `baseline` scenario)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
from collections.abc import Callable
from typing import Any

import grpc

from bench.harness import ratio
from bench.scenarios.fanout import QUIET_ENV, measure_round, serve_hub
from quantcore.settings import RedisSettings, Settings

POLL_INTERVAL_S = 0.5


# --- the seed's designs, as servers ----------------------------------------------------------
def serve_polling(settings: Settings) -> None:
    _run_baseline(settings, _polling_subscribe)


def serve_per_client_subscription(settings: Settings) -> None:
    _run_baseline(settings, _per_client_subscribe)


async def _polling_subscribe(redis: RedisSettings, symbols: list[str], context) -> None:
    from serving import wire
    from serving.redis_feed import async_redis
    from quantcore.signal_store import signal_key

    client = async_redis(redis)
    sent: dict[str, bytes] = {}
    kind = wire.SNAPSHOT
    try:
        while True:
            async with client.pipeline(transaction=False) as pipe:
                for symbol in symbols:
                    pipe.hgetall(signal_key(symbol))
                hashes = await pipe.execute()
            changed = []
            for symbol, fields in zip(symbols, hashes):
                if fields and fields.get(b"update_id") != sent.get(symbol):
                    sent[symbol] = fields[b"update_id"]
                    changed.append(wire.frame_update(fields[b"msg"]))
            if changed or kind == wire.SNAPSHOT:
                await context.write(wire.market_update(kind, changed, _now_us()))
            kind = wire.UPDATE
            await asyncio.sleep(POLL_INTERVAL_S)
    finally:
        await client.aclose()


async def _per_client_subscribe(redis: RedisSettings, symbols: list[str], context) -> None:
    from quantcore.wire import SignalUpdate
    from serving import wire
    from serving.redis_feed import async_redis, read_snapshot
    from quantcore.signal_store import UPDATES_CHANNEL

    client = async_redis(redis)
    wanted = set(symbols)
    try:
        async with client.pubsub() as pubsub:
            await pubsub.subscribe(UPDATES_CHANNEL)
            snapshot = await read_snapshot(client, tuple(symbols))
            await context.write(wire.market_update(wire.SNAPSHOT, [wire.frame_update(m) for m in snapshot.values()],
                                                   _now_us()))
            async for message in pubsub.listen():
                if message["type"] != "message":
                    continue
                update = SignalUpdate.FromString(message["data"])  # decoded per client, as the seed did
                if update.symbol in wanted:
                    await context.write(wire.market_update(wire.UPDATE, [wire.frame_update(message["data"])], _now_us()))
    finally:
        await client.aclose()


def _now_us() -> int:
    from quantcore.timeutil import now_us

    return now_us()


def _run_baseline(settings: Settings, stream: Callable) -> None:
    os.environ.update(QUIET_ENV)
    asyncio.run(_serve_baseline(settings, stream))


async def _serve_baseline(settings: Settings, stream: Callable) -> None:
    from grpc_health.v1 import _async as health_async
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from serving.service import SERVICE_NAME

    async def subscribe(_request: bytes, context) -> None:
        await stream(settings.redis, list(settings.market.symbols), context)

    server = grpc.aio.server()
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        SERVICE_NAME, {"Subscribe": grpc.unary_stream_rpc_method_handler(subscribe)}),))
    health = health_async.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    await health.set("", health_pb2.HealthCheckResponse.SERVING)
    server.add_insecure_port(settings.serve.address)
    await server.start()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop(1)


# --- the comparison -------------------------------------------------------------------------------
def measure_serving_baselines(settings: Settings, subscribers: int = 100, duration_s: float = 20.0,
                              progress: Callable[[str], None] = lambda line: None) -> dict[str, Any]:
    """Ours vs the seed's two serving designs at the same load and subscriber count."""
    designs = {"push_hub": serve_hub, "polling_500ms": serve_polling,
               "per_client_subscription": serve_per_client_subscription}
    rounds = {}
    for name, server in designs.items():
        progress(f"baseline serving: {name}, {subscribers} subscribers, {duration_s:g}s")
        rounds[name] = measure_round(settings, subscribers, duration_s, server=server, pattern="spread")
    ours, polling, per_client = rounds["push_hub"], rounds["polling_500ms"], rounds["per_client_subscription"]
    lat = lambda r, q: r["visible_after_ms"].get(q, 0.0)  # noqa: E731
    return {
        "subscribers": subscribers, "pattern": "spread",
        "latency_figure": "visible_after_ms: publish -> the client holds that value or a newer one",
        "designs": rounds,
        "ratios": {
            "polling_vs_hub_p50_latency": ratio(lat(polling, "p50"), lat(ours, "p50")),
            "polling_vs_hub_p99_latency": ratio(lat(polling, "p99"), lat(ours, "p99")),
            "polling_vs_hub_delivery": ratio(polling["delivery_ratio"], ours["delivery_ratio"]),
            "per_client_vs_hub_p50_latency": ratio(lat(per_client, "p50"), lat(ours, "p50")),
            "per_client_vs_hub_p99_latency": ratio(lat(per_client, "p99"), lat(ours, "p99")),
            "per_client_vs_hub_server_cpu": ratio(per_client["server_cpu_pct"], ours["server_cpu_pct"]),
            "per_client_vs_hub_redis_cpu": ratio(per_client["redis_cpu_pct"], ours["redis_cpu_pct"]),
            "per_client_vs_hub_redis_connections": ratio(per_client["redis_connected_clients"],
                                                          ours["redis_connected_clients"]),
        },
    }


def run(ctx) -> dict:
    """The serving part of `quantcore bench baseline` (bench.harness.BenchContext)."""
    subscribers = int(ctx.option("subscribers", 100, smoke_default=5))
    duration = float(ctx.option("duration", 20.0, smoke_default=2.0))
    return measure_serving_baselines(ctx.settings, subscribers, duration, progress=ctx.progress)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--duration", type=float, default=20.0)
    args = parser.parse_args()
    from bench.harness import temporary_platform

    with temporary_platform(("redis",)) as settings:
        figures = measure_serving_baselines(settings, args.subscribers, args.duration,
                                            progress=lambda line: print(line, flush=True))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
