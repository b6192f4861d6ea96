"""compute on several Spark masters, side by side on the same backlog: how the compute
stream's per-core cost holds as the cluster grows (issue 18's scaling figures, the
stream's half; replay_scaling.py is the replay's).

`quantcore bench compute --set masters=local[2],cluster:1,cluster:2` runs, for each master,
the real `quantcore stream compute` process on a private topic pre-filled with `records`
books (20 levels a side), and times the drain from Redis between 10 % and 90 % of the
backlog (start-up and the last trigger left out) with the whole machine's CPU over the same
interval (/proc/stat: driver, executors, master, workers, broker and Redis alike):

- `local[N]`: the driver's own JVM with N task threads;
- `cluster:N`: a Spark standalone master and N workers (the daemons of `quantcore up
  --spark-workers N`), the stream's code shipped to them as on any cluster.

The trigger is micro-batch by default, `batch` records a trigger (`--set mode=realtime` for the
product's trigger).
Micro-batch workers offer one task slot each, like the replay's. The real-time trigger
holds a task per Kafka partition for as long as it runs, so its workers offer enough
slots for that (slots, not CPUs): there, "one core" is not something the cluster enforces.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from bench.process_cpu import machine_busy_seconds
from bench.scenarios.compute import SEED_SYMBOLS, BookFeed, position, prefilled_stream
from bench.scenarios.replay_scaling import _nothing, parse_master, per_core_projection, standalone_cluster
from quantcore.clients import redis_client
from quantcore.settings import Settings, TriggerMode


def drain_with_cpu(settings: Settings, symbols: list[str], records: int, process, timeout_s: float = 900
                   ) -> list[tuple[float, int, float]]:
    """(time, records written, machine busy core-seconds) every 0.2 s until the backlog is written."""
    client = redis_client(settings.redis)
    trace: list[tuple[float, int, float]] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        trace.append((time.monotonic(), position(client, symbols), machine_busy_seconds()))
        if trace[-1][1] >= records:
            return trace
        if process.process.poll() is not None:
            raise RuntimeError(f"the compute stream exited with {process.process.returncode} during the drain")
        time.sleep(0.2)
    raise RuntimeError(f"the compute stream wrote {trace[-1][1]:,} of {records:,} records in {timeout_s:.0f} s")


def drain_cost(trace: list[tuple[float, int, float]], records: int) -> dict[str, float]:
    """records/s and core-µs per record between the first samples at 10 % and 90 % of the backlog."""
    low = next(sample for sample in trace if sample[1] >= 0.1 * records)
    high = next(sample for sample in trace if sample[1] >= 0.9 * records)
    seconds, written, core_s = high[0] - low[0], high[1] - low[1], high[2] - low[2]
    if seconds <= 0 or written <= 0:
        raise RuntimeError("the backlog drained between two samples: raise --set records= for a measurable window")
    return {"records_per_s": round(written / seconds), "core_us_per_record": round(core_s * 1e6 / written, 1),
            "cores_busy": round(core_s / seconds, 2), "window_s": round(seconds, 1)}


def master_overrides(spec: str, mode: TriggerMode) -> tuple[dict[str, Any], int]:
    """Settings overrides of one master spec, and its task slots."""
    master, workers = parse_master(spec)
    if not workers:
        return {"spark_master": master, "spark_workers": 0}, int(re.findall(r"\d+", spec)[0])
    # Micro-batch: one slot per worker, like the replay's. Real-time: the default, enough for a task per partition.
    cores = 1 if mode is TriggerMode.microbatch else 0
    return {"spark_workers": workers, "spark_worker_cores": cores}, workers


def measure_compute_scaling(settings: Settings, masters: list[str], records: int, mode: TriggerMode,
                            batch: int, progress: Callable[[str], None] = print) -> dict[str, Any]:
    """Drain figures per master (see the module docstring); micro-batch takes `batch` records a
    trigger, so the measured window spans several triggers."""
    symbols = [f"BENCH{i:02d}USDT" for i in range(SEED_SYMBOLS)]
    figures: dict[str, dict] = {}
    for spec in masters:
        overrides, slots = master_overrides(spec, mode)
        run_settings = settings.override(**overrides)
        with standalone_cluster(run_settings) if run_settings.spark.workers else _nothing():
            started = time.monotonic()
            stream_overrides = {"max_offsets_per_trigger": batch} if mode is TriggerMode.microbatch else {}
            with prefilled_stream(run_settings, BookFeed(symbols), records, mode, stream_overrides, progress,
                                  topic_prefix="qc.bench.scaling") as (_topic, process):
                trace = drain_with_cpu(run_settings, symbols, records, process)
        cost = drain_cost(trace, records)
        figures[spec] = {**cost, "task_slots": slots, "start_to_drained_s": round(trace[-1][0] - started, 1),
                         **per_core_projection(cost["core_us_per_record"], slots)}
        progress(f"{spec}: {figures[spec]}")
    base = figures[masters[0]]["core_us_per_record"]
    return {"records": records, "mode": mode.value, "batch": batch if mode is TriggerMode.microbatch else None,
            "masters": figures,
            "core_us_per_record_vs_first": {spec: round(f["core_us_per_record"] / base, 2)
                                            for spec, f in figures.items()}}
