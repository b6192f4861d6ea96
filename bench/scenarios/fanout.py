"""fanout: Redis publish -> gRPC client receive latency and delivery vs subscriber count.

The seed's load (30 symbols x 10 Hz) is written through `SignalStore` (the compute
stream's Lua contract) while N subscribers, each its own Subscribe stream to every symbol,
measure `receive time - times.publish_us` for every update and count what they get.

`--set feed=books [--set depth=20]` measures `SubscribeBooks` instead (issue 20: depth-20
books fanned out to 100 subscribers, p99): a Kafka broker starts in the bench's platform
home for these rounds, the writer produces real 20-level BookRecords of the simulator's
market model (30 symbols x 10 Hz, the same patterns) to the book topic through the
ingest's producer, the server under test reads them from Kafka as `quantcore stream serve`
does, and each subscriber opens `SubscribeBooks(symbols=[], depth)` with the Python grpc.aio
workers (the Go client speaks Subscribe only). A book's latency is the writer's produce
(the record's `ingest_time_us`, stamped as it is produced) -> client receive, so it includes
the Kafka hop; the per-message hops start at the broker's append time (whole ms). Delivery
counts books received in the window against books written x subscribers: a client that
falls behind gets only the newest book per symbol (conflation, counted by the server as
`server.conflated`; `visible_after_ms` is the latency until a book or a newer one of its
symbol arrived). Subscriber counts 1, 10, 100 by default. Every figure has the signals'
name and shape ("update" = one book); fanout_feeds.py holds what differs between the feeds.

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
    python -m bench.scenarios.fanout --feed books --subscribers 1,10,100
    quantcore bench fanout [--set client=python]      # through the harness (`run(ctx)` below)
    quantcore bench fanout --set feed=books --set depth=20
"""

from __future__ import annotations

import argparse
import bisect
import functools
import json
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
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
from bench.scenarios.fanout_feeds import BOOK_DEPTH, FEED_NAMES, SIGNALS, Feed, Writer, feed_named
from quantcore_platform.services.process import rss_mib
from quantcore.heartbeats import read_heartbeats
from quantcore_platform.services.process import free_port
from quantcore.clients import redis_client
from quantcore.settings import Settings

SYMBOLS = 30
RATE_HZ = 10.0
SMOKE_FEEDS = "signals,books"  # the smoke covers both feeds: books with one short round


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
def write_load(writer: Writer, symbols: Sequence[str], first_id: int, ticks: int, pattern: str,
               published: dict[tuple[str, int], int] | None = None) -> float:
    """Write `ticks` updates per symbol at RATE_HZ, ids first_id.. ; returns the seconds it took.

    `published` collects each update's latency start (the time the writer stamped on it)."""
    period = 1 / RATE_HZ
    start = time.monotonic()
    for tick in range(ticks):
        update_id = first_id + tick
        if pattern == "burst":
            _sleep_until(start + tick * period)
            written = writer.write(symbols, update_id, tick)
        else:
            written = []
            for index, symbol in enumerate(symbols):
                _sleep_until(start + tick * period + index * period / len(symbols))
                written += writer.write([symbol], update_id, tick)
        if published is not None:
            published.update(((symbol, update_id), stamp_us) for symbol, update_id, stamp_us in written)
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
                  servers: int = 1, per_connection: int = STREAMS_PER_CONNECTION, feed: Feed = SIGNALS,
                  warmup_s: float = 1.0, settle_s: float = 10.0) -> dict[str, Any]:
    """`servers` server processes on one port, `subscribers` streams of `feed` through
    `client` (go or python; `per_connection` streams to an HTTP/2 connection), the load for
    `duration_s`: latency, delivery and CPU figures. Needs `feed.services` running."""
    import numpy as np

    settings = settings.override(grpc_port=free_port(), grpc_max_streams=subscribers + 100)
    address = settings.serve.address
    symbols = settings.market.symbols[:SYMBOLS]
    redis = redis_client(settings.redis)
    processes = start_servers(settings, server, servers)
    pids = [process.pid for process in processes]
    clients = None
    try:
        with feed.writer(settings, redis, symbols) as writer:
            clients = open_subscribers(client, address, subscribers, per_connection, feed)
            warmup_ticks, ticks = int(warmup_s * RATE_HZ), max(1, int(duration_s * RATE_HZ))
            first_id = time.time_ns() // 1000  # newer than anything a previous round wrote
            low = first_id + warmup_ticks
            clients.set_window(low, low + ticks - 1)
            redis_cpu_before = _redis_cpu(redis)
            cpu_before = servers_cpu_seconds(pids)
            write_load(writer, symbols, first_id, warmup_ticks, pattern)
            window_start = servers_cpu_seconds(pids), clients_cpu_seconds(clients)
            published: dict[tuple[str, int], int] = {}
            measured_s = write_load(writer, symbols, low, ticks, pattern, published)
            window_end = servers_cpu_seconds(pids), clients_cpu_seconds(clients)
            writer_figures = writer.figures()
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
    first_hop, second_hop = feed.hop_names
    figures = {
        "subscribers": subscribers, "pattern": pattern, "feed": feed.name, "duration_s": round(measured_s, 2),
        "client": client, "client_processes": len(results), "server_processes": servers,
        "streams_per_connection": per_connection,
        "updates_written": expected, "updates_expected": expected * subscribers,
        "latency_ms": latency_figures(latencies),
        "per_message_hops_ms": {first_hop: latency_figures(hops[:, 0]),
                                second_hop: latency_figures(hops[:, 1])},
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
        **writer_figures,
    }
    server_counters = _server_counters(redis, address, feed)
    if server_counters:
        figures["server"] = server_counters
    redis.close()
    return figures


