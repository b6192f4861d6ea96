"""`quantcore bench relay`: the real-time mode's Redis writer (the driver thread that writes
the query's rows: streaming/spark/row_socket.py; a relay topic's consumer until 2026-12-07,
hence the name), CPU per row, two ways side by side in one run:

* `remembers` (what the writer does): the OFI chain starts from the book this process last
  wrote, so a write is one Redis round trip (WRITE_IF_UNMOVED);
* `reads_back`: the stored book is read from Redis first (HMGET), then written: two round
  trips, as every write did before.

Rows come as the writer gets them at the seed's load: one or two a read (`rows_per_write`),
each the newest book of its symbol, with 10 levels a side and every row signal set. The
writer's thread CPU (`time.thread_time`) and wall time are measured over rounds that
alternate the two ways; medians over rounds. Redis is the harness's own.
"""

from __future__ import annotations

import random
import statistics
import time
from typing import Any

from bench.harness import BenchContext
from quantcore.clients import redis_client
from quantcore.settings import RedisSettings
from streaming.spark.compute_rows import COMPUTED_COLUMNS
from streaming.spark.redis_writer import ROW_SIGNALS, BookSignalStore, SignalSink

WAYS = {"remembers": True, "reads_back": False}


class Rows:
    """Books of `symbols` in turn, each a little moved from its last (update ids increase)."""

    def __init__(self, symbols: list[str], seed: int = 1) -> None:
        self.symbols = symbols
        self.rng = random.Random(seed)
        self.update_id = 1_000_000
        self.turn = 0

    def next(self) -> dict[str, Any]:
        symbol = self.symbols[self.turn % len(self.symbols)]
        self.turn += 1
        self.update_id += 1
        bid = 100.0 + self.rng.randint(-3, 3) * 0.01
        bids = [round(bid - i * 0.01, 2) for i in range(10)]
        asks = [round(bid + 0.01 + i * 0.01, 2) for i in range(10)]
        row = dict.fromkeys(COMPUTED_COLUMNS)
        row.update({name: self.rng.uniform(-1, 1) for name in ROW_SIGNALS})
        row.update(symbol=symbol, exchange="binance", update_id=self.update_id, mode="BOOK_MODE_LOCAL_BOOK",
                   origin="ORIGIN_SIMULATOR", simulator_seed=7, exchange_event_us=time.time_ns() // 1000,
                   ingest_us=1, kafka_append_us=2, compute_us=3, best_bid=bids[0], best_ask=asks[0],
                   mid=(bids[0] + asks[0]) / 2, best_bid_qty=self.rng.uniform(1, 5), best_ask_qty=self.rng.uniform(1, 5),
                   top_bid_px=bids, top_ask_px=asks, top_bid_qty=[self.rng.uniform(1, 5) for _ in bids],
                   top_ask_qty=[self.rng.uniform(1, 5) for _ in asks])
        return row


def writer(redis: RedisSettings, remember: bool) -> SignalSink:
    # no row here is a dead letter: the sink's dead-letter producer is never called
    return SignalSink(BookSignalStore(redis_client(redis), remember), dead_letters=None)  # type: ignore[arg-type]


def one_round(sink: SignalSink, rows: Rows, writes: int, rows_per_write: int) -> dict[str, float]:
    batches = [[rows.next() for _ in range(rows_per_write)] for _ in range(writes)]
    cpu, wall = time.thread_time(), time.perf_counter()
    for batch in batches:
        sink.write(batch)
    cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
    count = writes * rows_per_write
    return {"cpu_us_per_row": cpu / count * 1e6, "wall_us_per_write": wall / writes * 1e6}


def run(ctx: BenchContext) -> dict[str, Any]:
    """The harness entry point: `quantcore bench relay [--smoke]`."""
    symbols = list(ctx.settings.market.symbols)
    rounds = ctx.option("rounds", 7, smoke_default=2)
    writes = ctx.option("writes", 3000, smoke_default=200)
    rows_per_write = ctx.option("rows_per_write", 2)
    sinks = {way: writer(ctx.settings.redis, remember) for way, remember in WAYS.items()}
    # each way its own symbols (keys): one writer per symbol, as the real-time writer is
    rows = {way: Rows([f"{symbol}.{way}" for symbol in symbols]) for way in WAYS}
    for way, sink in sinks.items():  # warm-up: connections, scripts, the remembered books
        one_round(sink, rows[way], len(symbols), 1)
    samples: dict[str, list[dict[str, float]]] = {way: [] for way in WAYS}
    for number in range(rounds):
        ctx.progress(f"round {number + 1}/{rounds}: {writes} writes of {rows_per_write} rows each way")
        for way, sink in sinks.items():
            samples[way].append(one_round(sink, rows[way], writes, rows_per_write))
    figures: dict[str, Any] = {"symbols": len(symbols), "rounds": rounds, "writes_per_round": writes,
                               "rows_per_write": rows_per_write}
    for way, taken in samples.items():
        figures[way] = {name: round(statistics.median(s[name] for s in taken), 1) for name in taken[0]}
    figures["reads_back_vs_remembers_cpu"] = round(
        figures["reads_back"]["cpu_us_per_row"] / figures["remembers"]["cpu_us_per_row"], 2)
    return figures
