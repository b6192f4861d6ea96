"""compute: Kafka append -> Redis publish latency and sustained throughput of the compute stream.

The stream runs as the real `quantcore stream compute` process (its own Spark), once per
trigger mode, on a private topic. Book records (20 levels a side) are produced straight to
Kafka, so the figures are the compute stage's alone:

1. Latency at the seed's load (30 symbols x 10 Hz): for every message on `qc:updates`,
   publish_us - kafka_append_us (the broker's LogAppendTime, millisecond resolution).
2. Rising offered loads (records/s; `--set loads=1000,3000,...`) until latency breaks (p99
   above `break_p99_ms`, or the stream falling behind): latency and achieved rate at each step.
3. Throughput from a pre-filled topic: records/s while draining a backlog, measured from
   Redis (each symbol's stored update id is its position), between 10% and 90% of it.
   Micro-batch takes `throughput_batch` records per trigger (maxOffsetsPerTrigger), so
   the backlog spans several batches; the real-time mode drains a quarter as many records.

`--set masters=local[2],cluster:1,cluster:2` measures the drain's per-core cost on each Spark
master instead (compute_scaling.py); `--set projection=1` the Spark row function's cost a
record, with and without issue 20's columns, and the writer's new steps (compute_projection.py).

Assumes Kafka and Redis are running per `settings` (the harness starts them).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NamedTuple

from quantcore import wire
from bench.harness import BenchContext, percentiles
from quantcore.topics import temporary_topic
from quantcore.clients import redis_client
from quantcore.settings import KafkaSettings, RedisSettings, Settings, TriggerMode
from quantcore_platform.streams.catalog import Stream, StreamLaunch
from quantcore_platform.streams.supervisor import StreamProcess
from quantcore.timeutil import now_us
from quantcore.signal_store import UPDATES_CHANNEL, signal_key
from streaming.spark.realtime_resume import progress_key

SEED_SYMBOLS = 30
SEED_RATE_HZ = 10.0
DEPTH = 20
TARGETS = {"p50_ms": 50, "p99_ms": 150, "throughput_records_per_s": 20_000}
COMPUTE_COMMAND = (sys.executable, "-m", "quantcore_platform.cli", "stream", "compute", "--from-beginning")


class Published(NamedTuple):
    symbol: str
    update_id: int
    kafka_append_us: int
    publish_us: int


def published_update(message: bytes) -> Published:
    update = wire.SignalUpdate.FromString(message)
    return Published(update.symbol, update.update_id, update.times.kafka_append_us, update.times.publish_us)


@dataclass(frozen=True)
class Outputs:
    """Where a stream under test writes in Redis: a hash per symbol holding its `update_id`,
    and a channel of published updates (`read` turns one into `Published`). Ours by
    default; the baseline scenario measures the seed's design through its own."""

    key: Callable[[str], str] = signal_key
    channel: str = UPDATES_CHANNEL
    read: Callable[[bytes], Published] = published_update


OURS = Outputs()


# --- records --------------------------------------------------------------------------------------
class BookFeed:
    """Serialized book records with increasing update ids per symbol, cheap enough to offer
    tens of thousands a second from Python: a record is a pre-serialized book body plus a
    small message with its ids and times (concatenated protobuf messages merge)."""

    def __init__(self, symbols: list[str], variants: int = 16, seed: int = 1) -> None:
        import random

        rng = random.Random(seed)
        self.symbols = symbols
        self.next_id = dict.fromkeys(symbols, 1)
        self.bodies = {s: [self._body(rng, s) for _ in range(variants)] for s in symbols}

    @staticmethod
    def _body(rng, symbol: str) -> bytes:
        mid = rng.uniform(10, 1000)
        bids = [wire.PriceLevel(price=f"{mid - 0.01 * (i + 1):.2f}", qty=f"{rng.uniform(0.01, 50):.4f}") for i in range(DEPTH)]
        asks = [wire.PriceLevel(price=f"{mid + 0.01 * (i + 1):.2f}", qty=f"{rng.uniform(0.01, 50):.4f}") for i in range(DEPTH)]
        return wire.BookRecord(exchange="binance", symbol=symbol, bids=bids, asks=asks,
                                mode=wire.BookMode.BOOK_MODE_LOCAL_BOOK).SerializeToString()

    def record(self, symbol: str) -> bytes:
        update_id = self.next_id[symbol]
        self.next_id[symbol] = update_id + 1
        stamp = now_us()
        ids = wire.BookRecord(update_id=update_id, first_update_id=update_id, event_time_us=stamp, ingest_time_us=stamp)
        bodies = self.bodies[symbol]
        return bodies[update_id % len(bodies)] + ids.SerializeToString()

    def produced(self) -> int:
        return sum(self.next_id.values()) - len(self.symbols)


