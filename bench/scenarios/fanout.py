"""fanout: Redis publish -> gRPC client receive latency and delivery vs subscriber count.

The seed's load (30 symbols x 10 Hz) is written through `SignalStore` (the compute
stream's Lua contract) while N subscribers, each its own Subscribe stream to every symbol,
measure `receive time - times.publish_us` for every update and count what they get.

Processes (2 cores): the server under test runs alone in its own process; subscribers are
grpc.aio streams multiplexed in one or two worker processes (many streams per channel, on
uvloop like the server); the writer is this process. Every count gets a fresh server.
A worker stamps each message as it arrives and keeps its bytes; it decodes and checks every
update once the load is written and the streams are quiet (`tally`), so its bookkeeping
neither competes with the server for the 2 cores nor delays the stamps.

Patterns: `burst` writes the 30 symbols of a tick in one pipelined batch every 100 ms
(how the compute stream writes, one batch per micro-batch); `spread` writes each symbol
on its own 100 ms cycle, one update every 3.3 ms (the seed's one-message-per-update feed).

    python -m bench.scenarios.fanout --subscribers 1,10,100,1000 --duration 20 [--pattern spread]
    quantcore bench fanout      # through the harness, once registered (`run(ctx)` below)
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import math
import multiprocessing
import os
import signal
import time
from array import array
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.harness import percentiles
from bench.process_cpu import cpu_seconds
from quantcore_platform.services.process import rss_mib
from quantcore.wire import MarketUpdate, market_data_pb2
from quantcore.heartbeats import read_heartbeats
from quantcore_platform.services.process import free_port
from quantcore.clients import redis_client
from quantcore.settings import Settings
from quantcore.samples import signal_update
from quantcore.signal_store import SignalStore

SYMBOLS = 30
RATE_HZ = 10.0
STREAMS_PER_CHANNEL = 100  # HTTP/2 streams multiplexed on one client connection
STREAMS_PER_WORKER = 500  # subscriber streams per client process
SERVICE = "quantcore.v1.MarketData"
SAMPLED_STREAMS = 5  # per worker: streams that log every (symbol, id) for the visibility figure
QUIET_ENV = {"QUANTCORE_LOG_LEVEL": "WARNING"}


# --- the server under test (a child process) -------------------------------------------
def serve_hub(settings: Settings) -> None:
    """Our server: one Redis subscription, hub, per-client queues (`quantcore stream serve`)."""
    os.environ.update(QUIET_ENV)
    from serving.server import run_server

    run_server(settings)


def start_server(settings: Settings, target: Callable[[Settings], None]) -> multiprocessing.Process:
    process = multiprocessing.get_context("spawn").Process(target=target, args=(settings,), daemon=True)
    process.start()
    wait_serving(settings.serve.address, process)
    return process


def wait_serving(address: str, process: multiprocessing.Process, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if not process.is_alive():
                raise RuntimeError(f"the server under test exited with {process.exitcode}")
            try:
                if health.Check(health_pb2.HealthCheckRequest(), timeout=1).status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.1)
    raise TimeoutError(f"no SERVING health from {address} within {timeout:g}s")


def stop_server(process: multiprocessing.Process) -> None:
    if process.is_alive():
        os.kill(process.pid, signal.SIGTERM)
        process.join(15)
    if process.is_alive():
        process.kill()
        process.join(5)


# --- subscribers (worker processes) -------------------------------------------------------
def subscriber_worker(address: str, streams: int, conn) -> None:
    os.environ.update(QUIET_ENV)
    try:
        import uvloop  # the server's loop too: a fair client costs what the server does per message
    except ImportError:
        asyncio.run(_subscribers(address, streams, conn))
    else:
        uvloop.run(_subscribers(address, streams, conn))


class StreamStats:
    """One stream's messages as received, decoded and counted by `tally`."""

    __slots__ = ("snapshot", "received_us", "messages", "tallied", "count", "errors", "seen")

    def __init__(self, sampled: bool) -> None:
        self.snapshot = False
        # Receive stamps and bytes side by side: no object per message for the collector to scan.
        self.received_us = array("q")
        self.messages: list[bytes] = []
        self.tallied = 0  # messages already decoded
        self.count = 0  # updates received inside the measured id window
        self.errors = 0
        self.seen: list[tuple[str, int, int]] | None = [] if sampled else None  # (symbol, id, receive µs)


