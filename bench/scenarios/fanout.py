"""fanout: Redis publish -> gRPC client receive latency and delivery vs subscriber count.

The seed's load (30 symbols x 10 Hz) is written through `SignalStore` (the compute
stream's Lua contract) while N subscribers, each its own Subscribe stream to every symbol,
measure `receive time - times.publish_us` for every update and count what they get.

Processes (2 cores): the server under test runs alone in its own process; the subscribers
are one Go process (`qc-subscribers`, bench/loadclient/) or, with `client=python`, grpc.aio
streams in one or two worker processes (~55 µs of CPU a message, competing with the server
for the cores): fanout_clients.py. The writer is this process.
Every count gets a fresh server. The figures put the clients' CPU per delivered update
beside the server's.

Patterns: `burst` writes the 30 symbols of a tick in one pipelined batch every 100 ms
(how the compute stream writes, one batch per micro-batch); `spread` writes each symbol
on its own 100 ms cycle, one update every 3.3 ms (the seed's one-message-per-update feed).

    python -m bench.scenarios.fanout --subscribers 1,10,100,1000 --duration 20 [--pattern spread] [--client python]
    quantcore bench fanout [--set client=python]      # through the harness (`run(ctx)` below)
"""

from __future__ import annotations

import argparse
import bisect
import json
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.harness import percentiles
from bench.process_cpu import cpu_seconds
from bench.scenarios.fanout_clients import (
    CLIENTS,
    DEFAULT_CLIENT,
    QUIET_ENV,
    STREAMS_PER_CONNECTION,
    clients_cpu_seconds,
    open_subscribers,
)
from quantcore_platform.services.process import rss_mib
from quantcore.heartbeats import read_heartbeats
from quantcore_platform.services.process import free_port
from quantcore.clients import redis_client
from quantcore.settings import Settings
from quantcore.samples import signal_update
from quantcore.signal_store import SignalStore

SYMBOLS = 30
RATE_HZ = 10.0


# --- the server under test (a child process) -------------------------------------------
def serve_hub(settings: Settings, worker: int | None = None) -> None:
    """Our server: one Redis subscription, hub, per-client queues (`quantcore stream serve`);
    `worker` i of several sharing the port (SO_REUSEPORT), as `serve.processes` runs them."""
    os.environ.update(QUIET_ENV)
    from serving.server import run_server

    run_server(settings, worker)


def start_servers(settings: Settings, target: Callable[..., None], count: int = 1) -> list[multiprocessing.Process]:
    """`count` server processes on the port: one alone, or workers sharing it (`target` then
    takes the worker index, as `serve_hub` does)."""
    context = multiprocessing.get_context("spawn")
    args = [(settings,)] if count == 1 else [(settings, worker) for worker in range(count)]
    processes = [context.Process(target=target, args=arguments, daemon=True) for arguments in args]
    for process in processes:
        process.start()
    for process in processes:
        wait_serving(settings.serve.address, process)
    return processes


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
                  server: Callable[..., None] = serve_hub, client: str = DEFAULT_CLIENT,
                  servers: int = 1, per_connection: int = STREAMS_PER_CONNECTION,
                  warmup_s: float = 1.0, settle_s: float = 10.0) -> dict[str, Any]:
    """`servers` server processes on one port, `subscribers` streams of `client` (go or
    python; `per_connection` streams to an HTTP/2 connection), the load for `duration_s`:
    latency, delivery and CPU figures."""
    import numpy as np

    settings = settings.override(grpc_port=free_port(), grpc_max_streams=subscribers + 100)
    address = settings.serve.address
    symbols = settings.market.symbols[:SYMBOLS]
    redis = redis_client(settings.redis)
    store = SignalStore(redis)
    processes = start_servers(settings, server, servers)
    pids = [process.pid for process in processes]
    clients = None
    try:
        clients = open_subscribers(client, address, subscribers, per_connection)
        warmup_ticks, ticks = int(warmup_s * RATE_HZ), max(1, int(duration_s * RATE_HZ))
        first_id = time.time_ns() // 1000  # newer than anything a previous round wrote
        low = first_id + warmup_ticks
        clients.set_window(low, low + ticks - 1)
        redis_cpu_before = _redis_cpu(redis)
        cpu_before = servers_cpu_seconds(pids)
        write_load(store, symbols, first_id, warmup_ticks, pattern)
        window_start = servers_cpu_seconds(pids), clients_cpu_seconds(clients)
        published: dict[tuple[str, int], int] = {}
        measured_s = write_load(store, symbols, low, ticks, pattern, published)
        window_end = servers_cpu_seconds(pids), clients_cpu_seconds(clients)
        server_cpu = window_end[0] - cpu_before
        server_window_cpu, clients_window_cpu = (end - start for start, end in zip(window_start, window_end))
        redis_cpu = _redis_cpu(redis) - redis_cpu_before
        redis_clients = redis.info("clients")["connected_clients"]  # while every stream is open
        expected = ticks * len(symbols)
        results = clients.finish(expected, settle_s)
        server_rss = rss_mib(pids)
    finally:
        for process in processes:
            stop_server(process)
        if clients is not None:
            clients.stop()
    counts = [count for result in results for count in result["counts"]]
    latencies = np.concatenate([np.frombuffer(r["latencies_us"], dtype=np.int64) for r in results])
    hops = np.concatenate([np.frombuffer(r["hops_us"], dtype=np.int64) for r in results]).reshape(-1, 2)
    elapsed = warmup_s + measured_s
    visible = [v for r in results for seen in r["seen"] for v in visibility_ms(published, seen)]
    sampled = sum(len(r["seen"]) for r in results)
    delivered = sum(counts)
    figures = {
        "subscribers": subscribers, "pattern": pattern, "duration_s": round(measured_s, 2),
        "client": client, "client_processes": len(results), "server_processes": servers,
        "streams_per_connection": per_connection,
        "updates_written": expected, "updates_expected": expected * subscribers,
        "latency_ms": latency_figures(latencies),
        "per_message_hops_ms": {"publish_to_server_send": latency_figures(hops[:, 0]),
                                "server_send_to_receive": latency_figures(hops[:, 1])},
        "visible_after_ms": {**latency_figures([int(v * 1000) for v in visible]), "streams_sampled": sampled,
                             "never_visible": sampled * expected - len(visible)},
        "delivery_ratio": round(delivered / (expected * subscribers), 6),
        "streams_complete": sum(count >= expected for count in counts),
        "min_stream_delivery": round(min(counts) / expected, 6) if counts else 0.0,
        "stream_errors": sum(r["errors"] for r in results),
        "server_cpu_pct": round(100 * server_cpu / elapsed, 1),
        "client_cpu_s": round(sum(r["cpu_s"] for r in results), 3),
        # What serving one update to one subscriber costs beside what receiving it costs: CPU
        # of the measured window (after the warm-up, until the load is written; both from
        # /proc) per update delivered in it. A backlog still in flight at the end (delivery
        # settling late) leaves its CPU out, so both read low then.
        "server_cpu_us_per_update": per_update_us(server_window_cpu, delivered),
        "client_cpu_us_per_update": per_update_us(clients_window_cpu, delivered),
        "server_rss_mib": round(server_rss, 1),
        "redis_cpu_pct": round(100 * redis_cpu / elapsed, 1),
        "redis_connected_clients": redis_clients,
    }
    beats = [beat for instance, beat in read_heartbeats(redis, "serve").items()
             if instance == f"serve:{address}" or instance.startswith(f"serve:{address}#")]
    if beats:
        figures["server"] = {k: sum(beat[k] for beat in beats)
                             for k in ("messages_sent", "updates_sent", "conflated", "drops")}
        figures["server"]["updates_per_message"] = round(
            figures["server"]["updates_sent"] / max(1, figures["server"]["messages_sent"]), 2)
    redis.close()
    return figures