def _producer(kafka: KafkaSettings):
    from confluent_kafka import Producer

    return Producer({**kafka.client_config(), "linger.ms": 1, "batch.num.messages": 10_000,
                     "queue.buffering.max.messages": 1_000_000, "compression.type": "none"})


def _produce(producer, topic: str, feed: BookFeed, symbol: str) -> None:
    while True:
        try:
            producer.produce(topic, key=symbol.encode(), value=feed.record(symbol))
            return
        except BufferError:
            producer.poll(0.01)


def offer(kafka: KafkaSettings, topic: str, feed: BookFeed, rate_per_s: float, duration_s: float) -> float:
    """Produce round-robin over the symbols at `rate_per_s` for `duration_s`; returns the
    achieved rate (the producer shares the 2 cores with Spark)."""
    producer = _producer(kafka)
    tick_s = 0.005
    started = time.perf_counter()
    sent = 0
    symbols = feed.symbols
    while (elapsed := time.perf_counter() - started) < duration_s:
        due = int(rate_per_s * elapsed)
        while sent < due:
            _produce(producer, topic, feed, symbols[sent % len(symbols)])
            sent += 1
        producer.poll(0)
        time.sleep(max(0.0, tick_s - (time.perf_counter() - started - elapsed)))
    producer.flush(60)
    return sent / (time.perf_counter() - started)


def prefill(kafka: KafkaSettings, topic: str, feed: BookFeed, records: int) -> None:
    producer = _producer(kafka)
    symbols = feed.symbols
    for i in range(records):
        _produce(producer, topic, feed, symbols[i % len(symbols)])
        if i % 10_000 == 0:
            producer.poll(0)
    producer.flush(120)


# --- the stream under test -------------------------------------------------------------------------
@contextmanager
def private_topic(kafka: KafkaSettings, prefix: str = "qc.bench.compute") -> Iterator[str]:
    """A throwaway book topic."""
    with temporary_topic(kafka, prefix) as name:
        yield name


@contextmanager
def compute_process(settings: Settings, topic: str, mode: TriggerMode, overrides: dict[str, Any],
                    on_line: Callable[[str], None], command: tuple[str, ...] = COMPUTE_COMMAND) -> Iterator[StreamProcess]:
    """`quantcore stream compute --from-beginning` (or another stream `command` reading the
    same settings sections) on `topic`, stopped with SIGINT after."""
    env = settings.override(**{
        "book_topic": topic, "trigger_mode": mode,
        "checkpoint_root": str(settings.paths.home_dir / "bench-checkpoints" / topic), "heartbeat_interval_s": 1.0,
        # the stage's own cost: a standby driver's JVM would take the cores while it prepares
        "compute_standby": False,
        **overrides}).child_env(*Stream.compute.sections)
    process = StreamProcess(StreamLaunch(list(command), env), on_line=on_line)
    process.start()
    try:
        yield process
    finally:
        process.stop(grace_s=30)
        redis_client(settings.redis).delete(progress_key(topic))  # the real-time writer's, for a throwaway topic


