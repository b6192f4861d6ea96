"""e2e: the simulator at a given load through the whole pipeline to a gRPC client.

The three streams run as the same `quantcore stream ...` processes Dagster supervises.
Every message carries the timestamps of each hop, so the client decomposes latency:
exchange event -> ingest -> Kafka append -> compute -> Redis publish -> server send ->
client receive. Binance event times have millisecond resolution, so the first hop does too.

The default window is 5 minutes, long enough to hold the real-time trigger's checkpoints
(every `compute.realtime_checkpoint_s`; processing pauses at each): `stalls` lists every
second of the window whose slowest update took over STALL_MS, and the longest silence.
"""

from __future__ import annotations

import time
from contextlib import ExitStack

import grpc

from quantcore import wire
from bench.harness import BenchContext, percentiles
from bench.process_cpu import tree_cpu_seconds
from quantcore.wire import market_data_pb2
from quantcore.settings import ServeSettings
from quantcore_platform.services.process import ManagedProcess
from quantcore_platform.services.readiness import wait_for_signals
from quantcore_platform.services.simulator_service import SimulatorService
from quantcore_platform.streams.catalog import Stream, stream_launch
from quantcore_platform.streams.supervisor import StreamProcess
from quantcore.timeutil import now_us

SERVICES = ("kafka", "redis")
STALL_MS = 150.0  # the target for the maximum exchange -> client latency
HOPS = ("exchange_to_ingest", "ingest_to_kafka", "kafka_to_compute", "compute_to_publish",
        "publish_to_send", "send_to_receive")


def hop_latencies_ms(update: market_data_pb2.SignalUpdate, server_send_us: int, receive_us: int) -> dict[str, float]:
    t = update.times
    stamps = (t.exchange_event_us, t.ingest_us, t.kafka_append_us, t.compute_us, t.publish_us, server_send_us,
              receive_us)
    hops = {hop: (later - earlier) / 1000 for hop, earlier, later in zip(HOPS, stamps, stamps[1:])}
    hops["end_to_end"] = (receive_us - t.exchange_event_us) / 1000
    hops["kafka_to_publish"] = (t.publish_us - t.kafka_append_us) / 1000
    hops["publish_to_receive"] = (receive_us - t.publish_us) / 1000
    hops["received_s"] = receive_us / 1e6
    return hops


def stalls(samples: list[dict[str, float]], slower_than_ms: float = STALL_MS) -> dict:
    """The window's stalls: each second (from the first update) whose slowest update took
    longer than `slower_than_ms` end to end, with that latency; and the longest time with no
    update at all."""
    if not samples:
        return {"slow_seconds": [], "longest_silence_ms": 0.0}
    start = samples[0]["received_s"]
    worst: dict[int, float] = {}
    for sample in samples:
        if sample["end_to_end"] > slower_than_ms:
            second = int(sample["received_s"] - start)
            worst[second] = max(worst.get(second, 0.0), sample["end_to_end"])
    received = [sample["received_s"] for sample in samples]
    silence = max((b - a for a, b in zip(received, received[1:])), default=0.0)
    return {"slow_seconds": [[second, round(ms, 1)] for second, ms in sorted(worst.items())],
            "longest_silence_ms": round(silence * 1000, 1)}


def collect(serve: ServeSettings, duration_s: float) -> list[dict[str, float]]:
    samples = []
    deadline = time.monotonic() + duration_s
    with grpc.insecure_channel(serve.address) as channel:
        stub = wire.market_data_pb2_grpc.MarketDataStub(channel)
        stream = stub.Subscribe(market_data_pb2.SubscribeRequest(), timeout=duration_s + 5)
        for message in stream:
            receive_us = now_us()
            if message.kind == wire.MarketUpdate.UPDATE:
                samples += [hop_latencies_ms(u, message.server_send_us, receive_us) for u in message.updates]
            if time.monotonic() >= deadline:
                stream.cancel()
                break
    return samples


def run(ctx: BenchContext) -> dict:
    settings = ctx.settings
    duration = ctx.option("duration", 300.0, smoke_default=8.0)
    warmup = ctx.option("warmup", 20.0, smoke_default=3.0)
    with ExitStack() as stack:
        simulator = SimulatorService.from_settings(settings)
        simulator.start()
        stack.callback(simulator.stop)
        pids = {"simulator": simulator.process.running().pid,
                **{name: ManagedProcess(name, settings.paths.run_dir, settings.paths.logs_dir).running().pid
                   for name in SERVICES}}  # the harness started them under this home
        for stream in (Stream.serve, Stream.compute, Stream.ingest):
            process = StreamProcess(stream_launch(stream, {}, settings), on_line=lambda line: None)
            pids[stream.value] = process.start()
            stack.callback(process.stop)
        ctx.progress("waiting for the first update through the pipeline")
        first_s, _ = wait_for_signals(settings.serve, timeout=240)
        ctx.progress(f"warming up {warmup:.0f}s")
        time.sleep(warmup)
        ctx.progress(f"measuring {duration:.0f}s")
        cpu_before = {name: tree_cpu_seconds(pid) for name, pid in pids.items()}
        started = time.monotonic()
        samples = collect(settings.serve, duration)
        cores = cores_used(cpu_before, {name: tree_cpu_seconds(pid) for name, pid in pids.items()},
                           time.monotonic() - started)
    figures = {
        "load": {"symbols": len(settings.market.symbols), "rate_hz_per_symbol": settings.simulator.rate_hz},
        "first_update_s": round(first_s, 2),
        "updates_received": len(samples),
        "updates_per_s": round(len(samples) / duration, 1),
        "latency_ms": {hop: percentiles([s[hop] for s in samples])
                       for hop in (*HOPS, "kafka_to_publish", "publish_to_receive", "end_to_end")},
        "stalls": stalls(samples),
        # each component with its child processes (compute: the driver and its JVM)
        "cores_used_while_measuring": cores,
    }
    plot(ctx, figures, [s["end_to_end"] for s in samples])
    return figures


def cores_used(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]],
               wall_s: float) -> dict[str, float]:
    """Per component: CPU seconds over the window / wall seconds (a process born inside the
    window counts from 0)."""
    return {name: round(sum(cpu - before[name].get(pid, 0.0) for pid, cpu in tree.items()) / wall_s, 3)
            for name, tree in after.items()}


def plot(ctx: BenchContext, figures: dict, end_to_end: list[float]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    latency = figures["latency_ms"]
    fig, ax = plt.subplots(figsize=(7, 4))
    bottom = {"p50": 0.0, "p99": 0.0}
    for hop in HOPS:
        for i, q in enumerate(("p50", "p99")):
            ax.bar(i, latency[hop][q], bottom=bottom[q], label=hop if q == "p50" else None,
                   color=plt.cm.tab10(HOPS.index(hop)))
            bottom[q] += latency[hop][q]
    ax.set_xticks([0, 1], ["p50", "p99"])
    ax.set_ylabel("ms")
    ax.set_title("Latency per hop (stacked)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(ctx.plot_path("e2e_hops.png"), dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4))
    ordered = sorted(end_to_end)
    ax.plot(ordered, [(i + 1) / len(ordered) for i in range(len(ordered))])
    ax.set_xlabel("exchange event -> client receive (ms)")
    ax.set_ylabel("fraction of updates")
    ax.set_title("End-to-end latency CDF")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(ctx.plot_path("e2e_cdf.png"), dpi=110)
    plt.close(fig)