def servers_cpu_seconds(pids: Sequence[int]) -> float:
    return sum(cpu_seconds(pid) for pid in pids)


def per_update_us(cpu_s: float, updates: int) -> float | None:
    """CPU µs per update, None when nothing was delivered (no figure rather than a division by 0)."""
    return round(1e6 * cpu_s / updates, 2) if updates else None


def _redis_cpu(redis) -> float:
    info = redis.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def measure_fanout(settings: Settings, subscriber_counts: Sequence[int] = (1, 10, 100, 1000),
                   duration_s: float = 20.0, *, pattern: str = "burst", client: str = DEFAULT_CLIENT,
                   servers: int = 1, per_connection: int = STREAMS_PER_CONNECTION,
                   progress: Callable[[str], None] = lambda line: None) -> dict[str, Any]:
    """Latency (publish -> client receive) and delivery per subscriber count. Needs Redis per `settings`."""
    rounds = {}
    for count in subscriber_counts:
        progress(f"fanout: {count} subscribers ({client} client, {per_connection} a connection), "
                 f"{servers} server process(es), {pattern} load, {duration_s:g}s")
        rounds[str(count)] = measure_round(settings, count, duration_s, pattern=pattern, client=client,
                                           servers=servers, per_connection=per_connection)
        latency = rounds[str(count)]["latency_ms"]
        progress(f"  p50 {latency.get('p50')} ms, p99 {latency.get('p99')} ms, "
                 f"delivery {rounds[str(count)]['delivery_ratio']:.4f}")
    return {"load": {"symbols": SYMBOLS, "rate_hz_per_symbol": RATE_HZ, "pattern": pattern,
                     "updates_per_s": SYMBOLS * RATE_HZ}, "client": client, "server_processes": servers,
            "streams_per_connection": per_connection, "by_subscribers": rounds}


# --- the harness entry point and a standalone one ------------------------------------------------
def run(ctx) -> dict:
    """`quantcore bench fanout` (bench.harness.BenchContext): both load patterns, plus a plot.
    `--set client=python` measures with the Python workers instead of the Go client;
    `--set servers=N` runs N server processes sharing the port (the platform runs
    `serve.processes`, 2, for failover); `--set per_connection=N` streams share a client
    connection (100 by default)."""
    counts = _counts(ctx.option("subscribers", "1,10,100,1000", smoke_default="1,10"))
    duration = float(ctx.option("duration", 20.0, smoke_default=2.0))
    patterns = str(ctx.option("patterns", "burst,spread", smoke_default="burst")).split(",")
    client = str(ctx.option("client", DEFAULT_CLIENT))
    servers = int(ctx.option("servers", 1))
    per_connection = int(ctx.option("per_connection", STREAMS_PER_CONNECTION))
    figures = {pattern: measure_fanout(ctx.settings, counts, duration, pattern=pattern, client=client,
                                       servers=servers, per_connection=per_connection, progress=ctx.progress)
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
    parser.add_argument("--client", choices=CLIENTS, default=DEFAULT_CLIENT)
    parser.add_argument("--servers", type=int, default=1, help="server processes sharing the port")
    parser.add_argument("--per-connection", type=int, default=STREAMS_PER_CONNECTION)
    args = parser.parse_args()
    from bench.harness import temporary_platform

    with temporary_platform(("redis",)) as settings:
        figures = measure_fanout(settings, _counts(args.subscribers), args.duration, pattern=args.pattern,
                                 client=args.client, servers=args.servers, per_connection=args.per_connection,
                                 progress=lambda line: print(line, flush=True))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