def wait_until_ready(settings: Settings, topic: str, feed: BookFeed, process: StreamProcess, timeout_s: float = 240) -> float:
    """Offer one record per symbol until every symbol is in Redis; seconds it took."""
    client = redis_client(settings.redis)
    started = time.monotonic()
    producer = _producer(settings.kafka)
    while time.monotonic() - started < timeout_s:
        if process.process is not None and process.process.poll() is not None:
            raise RuntimeError(f"the compute stream exited with {process.process.returncode}")
        for symbol in feed.symbols:
            _produce(producer, topic, feed, symbol)
        producer.flush(10)
        time.sleep(1.0)
        pipe = client.pipeline()
        for symbol in feed.symbols:
            pipe.exists(signal_key(symbol))
        if all(pipe.execute()):
            return round(time.monotonic() - started, 1)
    raise RuntimeError(f"the compute stream published nothing within {timeout_s}s")


class Latencies:
    """publish_us - kafka_append_us of every published update of `symbols`, in ms."""

    def __init__(self, redis: RedisSettings, symbols: list[str], outputs: Outputs = OURS) -> None:
        self.symbols = set(symbols)
        self.read = outputs.read
        self.published: list[Published] = []
        self._pubsub = redis_client(redis).pubsub()
        self._pubsub.subscribe(**{outputs.channel: self._on_message})
        self._thread = self._pubsub.run_in_thread(sleep_time=0.001, daemon=True)

    def _on_message(self, message) -> None:
        update = self.read(message["data"])
        if update.symbol in self.symbols:
            self.published.append(update)

    def between(self, start_us: int, end_us: int) -> list[float]:
        return [(p.publish_us - p.kafka_append_us) / 1000 for p in list(self.published)
                if start_us <= p.kafka_append_us < end_us]

    def close(self) -> None:
        self._thread.stop()
        self._thread.join(timeout=5)
        self._pubsub.close()


def position(client, symbols: list[str], outputs: Outputs = OURS) -> int:
    """Records of `symbols` written so far: each symbol's stored update id (ids start at 1)."""
    pipe = client.pipeline()
    for symbol in symbols:
        pipe.hget(outputs.key(symbol), "update_id")
    return sum(int(v) for v in pipe.execute() if v is not None)


# --- measurements ---------------------------------------------------------------------------------
def latency_at(settings: Settings, topic: str, feed: BookFeed, latencies: Latencies, rate: float,
               duration_s: float, outputs: Outputs = OURS) -> dict[str, Any]:
    client = redis_client(settings.redis)
    start_us = now_us()
    achieved = offer(settings.kafka, topic, feed, rate, duration_s)
    end_us = now_us()
    target = feed.produced()
    deadline = time.monotonic() + 30
    while position(client, feed.symbols, outputs) < target and time.monotonic() < deadline:
        time.sleep(0.1)  # let the tail arrive, so slow records count too
    drained_s = round(30 - max(0.0, deadline - time.monotonic()), 2)
    samples = latencies.between(start_us, end_us)
    return {"offered_per_s": round(rate), "achieved_offer_per_s": round(achieved),
            "published": len(samples), "tail_drain_s": drained_s, "latency_ms": percentiles(samples)}


@contextmanager
def prefilled_stream(settings: Settings, feed: BookFeed, records: int, mode: TriggerMode, overrides: dict[str, Any],
                     progress: Callable[[str], None], command: tuple[str, ...] = COMPUTE_COMMAND,
                     topic_prefix: str = "qc.bench.compute", on_line: Callable[[str], None] = lambda line: None
                     ) -> Iterator[tuple[str, StreamProcess]]:
    """A private topic pre-filled with `records` of `feed`, an empty Redis, then the stream
    started on it: yields (topic, process)."""
    with private_topic(settings.kafka, topic_prefix) as topic:
        progress(f"{mode.value}: pre-filling {records:,} records")
        prefill(settings.kafka, topic, feed, records)
        redis_client(settings.redis).flushdb()
        with compute_process(settings, topic, mode, overrides, on_line=on_line, command=command) as process:
            yield topic, process