async def _read(call, stats: StreamStats) -> None:
    """The receive path: stamp each message as it arrives and keep its bytes.

    Decoding and checking every update of 100+ streams in the worker's one Python thread
    while the load runs made the benchmark's clients, not the server, the bottleneck (a full
    core in `spread`): `tally` does it once the load is written, from the receive stamps."""
    stamps, messages = stats.received_us, stats.messages
    try:
        async for raw in call:
            stamps.append(time.time_ns() // 1000)
            messages.append(raw)
            if not stats.snapshot:
                stats.snapshot = MarketUpdate.FromString(raw).kind == MarketUpdate.SNAPSHOT
    except grpc.aio.AioRpcError as exc:
        if exc.code() != grpc.StatusCode.CANCELLED:
            stats.errors += 1


def tally(stats: StreamStats, low: int, high: int, latencies: array, hops: array) -> None:
    """Decode the messages received since the last tally; count and time the window's updates."""
    update_kind = MarketUpdate.UPDATE
    start, stats.tallied = stats.tallied, len(stats.messages)
    for received_us, raw in zip(stats.received_us[start:stats.tallied], stats.messages[start:stats.tallied]):
        message = MarketUpdate.FromString(raw)
        if message.kind != update_kind:
            continue
        counted = 0
        for update in message.updates:
            if low <= update.update_id <= high:
                counted += 1
                latencies.append(received_us - update.times.publish_us)
                if stats.seen is not None:
                    stats.seen.append((update.symbol, update.update_id, received_us))
        if counted:
            stats.count += counted
            # Per message: publish (its oldest update) -> server send, and server send -> receive.
            hops.append(message.server_send_us - message.updates[0].times.publish_us)
            hops.append(received_us - message.server_send_us)


async def _until_quiet(stats: list[StreamStats], deadline: float, quiet_s: float = 0.3) -> None:
    """Until no stream has received anything for `quiet_s` (or the deadline)."""
    received = -1
    while time.monotonic() < deadline:
        now_received = sum(len(s.messages) for s in stats)
        if now_received == received:
            return
        received = now_received
        await asyncio.sleep(quiet_s)


async def _subscribers(address: str, streams: int, conn) -> None:
    loop = asyncio.get_running_loop()
    channels = [grpc.aio.insecure_channel(address, options=[("grpc.max_receive_message_length", 64 << 20)])
                for _ in range(math.ceil(streams / STREAMS_PER_CHANNEL))]
    stats = [StreamStats(sampled=i < SAMPLED_STREAMS) for i in range(streams)]
    latencies, hops = array("q"), array("q")
    calls, tasks = [], []
    for i, stat in enumerate(stats):
        subscribe = channels[i // STREAMS_PER_CHANNEL].unary_stream(
            f"/{SERVICE}/Subscribe", request_serializer=market_data_pb2.SubscribeRequest.SerializeToString)
        call = subscribe(market_data_pb2.SubscribeRequest())  # responses stay bytes until `tally`
        calls.append(call)
        tasks.append(asyncio.create_task(_read(call, stat)))
    while not all(s.snapshot or s.errors for s in stats):
        await asyncio.sleep(0.05)
    conn.send(("ready", sum(s.errors for s in stats)))
    _, low, high = await loop.run_in_executor(None, conn.recv)  # update ids to count
    conn.send("window set")
    _, expected, settle_s = await loop.run_in_executor(None, conn.recv)  # the writer is done
    receive_cpu_s = time.process_time()  # what receiving the load cost (tallying comes after)
    deadline = time.monotonic() + settle_s
    while True:
        await _until_quiet(stats, deadline)  # tallying while a backlog arrives would delay its stamps
        for stat in stats:
            tally(stat, low, high, latencies, hops)
        if time.monotonic() >= deadline or all(s.count >= expected for s in stats):
            break
    for call in calls:
        call.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for channel in channels:
        await channel.close()
    conn.send({"counts": [s.count for s in stats], "errors": sum(s.errors for s in stats),
               "latencies_us": latencies.tobytes(), "hops_us": hops.tobytes(),
               "seen": [s.seen for s in stats if s.seen is not None], "cpu_s": receive_cpu_s})


def start_workers(address: str, subscribers: int, per_worker: int = STREAMS_PER_WORKER,
                  ) -> list[tuple[multiprocessing.Process, Any]]:
    context = multiprocessing.get_context("spawn")
    workers, remaining = [], subscribers
    count = math.ceil(subscribers / per_worker)
    for index in range(count):
        streams = remaining // (count - index)
        remaining -= streams
        parent, child = context.Pipe()
        process = context.Process(target=subscriber_worker, args=(address, streams, child), daemon=True)
        process.start()
        workers.append((process, parent))
    for process, conn in workers:
        _, errors = _receive(conn, 120)
        if errors:
            raise RuntimeError(f"{errors} subscriber streams failed to open")
    return workers


def _receive(conn, timeout: float):
    if not conn.poll(timeout):
        raise TimeoutError(f"a subscriber worker did not answer within {timeout:g}s")
    return conn.recv()


# --- the load ---------------------------------------------------------------------------------
def write_load(store: SignalStore, symbols: Sequence[str], first_id: int, ticks: int, pattern: str,
               published: dict[tuple[str, int], int] | None = None) -> float:
    """Write `ticks` updates per symbol at RATE_HZ, ids first_id.. ; returns the seconds it took.

    `published` collects each update's publish time (SignalStore stamps it on the message)."""
    period = 1 / RATE_HZ
    start = time.monotonic()
    for tick in range(ticks):
        update_id = first_id + tick
        updates = [signal_update(s, update_id, obi=(tick % 21 - 10) / 10) for s in symbols]
        if pattern == "burst":
            _sleep_until(start + tick * period)
            store.write_many(updates)
        else:
            for index, update in enumerate(updates):
                _sleep_until(start + tick * period + index * period / len(symbols))
                store.write(update)
        if published is not None:
            published.update(((u.symbol, u.update_id), u.times.publish_us) for u in updates)
    _sleep_until(start + ticks * period)  # the next call's first tick keeps the cadence (no double burst)
    return time.monotonic() - start


def visibility_ms(published: dict[tuple[str, int], int], seen: list[tuple[str, int, int]]) -> list[float]:
    """Per written update: how long until this client held it or a newer value of its symbol.

    Equal to the latency when every update is pushed; for a poller it includes the wait for the
    next poll of the updates it never sends (superseded before the poll)."""
    by_symbol: dict[str, tuple[list[int], list[int]]] = {}
    for symbol, update_id, received_us in sorted(seen, key=lambda s: s[2]):
        ids, times = by_symbol.setdefault(symbol, ([], []))
        if not ids or update_id > ids[-1]:
            ids.append(update_id)
            times.append(received_us)
    visible = []
    for (symbol, update_id), publish_us in published.items():
        ids, times = by_symbol.get(symbol, ([], []))
        at = bisect.bisect_left(ids, update_id)
        if at < len(ids):
            visible.append((times[at] - publish_us) / 1000)
    return visible


def _sleep_until(moment: float) -> None:
    delay = moment - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def latency_figures(latencies_us) -> dict[str, float]:
    """Latencies in µs as the harness's percentiles in ms."""
    values = [int(v) / 1000.0 for v in latencies_us]
    return percentiles(values, digits=3)


def measure_round(settings: Settings, subscribers: int, duration_s: float, *, pattern: str = "burst",
                  server: Callable[[Settings], None] = serve_hub, warmup_s: float = 1.0,
                  settle_s: float = 10.0, streams_per_worker: int = STREAMS_PER_WORKER) -> dict[str, Any]:
    """One server, `subscribers` streams, the load for `duration_s`: latency and delivery figures."""
    import numpy as np

    settings = settings.override(grpc_port=free_port(), grpc_max_streams=subscribers + 100)
    address = settings.serve.address
    symbols = settings.market.symbols[:SYMBOLS]
    redis = redis_client(settings.redis)
    store = SignalStore(redis)
    process = start_server(settings, server)
    workers = []
    try:
        workers = start_workers(address, subscribers, streams_per_worker)
        warmup_ticks, ticks = int(warmup_s * RATE_HZ), max(1, int(duration_s * RATE_HZ))
        first_id = time.time_ns() // 1000  # newer than anything a previous round wrote
        low = first_id + warmup_ticks
        for _, conn in workers:
            conn.send(("window", low, low + ticks - 1))
        for _, conn in workers:
            _receive(conn, 30)
        redis_cpu_before = _redis_cpu(redis)
        cpu_before = cpu_seconds(process.pid)
        write_load(store, symbols, first_id, warmup_ticks, pattern)
        published: dict[tuple[str, int], int] = {}
        measured_s = write_load(store, symbols, low, ticks, pattern, published)
        server_cpu = cpu_seconds(process.pid) - cpu_before
        redis_cpu = _redis_cpu(redis) - redis_cpu_before
        redis_clients = redis.info("clients")["connected_clients"]  # while every stream is open
        expected = ticks * len(symbols)
        for _, conn in workers:
            conn.send(("finish", expected, settle_s))
        results = [_receive(conn, settle_s + 60) for _, conn in workers]
        server_rss = rss_mib([process.pid])
    finally:
        stop_server(process)
        for worker, _ in workers:
            worker.join(10)
            if worker.is_alive():
                worker.kill()
    counts = [count for result in results for count in result["counts"]]
    latencies = np.concatenate([np.frombuffer(r["latencies_us"], dtype=np.int64) for r in results])
    hops = np.concatenate([np.frombuffer(r["hops_us"], dtype=np.int64) for r in results]).reshape(-1, 2)
    elapsed = warmup_s + measured_s
    visible = [v for r in results for seen in r["seen"] for v in visibility_ms(published, seen)]
    sampled = sum(len(r["seen"]) for r in results)
    figures = {
        "subscribers": subscribers, "pattern": pattern, "duration_s": round(measured_s, 2),
        "client_processes": len(results),
        "updates_written": expected, "updates_expected": expected * subscribers,
        "latency_ms": latency_figures(latencies),
        "per_message_hops_ms": {"publish_to_server_send": latency_figures(hops[:, 0]),
                                "server_send_to_receive": latency_figures(hops[:, 1])},
        "visible_after_ms": {**latency_figures([int(v * 1000) for v in visible]), "streams_sampled": sampled,
                             "never_visible": sampled * expected - len(visible)},
        "delivery_ratio": round(sum(counts) / (expected * subscribers), 6),
        "streams_complete": sum(count >= expected for count in counts),
        "min_stream_delivery": round(min(counts) / expected, 6) if counts else 0.0,
        "stream_errors": sum(r["errors"] for r in results),
        "server_cpu_pct": round(100 * server_cpu / elapsed, 1),
        "client_cpu_s": round(sum(r["cpu_s"] for r in results), 1),
        "server_rss_mib": round(server_rss, 1),
        "redis_cpu_pct": round(100 * redis_cpu / elapsed, 1),
        "redis_connected_clients": redis_clients,
    }
    beat = read_heartbeats(redis, "serve").get(f"serve:{address}")
    if beat:
        figures["server"] = {k: beat[k] for k in ("messages_sent", "updates_sent", "conflated", "drops")}
        figures["server"]["updates_per_message"] = round(beat["updates_sent"] / max(1, beat["messages_sent"]), 2)
    redis.close()
    return figures


def _redis_cpu(redis) -> float:
    info = redis.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def measure_fanout(settings: Settings, subscriber_counts: Sequence[int] = (1, 10, 100, 1000),
                   duration_s: float = 20.0, *, pattern: str = "burst",
                   progress: Callable[[str], None] = lambda line: None) -> dict[str, Any]:
    """Latency (publish -> client receive) and delivery per subscriber count. Needs Redis per `settings`."""
    rounds = {}
    for count in subscriber_counts:
        progress(f"fanout: {count} subscribers, {pattern} load, {duration_s:g}s")
        rounds[str(count)] = measure_round(settings, count, duration_s, pattern=pattern)
        latency = rounds[str(count)]["latency_ms"]
        progress(f"  p50 {latency.get('p50')} ms, p99 {latency.get('p99')} ms, "
                 f"delivery {rounds[str(count)]['delivery_ratio']:.4f}")
    return {"load": {"symbols": SYMBOLS, "rate_hz_per_symbol": RATE_HZ, "pattern": pattern,
                     "updates_per_s": SYMBOLS * RATE_HZ}, "by_subscribers": rounds}


# --- the harness entry point and a standalone one ------------------------------------------------
def run(ctx) -> dict:
    """`quantcore bench fanout` (bench.harness.BenchContext): both load patterns, plus a plot."""
    counts = _counts(ctx.option("subscribers", "1,10,100,1000", smoke_default="1,10"))
    duration = float(ctx.option("duration", 20.0, smoke_default=2.0))
    patterns = str(ctx.option("patterns", "burst,spread", smoke_default="burst")).split(",")
    figures = {pattern: measure_fanout(ctx.settings, counts, duration, pattern=pattern, progress=ctx.progress)
               for pattern in patterns}
    _plot(figures, ctx.plot_path("fanout_latency.png"))
    return figures


def _counts(value) -> tuple[int, ...]:
    return tuple(int(v) for v in str(value).split(",")) if not isinstance(value, (list, tuple)) else tuple(value)


def _plot(figures: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for pattern, result in figures.items():
        rounds = result["by_subscribers"]
        counts = [int(c) for c in rounds]
        for q, style in (("p50", "-o"), ("p99", "--s")):
            ax.plot(counts, [rounds[str(c)]["latency_ms"].get(q, 0) for c in counts], style, label=f"{pattern} {q}")
    ax.set_xscale("log")
    ax.set_xlabel("subscribers (one stream each, all 30 symbols)")
    ax.set_ylabel("Redis publish -> client receive (ms)")
    ax.set_title("gRPC fan-out at 30 symbols x 10 Hz")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", default="1,10,100,1000")
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--pattern", choices=("burst", "spread"), default="burst")
    args = parser.parse_args()
    from bench.harness import temporary_platform

    with temporary_platform(("redis",)) as settings:
        figures = measure_fanout(settings, _counts(args.subscribers), args.duration, pattern=args.pattern,
                                 progress=lambda line: print(line, flush=True))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
