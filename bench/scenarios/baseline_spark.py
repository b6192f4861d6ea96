"""baseline (Spark): the seed's record path vs ours, measured in one run, as ratios.

- seed: books as JSON on Kafka, `from_json`, OBI top 5 with higher-order functions,
  `foreachBatch` -> `collect()` -> HSET + PUBLISH per row from the driver (seed_json_job.py).
- ours: the real compute stream (`quantcore stream compute`, micro-batch trigger) on the
  same books as protobuf.

Each design runs as its own Spark process on the same master, trigger and Kafka source
options, one after the other, with compute.py's method: a private topic pre-filled with
`records` identical books (JsonBookFeed is BookFeed re-encoded), drained `batch` records a
trigger, records/s taken from Redis positions between 10% and 90% of the backlog ("records"
are Kafka records drained: ours writes only the newest book of a symbol per batch, the seed
every row; that is part of what is compared). Then, on the same caught-up stream, at the
seed's load (30 symbols x 10 Hz), Kafka append -> Redis publish two ways:
`visible_after_ms`, every record appended until its book (or a newer one) is published,
the figure the ratios use (visibility.py); and `published.latency_ms`, compute.py's
latency of the published updates alone.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from quantcore import wire
from bench.harness import BenchContext, console, ratio
from bench.scenarios.compute import (COMPUTE_COMMAND, DEPTH, OURS, SEED_RATE_HZ, SEED_SYMBOLS, BookFeed, Latencies,
                                     Outputs, drain, drain_figures, latency_at, offer, prefilled_stream)
from bench.scenarios.seed_books import JsonBookFeed, json_update_id
from bench.scenarios.seed_json_job import SEED_CHANNEL, seed_key, seed_published
from bench.scenarios.visibility import appended_records, visibility
from quantcore.settings import RedisSettings, Settings, TriggerMode
from quantcore.timeutil import now_us

SEED_PUBLISHED = {"records_per_s": 300, "e2e_p50_ms": 681, "e2e_p99_ms": 1219}
STALL_S = 60.0  # a drain that stops moving this long is reported undrained (the budget is minutes)


@dataclass(frozen=True)
class Design:
    feed: type[BookFeed]
    update_id: Callable[[bytes], int]  # of a Kafka record
    command: tuple[str, ...]
    outputs: Outputs
    topic_prefix: str


def book_update_id(value: bytes) -> int:
    return wire.BookRecord.FromString(value).update_id


DESIGNS = {
    "seed_json_collect": Design(JsonBookFeed, json_update_id, (sys.executable, "-m", "bench.scenarios.seed_json_job"),
                                Outputs(seed_key, SEED_CHANNEL, seed_published), "seed.bench.json"),
    "ours_protobuf_microbatch": Design(BookFeed, book_update_id, COMPUTE_COMMAND, OURS, "qc.bench.compute"),
}


@contextmanager
def listening(redis: RedisSettings, symbols: list[str], outputs: Outputs) -> Iterator[Latencies]:
    latencies = Latencies(redis, symbols, outputs)
    try:
        yield latencies
    finally:
        latencies.close()


def at_seed_load(settings: Settings, topic: str, feed: BookFeed, design: Design, warmup_s: float,
                 duration_s: float) -> dict[str, Any]:
    """Both latencies (see the module docstring) at the seed's load, after a warm-up at it."""
    rate = len(feed.symbols) * SEED_RATE_HZ
    with listening(settings.redis, feed.symbols, design.outputs) as latencies:
        offer(settings.kafka, topic, feed, rate, warmup_s)
        start_us = now_us()
        published = latency_at(settings, topic, feed, latencies, rate, duration_s, design.outputs)
        records = appended_records(settings.kafka, topic, start_us, now_us(), design.update_id)
        return {**visibility(records, latencies.published), "published": published}


def measure_design(settings: Settings, name: str, design: Design, *, records: int, batch: int, warmup_s: float,
                   duration_s: float, progress: Callable[[str], None]) -> dict[str, Any]:
    symbols = [f"BENCH{i:02d}USDT" for i in range(SEED_SYMBOLS)]
    feed = design.feed(symbols)
    log: deque[str] = deque(maxlen=40)
    started = time.monotonic()
    with prefilled_stream(settings, feed, records, TriggerMode.microbatch, {"max_offsets_per_trigger": batch},
                          lambda text: progress(f"spark {name}: {text}"), design.command,
                          design.topic_prefix, on_line=log.append) as (topic, process):
        trace = drain(settings.redis, symbols, records, process, design.outputs, stall_s=STALL_S)
        throughput = drain_figures(trace, records, started)
        if not throughput["drained"]:
            console.print(f"spark {name}: stuck at {trace[-1][1]:,} of {records:,} records; its log ends:",
                          *log, sep="\n")
        progress(f"spark {name}: warm-up {warmup_s:g}s, then {duration_s:g}s at the seed's load")
        seed_load = at_seed_load(settings, topic, feed, design, warmup_s, duration_s)
    return {"throughput": throughput, "seed_load": seed_load}


def measure_spark_baseline(settings: Settings, *, records: int = 60_000, batch: int = 10_000, warmup_s: float = 5.0,
                           duration_s: float = 20.0, progress: Callable[[str], None] = lambda text: None
                           ) -> dict[str, Any]:
    """Both designs (see the module docstring) and ours-vs-seed ratios."""
    designs = {name: measure_design(settings, name, design, records=records, batch=batch, warmup_s=warmup_s,
                                    duration_s=duration_s, progress=progress) for name, design in DESIGNS.items()}
    seed, ours = designs["seed_json_collect"], designs["ours_protobuf_microbatch"]
    latency = lambda d, q: d["seed_load"]["visible_after_ms"][q]  # noqa: E731
    return {
        "load": {"symbols": SEED_SYMBOLS, "rate_hz_per_symbol": SEED_RATE_HZ, "levels_per_side": DEPTH,
                 "records": records, "max_offsets_per_trigger": batch},
        "designs": designs,
        "ratios": {
            "ours_vs_seed_throughput": ratio(ours["throughput"]["records_per_s"], seed["throughput"]["records_per_s"]),
            "seed_vs_ours_p50_latency": ratio(latency(seed, "p50"), latency(ours, "p50")),
            "seed_vs_ours_p99_latency": ratio(latency(seed, "p99"), latency(ours, "p99")),
        },
        "seed_published": SEED_PUBLISHED,
    }


def run(ctx: BenchContext) -> dict[str, Any]:
    """The Spark part of `quantcore bench baseline`."""
    return measure_spark_baseline(
        ctx.settings, records=int(ctx.option("spark_records", 60_000, smoke_default=6_000)),
        batch=int(ctx.option("spark_batch", 10_000, smoke_default=1_500)),
        warmup_s=float(ctx.option("spark_warmup", 5.0, smoke_default=1.0)),
        duration_s=float(ctx.option("spark_duration", 20.0, smoke_default=3.0)), progress=ctx.progress)