def drain(redis: RedisSettings, symbols: list[str], records: int, process: StreamProcess,
          outputs: Outputs = OURS, stall_s: float | None = None) -> list[tuple[float, int]]:
    """(time, position) every 0.1 s until `records` are written (or 600 s, or `stall_s`
    without progress once something was written)."""
    client = redis_client(redis)
    trace: list[tuple[float, int]] = []
    deadline = time.monotonic() + 600
    moved = time.monotonic()
    while time.monotonic() < deadline:
        done = position(client, symbols, outputs)
        if not trace or done != trace[-1][1]:
            moved = time.monotonic()
        trace.append((time.monotonic(), done))
        if done >= records or (stall_s is not None and done and time.monotonic() - moved > stall_s):
            break
        if process.process.poll() is not None:
            raise RuntimeError("the stream exited during the throughput run")
        time.sleep(0.1)
    return trace


def rate_between(trace: list[tuple[float, int]], low_share: float, high_share: float, records: int) -> int:
    """records/s from the first time `low_share` of `records` was written to the first time
    `high_share` was (0 if the trace never got there); the start is never before the first write."""
    low = next(((t, n) for t, n in trace if n >= low_share * records and n > 0), None)
    high = next(((t, n) for t, n in trace if n >= high_share * records), None)
    return round((high[1] - low[1]) / (high[0] - low[0])) if low and high and high[0] > low[0] else 0


def drain_figures(trace: list[tuple[float, int]], records: int, started: float) -> dict[str, Any]:
    """records/s between 10% and 90% of the backlog (startup and the last batch left out),
    and in each tenth of it: a fresh JVM compiles the query's code during the first tenths
    (measured: the real-time drain's first tenth ~2,500 records/s, its later ones ~20,000), so
    the tenths tell the warm rate from the cold one."""
    first = next((t for t, n in trace if n > 0), trace[-1][0])
    tenths = [rate_between(trace, k / 10, (k + 1) / 10, records) for k in range(10)]
    return {"records": records, "records_per_s": rate_between(trace, 0.1, 0.9, records),
            "records_per_s_by_tenth": tenths, "drained": trace[-1][1] >= records,
            "first_publish_s": round(first - started, 1), "total_s": round(trace[-1][0] - started, 1)}


def throughput(settings: Settings, mode: TriggerMode, overrides: dict[str, Any], symbols: list[str], records: int,
               progress: Callable[[str], None]) -> dict[str, Any]:
    started = time.monotonic()
    with prefilled_stream(settings, BookFeed(symbols), records, mode, overrides, progress) as (_topic, process):
        trace = drain(settings.redis, symbols, records, process)
    batch = overrides.get("max_offsets_per_trigger", settings.compute.max_offsets_per_trigger)
    return {**drain_figures(trace, records, started), "max_offsets_per_trigger": batch}


