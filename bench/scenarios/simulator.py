"""`quantcore bench simulator`: the market model's own cost, no services.

Steps a `Market` of the offered symbols (30 by default) round-robin in this thread, the way
the simulator's ticker does, and measures with the thread's CPU clock:

* micro book events (accepted limit arrivals, cancellations, market orders, far-book
  refills/trims) generated per CPU second on one core, all per-step work included
  (fair price, diff and trade formatting);
* the CPU fraction of one core the model needs to serve `symbols x rate_hz` steps per
  second (model time 0.1 s per step), with and without a top-20 partial per step;
* per-step cost percentiles and the market's shape (events and trades per step).
"""

from __future__ import annotations

import time
from typing import Any

from bench.harness import BenchContext, percentiles
from streaming.simulator.model import Market


def measure_model(symbols: list[str], seconds: float, rate_hz: float, seed: int = 7,
                  levels: int = 100) -> dict[str, Any]:
    market = Market(symbols, seed, levels)
    models = [market[s] for s in symbols]
    for model in models:  # warm the tables and the random buffers
        model.step()
    step_us: list[float] = []
    events = trades = diff_levels = steps = 0
    clock = time.thread_time
    start_events = sum(m.events for m in models)
    started = clock()
    while clock() - started < seconds:
        for model in models:
            t0 = clock()
            event = model.step()
            step_us.append((clock() - t0) * 1e6)
            trades += len(event.trades)
            diff_levels += len(event.bids) + len(event.asks)
        steps += len(models)
    cpu = clock() - started
    events = sum(m.events for m in models) - start_events
    # the partial streams' extra: one top(20) per step
    t0 = clock()
    for _ in range(max(1, steps // len(models) // 4)):
        for model in models:
            model.top(20)
    top_us = (clock() - t0) / (max(1, steps // len(models) // 4) * len(models)) * 1e6
    per_step_s = cpu / steps
    offered = len(symbols) * rate_hz
    return {
        "symbols": len(symbols), "rate_hz": rate_hz, "levels": levels, "model_seconds_per_step": models[0].dt,
        "cpu_s": round(cpu, 2), "steps": steps, "micro_events": events,
        "events_per_s_per_core": round(events / cpu),
        "events_per_step": round(events / steps, 1), "trades_per_step": round(trades / steps, 2),
        "diff_levels_per_step": round(diff_levels / steps, 1),
        "step_us": percentiles(step_us, digits=1), "top20_us": round(top_us, 1),
        "cpu_fraction_at_offered_load": round(per_step_s * offered, 4),
        "cpu_fraction_at_offered_load_with_top20": round((per_step_s + top_us / 1e6) * offered, 4),
    }


def run(ctx: BenchContext) -> dict[str, Any]:
    """The harness entry point: `quantcore bench simulator [--smoke]`."""
    symbols = list(ctx.settings.market.symbols)
    seconds = ctx.option("duration", 20.0, smoke_default=2.0)
    ctx.progress(f"stepping {len(symbols)} symbols for {seconds:.0f} CPU s")
    return measure_model(symbols, seconds, ctx.settings.simulator.rate_hz, seed=ctx.settings.simulator.seed,
                         levels=ctx.settings.simulator.levels)