def _server_counters(redis, address: str, feed: Feed) -> dict[str, Any]:
    """The feed's counters summed over the servers' last heartbeats (books' are prefixed)."""
    beats = [beat for instance, beat in read_heartbeats(redis, "serve").items()
             if instance == f"serve:{address}" or instance.startswith(f"serve:{address}#")]
    if not beats:
        return {}
    counters = {k: sum(beat[feed.counters_prefix + k] for beat in beats)
                for k in ("messages_sent", "updates_sent", "conflated", "drops")}
    counters["updates_per_message"] = round(counters["updates_sent"] / max(1, counters["messages_sent"]), 2)
    return counters


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
                   servers: int = 1, per_connection: int = STREAMS_PER_CONNECTION, feed: Feed = SIGNALS,
                   progress: Callable[[str], None] = lambda line: None) -> dict[str, Any]:
    """Latency (the feed's stamp -> client receive) and delivery per subscriber count. Needs
    Redis per `settings`, and `feed.services` running."""
    rounds = {}
    for count in subscriber_counts:
        progress(f"fanout: {count} subscribers of {feed.name} ({client} client, {per_connection} a connection), "
                 f"{servers} server process(es), {pattern} load, {duration_s:g}s")
        rounds[str(count)] = measure_round(settings, count, duration_s, pattern=pattern, client=client,
                                           servers=servers, per_connection=per_connection, feed=feed)
        latency = rounds[str(count)]["latency_ms"]
        progress(f"  p50 {latency.get('p50')} ms, p99 {latency.get('p99')} ms, "
                 f"delivery {rounds[str(count)]['delivery_ratio']:.4f}")
    return {"load": {"symbols": SYMBOLS, "rate_hz_per_symbol": RATE_HZ, "pattern": pattern,
                     "updates_per_s": SYMBOLS * RATE_HZ, **feed.describe()},
            "client": client, "server_processes": servers,
            "streams_per_connection": per_connection, "by_subscribers": rounds}