def measure_mode(settings: Settings, mode: TriggerMode, *, symbols: list[str], duration_s: float, warmup_s: float,
                 loads: list[float], step_s: float, break_p99_ms: float, throughput_records: int,
                 throughput_batch: int, overrides: dict[str, Any], progress: Callable[[str], None]) -> dict[str, Any]:
    figures: dict[str, Any] = {"settings": overrides}
    feed = BookFeed(symbols)
    with private_topic(settings.kafka) as topic:
        redis_client(settings.redis).flushdb()
        with compute_process(settings, topic, mode, overrides, on_line=lambda line: None) as process:
            progress(f"{mode.value}: starting the stream")
            figures["ready_s"] = wait_until_ready(settings, topic, feed, process)
            latencies = Latencies(settings.redis, symbols)
            try:
                seed_rate = len(symbols) * SEED_RATE_HZ
                progress(f"{mode.value}: warm-up {warmup_s:.0f}s, then {duration_s:.0f}s at {seed_rate:.0f} records/s")
                offer(settings.kafka, topic, feed, seed_rate, warmup_s)
                figures["seed_load"] = latency_at(settings, topic, feed, latencies, seed_rate, duration_s)
                figures["rising_load"] = []
                for rate in loads:
                    progress(f"{mode.value}: offered {rate:,.0f} records/s for {step_s:.0f}s")
                    step = latency_at(settings, topic, feed, latencies, rate, step_s)
                    figures["rising_load"].append(step)
                    if step["latency_ms"]["p99"] > break_p99_ms or step["tail_drain_s"] >= 30:
                        step["broke"] = True
                        break
            finally:
                latencies.close()
    if throughput_records <= 0:
        return figures
    if mode is TriggerMode.microbatch:
        figures["throughput"] = throughput(settings, mode, {"max_offsets_per_trigger": throughput_batch, **overrides},
                                           symbols, throughput_records, progress)
    else:
        figures["throughput"] = throughput(settings, mode, overrides, symbols, throughput_records // 4, progress)
    return figures


def measure_compute(settings: Settings, modes: tuple[str, ...] = ("microbatch", "realtime"), *,
                    duration_s: float = 30.0, warmup_s: float = 10.0,
                    loads: tuple[float, ...] = (1_000, 3_000, 10_000, 20_000, 40_000), step_s: float = 15.0,
                    break_p99_ms: float = 1_000.0, throughput_records: int = 600_000, throughput_batch: int = 100_000,
                    overrides: dict[str, dict[str, Any]] | None = None,
                    progress: Callable[[str], None] = lambda text: None) -> dict[str, Any]:
    """Figures of the compute stage for each trigger mode (see the module docstring)."""
    symbols = [f"BENCH{i:02d}USDT" for i in range(SEED_SYMBOLS)]
    figures: dict[str, Any] = {"targets": TARGETS, "load": {"symbols": len(symbols), "rate_hz_per_symbol": SEED_RATE_HZ,
                                                            "levels_per_side": DEPTH}}
    for mode in modes:
        figures[mode] = measure_mode(
            settings, TriggerMode(mode), symbols=symbols, duration_s=duration_s, warmup_s=warmup_s, loads=list(loads),
            step_s=step_s, break_p99_ms=break_p99_ms, throughput_records=throughput_records,
            throughput_batch=throughput_batch, overrides=(overrides or {}).get(mode, {}), progress=progress)
    return figures


def rising_loads(option: object) -> tuple[float, ...]:
    """`--set loads=1000,3000,...`: the offered records/s of the rising-load steps."""
    try:
        loads = tuple(float(value) for value in str(option).split(",") if value.strip())
    except ValueError:
        loads = ()
    if not loads or any(load <= 0 for load in loads):
        raise ValueError(f"loads={option!r}: give positive records/s separated by commas, e.g. loads=1000,5000,7500")
    return loads


def run(ctx: BenchContext) -> dict[str, Any]:
    """The harness entry point (`quantcore bench compute`)."""
    # The smoke runs the product's trigger only: every mode is two streams of its own (~30 s each).
    if ctx.option("projection", None):
        from bench.scenarios.compute_projection import measure_projection

        return measure_projection(ctx.settings, int(ctx.option("records", 300_000)), int(ctx.option("rounds", 3)),
                                  progress=ctx.progress)
    if masters := ctx.option("masters", None):
        from bench.scenarios.compute_scaling import measure_compute_scaling

        return measure_compute_scaling(ctx.settings, str(masters).split(","), int(ctx.option("records", 300_000)),
                                       TriggerMode(ctx.option("mode", "microbatch")),
                                       batch=int(ctx.option("batch", 20_000)), progress=ctx.progress)
    modes = ctx.option("modes", "microbatch,realtime", smoke_default="realtime")
    return measure_compute(
        ctx.settings, tuple(m for m in str(modes).split(",") if m),
        duration_s=ctx.option("duration", 30.0, smoke_default=5.0),
        warmup_s=ctx.option("warmup", 10.0, smoke_default=2.0),
        loads=rising_loads(ctx.option("loads", "1000,3000,10000,20000,40000", smoke_default="1000")),
        step_s=ctx.option("step", 15.0, smoke_default=3.0),
        throughput_records=ctx.option("records", 600_000, smoke_default=20_000),
        throughput_batch=ctx.option("batch", 100_000, smoke_default=5_000),
        progress=ctx.progress)
