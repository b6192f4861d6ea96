"""cost: what the whole platform costs to keep running, per component, at the seed's load
and at multiples of it.

For each load (`--set loads=1,10`: multiples of `--rate-hz`, 10 updates per symbol per second
by default) the platform comes up as `quantcore up --detach` brings it (Kafka, Redis, the
simulator, Dagster's code server, webserver and daemon, the supervisor, the three streams
launched as Dagster runs), one gRPC client subscribes to every symbol, and every process of
the home is sampled from /proc every `sample_s` for `duration` seconds (5 minutes by default).
Figures per component (bench/platform_cost.py): cores, resident MiB (median, max), processes,
and processes started in the window; the machine's busy cores (/proc/stat, everything on it),
this process's own CPU (the client), and the client's exchange -> client latency.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

from bench.harness import BenchContext, percentiles
from bench.platform_cost import ProcessSample, standing_cost
from bench.process_cpu import machine_busy_seconds, process_sample, trees
from bench.scenarios.e2e import collect, stalls
from quantcore.errors import PlatformError
from quantcore.settings import Settings
from quantcore_platform.services import platform
from quantcore_platform.services.process import command_line, processes_of_home
from quantcore_platform.services.readiness import wait_for_signals

Samples = list[tuple[float, dict[int, ProcessSample]]]


def sample_home(settings: Settings) -> dict[int, ProcessSample]:
    """Every live process of the platform's home now, and every process below one: a child
    that receives only its own settings sections (a serve worker, an ingest shard) has no
    QUANTCORE_HOME to be found by."""
    found = {}
    for pid in trees(processes_of_home(settings.paths.home_dir)):
        if (sample := process_sample(pid, command_line(pid))) is not None:
            found[pid] = sample
    return found


def measure_running_platform(settings: Settings, duration_s: float, sample_s: float = 5.0,
                             progress: Callable[[str], None] = lambda text: None) -> dict:
    """The standing cost of the platform running in `settings`' home over `duration_s`,
    with one client subscribed to every symbol meanwhile."""
    received: list[list[dict[str, float]]] = []
    client = threading.Thread(target=lambda: received.append(collect(settings.serve, duration_s)), daemon=True)
    samples: Samples = [(time.monotonic(), sample_home(settings))]
    busy_before, own_before = machine_busy_seconds(), _own_cpu_s()
    client.start()
    deadline = samples[0][0] + duration_s
    while (now := time.monotonic()) < deadline:
        time.sleep(min(sample_s, deadline - now))
        samples.append((time.monotonic(), sample_home(settings)))
        progress(f"sampled {samples[-1][0] - samples[0][0]:.0f}/{duration_s:.0f}s")
    wall_s = samples[-1][0] - samples[0][0]
    busy, own = machine_busy_seconds() - busy_before, _own_cpu_s() - own_before
    client.join(timeout=30)
    updates = received[0] if received else []
    components = standing_cost(samples)
    return {
        "window_s": round(wall_s, 1),
        "components": components,
        "platform_cores": round(sum(c["cores"] for c in components.values()), 3),
        "platform_rss_mib": round(sum(c["rss_mib_median"] for c in components.values()), 1),
        "machine_cores_busy": round(busy / wall_s, 3),
        "client_cores": round(own / wall_s, 3),  # this process: the client, and the sampling
        "client": {"updates": len(updates), "updates_per_s": round(len(updates) / wall_s, 1),
                   "end_to_end_ms": percentiles([u["end_to_end"] for u in updates]),
                   "stalls": stalls(updates)},
    }


def run(ctx: BenchContext) -> dict:
    loads = _loads(ctx.option("loads", "1,10", smoke_default="1"))
    duration = float(ctx.option("duration", 300.0, smoke_default=5.0))
    warmup = float(ctx.option("warmup", 30.0, smoke_default=0.0))
    sample_s = float(ctx.option("sample_s", 5.0, smoke_default=1.0))
    base_hz = ctx.settings.simulator.rate_hz
    figures: dict = {"symbols": len(ctx.settings.market.symbols), "base_rate_hz": base_hz}
    for load in loads:
        settings = ctx.settings.override(simulator_rate_hz=base_hz * load)
        ctx.progress(f"{load:g}x: starting the platform")
        started = time.monotonic()
        platform.up(settings, report=ctx.progress)
        try:
            wait_for_signals(settings.serve, timeout=300)
            up_s = time.monotonic() - started
            platform.start_supervisor(settings)
            ctx.progress(f"{load:g}x: warming up {warmup:.0f}s")
            time.sleep(warmup)
            measured = measure_running_platform(settings, duration, sample_s,
                                                progress=lambda text: ctx.progress(f"{load:g}x: {text}"))
        finally:
            platform.down(settings)
        figures[f"load_{load:g}x"] = {"rate_hz_per_symbol": base_hz * load, "up_to_first_update_s": round(up_s, 1),
                                      **measured}
    return figures


def _loads(value: object) -> list[float]:
    try:
        loads = [float(part) for part in str(value).split(",") if part.strip()]
    except ValueError:
        loads = []
    if not loads or any(load <= 0 for load in loads):
        raise PlatformError(f"bad loads={value!r}", "use --set loads=1,10 (positive multiples of --rate-hz)")
    return loads


def _own_cpu_s() -> float:
    times = os.times()
    return times.user + times.system