# --- the harness entry point and a standalone one ------------------------------------------------
def run(ctx) -> dict:
    """`quantcore bench fanout` (bench.harness.BenchContext): both load patterns, plus a plot.
    `--set client=python` measures with the Python workers instead of the Go client;
    `--set servers=N` runs N server processes sharing the port (the platform runs
    `serve.processes`, 2, for failover); `--set per_connection=N` streams share a client
    connection (100 by default). `--set feed=books [--set depth=20]` measures SubscribeBooks
    (Python clients, 1, 10, 100 subscribers by default); its figures are under "books" (the
    signals' stay where they were). The smoke runs both feeds, books for one short round."""
    feeds = [feed_named(name, ctx.option("depth", BOOK_DEPTH))
             for name in str(ctx.option("feed", "signals", smoke_default=SMOKE_FEEDS)).split(",")]
    figures: dict[str, Any] = {}
    with ExitStack() as running, ThreadPoolExecutor(max_workers=1) as starter:
        ready = start_services(feeds, ctx.settings, running, starter if ctx.smoke else None)
        for feed in feeds:
            ready[feed]()
            by_pattern = measure_feed(ctx, feed)
            _plot(by_pattern, ctx.plot_path(feed.plot), feed)
            if feed == SIGNALS:
                figures.update(by_pattern)  # where they always were
            else:
                figures[feed.name] = by_pattern
    return figures


def start_services(feeds: Sequence[Feed], settings: Settings, running: ExitStack,
                   starter: ThreadPoolExecutor | None) -> dict[Feed, Callable[[], Any]]:
    """Per feed, a call that returns once its services run (they stop with `running`).

    Without a `starter` a feed's services start when it is measured, so the signals rounds
    never share the cores with the broker's JVM. A smoke passes one: every feed's services
    start in that thread at once, and Kafka's ~10 s start hides behind the signals rounds
    (a smoke never judges speed). `running` must outlive `starter` (a start still running
    when the measuring fails registers its stop on `running` before it closes)."""
    if starter is None:
        return {feed: functools.partial(running.enter_context, feed.services(settings)) for feed in feeds}
    starts = {feed: starter.submit(running.enter_context, feed.services(settings)) for feed in feeds}
    return {feed: start.result for feed, start in starts.items()}


def measure_feed(ctx, feed: Feed) -> dict[str, Any]:
    """The feed's rounds with the context's options: {pattern: measure_fanout's figures}."""
    counts = _counts(ctx.option("subscribers", feed.subscribers, smoke_default=feed.smoke_subscribers))
    duration = float(ctx.option("duration", 20.0, smoke_default=feed.smoke_duration_s))
    patterns = str(ctx.option("patterns", "burst,spread", smoke_default="burst")).split(",")
    options = {"client": str(ctx.option("client", feed.default_client)), "servers": int(ctx.option("servers", 1)),
               "per_connection": int(ctx.option("per_connection", STREAMS_PER_CONNECTION))}
    return {pattern: measure_fanout(ctx.settings, counts, duration, pattern=pattern, feed=feed,
                                    progress=ctx.progress, **options)
            for pattern in patterns}


def _counts(value) -> tuple[int, ...]:
    return tuple(int(v) for v in str(value).split(",")) if not isinstance(value, (list, tuple)) else tuple(value)


def _plot(figures: dict, path: Path, feed: Feed = SIGNALS) -> None:
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
    ax.set_ylabel(feed.latency_axis)
    ax.set_title(feed.plot_title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feed", choices=FEED_NAMES, default="signals")
    parser.add_argument("--depth", type=int, default=BOOK_DEPTH, help="books: levels per side")
    parser.add_argument("--subscribers", default=None, help="default: 1,10,100,1000 (signals), 1,10,100 (books)")
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--pattern", choices=("burst", "spread"), default="burst")
    parser.add_argument("--client", choices=CLIENTS, default=None, help="default: go (signals), python (books)")
    parser.add_argument("--servers", type=int, default=1, help="server processes sharing the port")
    parser.add_argument("--per-connection", type=int, default=STREAMS_PER_CONNECTION)
    args = parser.parse_args()
    from bench.harness import temporary_platform

    feed = feed_named(args.feed, args.depth)
    with temporary_platform(("redis",)) as settings, feed.services(settings):
        figures = measure_fanout(settings, _counts(args.subscribers or feed.subscribers), args.duration,
                                 pattern=args.pattern, client=args.client or feed.default_client, feed=feed,
                                 servers=args.servers, per_connection=args.per_connection,
                                 progress=lambda line: print(line, flush=True))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
