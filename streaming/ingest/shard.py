"""One ingest shard: its slice of the symbols, from the exchange to Kafka.

`run_shard` is what `python -m streaming.ingest.shard --shard-id i --shards n` (the shard
runner's child, configured by QUANTCORE_* variables) and `quantcore stream ingest
--shard-id i` run, and what tests run in a thread: WebSocket connections ->
`ShardPipeline` -> `FeedArbiter` -> `KafkaSink`, REST snapshots in diff mode, and the
symbols' trade streams on the same connections unless `ingest.trades` is off. With A/B
feeds (`ingest.twin`, the default with 2+ shards) the shard reads its own symbol group and
its neighbour's, and publishes those whose lease it holds (streaming.ingest.arbitration). The shard is a service run by
the platform's one lifecycle (`quantcore.lifecycle.run_service`: signals, heartbeat with the
counters in Redis, failure polling, graceful stop that flushes Kafka).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
from collections.abc import Callable

from confluent_kafka import Message

from quantcore.errors import PlatformError
from quantcore.lifecycle import Heartbeat, run_service
from quantcore.log import get_logger
from quantcore.settings import BookModeSetting, ConfigError, Settings, Source, TradeStreams, load_settings
from streaming.ingest.arbitration import FeedArbiter
from streaming.ingest.connection import ConnectionSet
from streaming.ingest.counters import IngestCounters
from streaming.ingest.endpoints import exchange_urls, plan_connections
from streaming.ingest.kafka_tail import KafkaTail, trade_id
from streaming.ingest.leases import GroupLeases, group_lock
from streaming.ingest.pipeline import DIFF, ShardPipeline
from streaming.ingest.producer import KafkaSink
from streaming.ingest.records import Provenance
from streaming.ingest.sharding import shard_groups, shard_symbols
from streaming.ingest.snapshots import SnapshotFetcher

FLUSH_TIMEOUT_S = 30.0
TOPICS_READY_TIMEOUT_S = 60.0


class IngestShard:
    """One shard as a service (quantcore.lifecycle): `start` connects and streams, `failure`
    reports a crashed connection task, `stop` closes the connections and flushes Kafka."""

    component = "ingest"

    def __init__(self, settings: Settings, shard_id: int, shards: int, *,
                 on_ack: Callable[[Message], None] | None = None, counters: IngestCounters | None = None) -> None:
        self.market, self.ingest, self.kafka, self.simulator, self.paths = (
            settings.market, settings.ingest, settings.kafka, settings.simulator, settings.paths)
        self.shard_id, self.shards = shard_id, shards
        self.instance = f"shard-{shard_id}"
        self.stats = counters or IngestCounters()
        self._on_ack = on_ack
        self._log = get_logger("ingest", shard=shard_id)
        self._sink: KafkaSink | None = None
        self._fetcher: SnapshotFetcher | None = None
        self._connections: ConnectionSet | None = None
        self._leases: GroupLeases | None = None
        self._tail: KafkaTail | None = None
        self._trade_tail: KafkaTail | None = None
        self._lease_task: asyncio.Task | None = None

    async def start(self) -> None:
        ws_base, rest_base = exchange_urls(self.market, self.simulator, self.ingest)
        sink = KafkaSink(self.kafka, self.ingest, self.stats, on_ack=self._on_ack)
        try:
            await asyncio.to_thread(sink.wait_until_ready, TOPICS_READY_TIMEOUT_S)
        except BaseException:
            sink.close(0)
            raise
        self._sink = sink
        arbiter = self._arbiter(sink)
        symbols = [symbol for group in arbiter.groups.values() for symbol in group]
        mode = BookModeSetting(self.market.book_mode).value
        trades = TradeStreams(self.ingest.trades).value
        fetcher = SnapshotFetcher(rest_base, self.ingest.snapshot_limit, self.stats) if mode == DIFF else None
        provenance = Provenance.of(self.market.source, self.simulator.seed)
        pipeline = ShardPipeline(shard_id=self.shard_id, symbols=symbols, mode=mode, depth=self.market.depth,
                                 sink=arbiter, provenance=provenance, counters=self.stats, trades=trades,
                                 request_snapshot=fetcher.request if fetcher else (lambda symbol: None))
        if fetcher:
            fetcher.deliver_to(pipeline.on_snapshot)
        self._fetcher = fetcher
        plans = plan_connections(ws_base, pipeline.streams, self.ingest.streams_per_connection)
        self._connections = ConnectionSet(plans, on_frame=pipeline.on_frame, counters=self.stats,
                                          ingest=self.ingest, name=f"shard-{self.shard_id}")
        self._connections.start()
        self._start_leases(arbiter, pipeline)
        self._log.info("shard started", symbols=len(symbols), groups=list(arbiter.groups), connections=len(plans),
                       mode=mode, source=Source(self.market.source).value, topic=sink.book_topic, trades=trades,
                       trade_topic=sink.trade_topic)

    def _arbiter(self, sink: KafkaSink) -> FeedArbiter:
        groups = shard_groups(self.shard_id, self.shards, self.ingest.twin)
        return FeedArbiter(sink, {g: shard_symbols(self.market.symbols, g, self.shards) for g in groups},
                           buffer_s=self.ingest.twin_buffer_s, counters=self.stats)

    def _start_leases(self, arbiter: FeedArbiter, pipeline: ShardPipeline) -> None:
        """One group without a twin is simply held; twins compete for each group's lease."""
        if len(arbiter.groups) == 1:
            arbiter.hold(self.shard_id)
            return
        topic = self._sink.book_topic
        locks = {g: group_lock(self.paths.run_dir, topic, g, self.shards) for g in arbiter.groups}
        self._tail = KafkaTail(self.kafka, topic)
        if self._sink.trade_topic:
            self._trade_tail = KafkaTail(self.kafka, self._sink.trade_topic, id_of=trade_id)
        self._leases = GroupLeases(arbiter, locks, owner=self.instance, own_group=self.shard_id,
                                   ready=pipeline.synced, last_update_ids=self._tail.last_update_ids,
                                   last_trade_ids=self._trade_tail.last_update_ids if self._trade_tail else None)
        self._lease_task = asyncio.get_running_loop().create_task(self._leases.run(), name="group-leases")

    def counters(self) -> dict:
        """The heartbeat: the counters, and the records waiting in the producer for Kafka."""
        return {**self.stats.as_report(), "kafka_pending": self._sink.pending() if self._sink else 0}

    def failure(self) -> str | None:
        task = self._lease_task
        if task is not None and task.done() and not task.cancelled() and task.exception() is not None:
            self._log.error("group leases crashed", error=repr(task.exception()))
            return f"shard {self.shard_id}: group leases crashed: {task.exception()!r}"
        crash = self._connections.crashed() if self._connections else None
        if crash is None:
            return None
        self._log.error("connection task crashed", error=repr(crash))
        return f"shard {self.shard_id}: connection task crashed: {crash!r}"

    async def stop(self) -> None:
        if self._lease_task:
            self._lease_task.cancel()
        if self._connections:
            await self._connections.close()
        if self._fetcher:
            await self._fetcher.close()
        undelivered = await asyncio.to_thread(self._sink.close, FLUSH_TIMEOUT_S) if self._sink else 0
        if self._leases:  # only now: the twin continues from what Kafka holds
            self._leases.release()
        for tail in (self._tail, self._trade_tail):
            if tail:
                tail.close()
        self._log.info("shard stopped", undelivered=undelivered, **self.stats.as_report())


def run_shard(settings: Settings, shard_id: int, shards: int, stop: threading.Event | None = None,
              **options) -> IngestCounters:
    """Run a shard until SIGINT/SIGTERM (main thread) or until `stop` is set; returns its
    final counters. Raises ServiceFailed if a connection task crashed (the runner restarts it)."""
    shard = IngestShard(settings, shard_id, shards, **options)
    run_service(shard, Heartbeat(settings.redis, settings.heartbeat), stop)
    return shard.stats


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
