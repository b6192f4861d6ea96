"""One ingest shard: its slice of the symbols, from the exchange to Kafka.

`run_shard` is what `python -m streaming.ingest.shard --shard-id i --shards n` (the shard
runner's child, configured by QUANTCORE_* variables) and `quantcore stream ingest
--shard-id i` run, and what tests run in a thread: WebSocket connections ->
`ShardPipeline` -> `KafkaSink`, REST snapshots in diff mode, a heartbeat with the counters
in Redis. SIGINT/SIGTERM (or the `stop` event) close the connections, flush Kafka and
return the final counters.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import threading
from collections.abc import Callable

from confluent_kafka import Message

from quantcore.clients import redis_client
from quantcore.errors import PlatformError
from quantcore.heartbeats import HeartbeatReporter
from quantcore.log import get_logger
from quantcore.settings import BookModeSetting, ConfigError, Settings, Source, load_settings
from streaming.ingest.connection import StreamConnection
from streaming.ingest.counters import IngestCounters
from streaming.ingest.endpoints import exchange_urls, plan_connections
from streaming.ingest.pipeline import DIFF, ShardPipeline
from streaming.ingest.producer import KafkaSink
from streaming.ingest.sharding import shard_symbols
from streaming.ingest.snapshots import SnapshotFetcher

FLUSH_TIMEOUT_S = 30.0
TOPICS_READY_TIMEOUT_S = 60.0


class ShardFailed(RuntimeError):
    """A connection task died of an unexpected error: exit non-zero so the runner restarts us."""


async def serve_shard(settings: Settings, shard_id: int, shards: int, stop: asyncio.Event, *,
                      on_ack: Callable[[Message], None] | None = None,
                      counters: IngestCounters | None = None) -> IngestCounters:
    market, ingest = settings.market, settings.ingest
    symbols = shard_symbols(market.symbols, shard_id, shards)
    counters = counters or IngestCounters()
    log = get_logger("ingest", shard=shard_id)
    ws_base, rest_base = exchange_urls(market, settings.simulator, ingest)
    sink = KafkaSink(settings.kafka, ingest, counters, on_ack=on_ack)
    try:
        await asyncio.to_thread(sink.wait_until_ready, TOPICS_READY_TIMEOUT_S)
    except BaseException:
        sink.close(0)
        raise
    mode = BookModeSetting(market.book_mode).value
    fetcher = SnapshotFetcher(rest_base, ingest.snapshot_limit, counters) if mode == DIFF else None
    pipeline = ShardPipeline(shard_id=shard_id, symbols=symbols, mode=mode, depth=market.depth, sink=sink,
                             request_snapshot=fetcher.request if fetcher else (lambda symbol: None),
                             counters=counters)
    if fetcher:
        fetcher.deliver_to(pipeline.on_snapshot)
    plans = plan_connections(ws_base, pipeline.streams, ingest.streams_per_connection)
    connections = [StreamConnection(plan, on_frame=pipeline.on_frame, counters=counters, ingest=ingest,
                                    stop=stop, name=f"shard-{shard_id}/{i}") for i, plan in enumerate(plans)]
    heartbeat = HeartbeatReporter(redis_client(settings.redis, socket_timeout=2, socket_connect_timeout=2), "ingest",
                                  f"shard-{shard_id}", counters.as_report, settings.heartbeat.interval_s,
                                  settings.heartbeat.stale_s).start()
    log.info("shard started", symbols=len(symbols), connections=len(connections), mode=mode,
             source=Source(market.source).value, topic=sink.book_topic)
    tasks = [asyncio.create_task(c.run(), name=f"ws-{i}") for i, c in enumerate(connections)]
    failure = await _until_stopped_or_failed(stop, tasks)
    stop.set()
    await asyncio.gather(*(c.close() for c in connections), return_exceptions=True)
    await asyncio.gather(*tasks, return_exceptions=True)
    if fetcher:
        await fetcher.close()
    undelivered = await asyncio.to_thread(sink.close, FLUSH_TIMEOUT_S)
    heartbeat.report_now()
    heartbeat.stop()
    log.info("shard stopped", undelivered=undelivered, **counters.as_report())
    if failure is not None:
        raise ShardFailed(f"shard {shard_id} failed: {failure!r}") from failure
    return counters


async def _until_stopped_or_failed(stop: asyncio.Event, tasks: list[asyncio.Task]) -> BaseException | None:
    stopped = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([stopped, *tasks], return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    for task in done:
        if task is not stopped and not task.cancelled() and task.exception() is not None:
            get_logger("ingest").error("connection task crashed", error=repr(task.exception()))
            return task.exception()
    return None


def run_shard(settings: Settings, shard_id: int, shards: int, stop: threading.Event | None = None,
              **options) -> IngestCounters:
    """Run a shard until SIGINT/SIGTERM (main thread) or until `stop` is set."""
    return asyncio.run(_run(settings, shard_id, shards, stop, options))


async def _run(settings: Settings, shard_id: int, shards: int, stop: threading.Event | None,
               options: dict) -> IngestCounters:
    stopping = asyncio.Event()
    if threading.current_thread() is threading.main_thread():
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping.set)
    watcher = asyncio.create_task(_watch(stop, stopping)) if stop is not None else None
    try:
        return await serve_shard(settings, shard_id, shards, stopping, **options)
    finally:
        if watcher:
            watcher.cancel()


async def _watch(stop: threading.Event, stopping: asyncio.Event) -> None:
    while not stop.is_set():
        await asyncio.sleep(0.1)
    stopping.set()


def main(argv: list[str] | None = None) -> int:
    """`python -m streaming.ingest.shard --shard-id i [--shards n]`: one shard, settings from
    the environment (what the shard runner spawns); returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m streaming.ingest.shard",
                                     description="Run one ingest shard until SIGINT/SIGTERM.")
    parser.add_argument("--shard-id", type=int, required=True, help="This shard, in [0, shards).")
    parser.add_argument("--shards", type=int, help="Number of shards (default: QUANTCORE_SHARDS).")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(shards=args.shards)
        shards = settings.ingest.shards
        if not 0 <= args.shard_id < shards:
            parser.error(f"--shard-id {args.shard_id} is not in [0, {shards})")
        counters = run_shard(settings, args.shard_id, shards)
    except (PlatformError, ConfigError) as exc:  # one line with the fix, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"ingest shard {args.shard_id}: stopped after {counters.records} records, "
          f"{counters.dead_letters} dead letters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
