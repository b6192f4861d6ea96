"""The ingest harness: a shard in a thread (`run_shard`, the CLI's function) or the real CLI
runner, the shards' heartbeats, and reading back and checking the books and trades they wrote.

Fixtures (`dead_letter_topic`, `trade_topic`, `simulator`) are in tests/fixtures/ingest.py.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from quantcore import wire
from quantcore.heartbeats import read_heartbeats
from quantcore.polling import wait_until
from quantcore.settings import Settings
from streaming.ingest.counters import IngestCounters
from streaming.ingest.runner import SHARD_SECTIONS
from streaming.ingest.shard import run_shard
from streaming.simulator import SimulatorHandle

REPO = Path(__file__).resolve().parents[2]
POLL_S = 0.2  # how often the ingest tests look at counters and heartbeats


@dataclass
class Consumed:
    key: str
    partition: int
    record: wire.BookRecord


def ingest_settings(base: Settings, simulator: SimulatorHandle, book_topic: str, dead_letter_topic: str,
                    **overrides) -> Settings:
    return base.override(book_topic=book_topic, dead_letter_topic=dead_letter_topic, simulator_port=simulator.port,
                         heartbeat_interval_s=0.5, **overrides)


def read_topic(settings: Settings, topic: str, expected: int | None = None, timeout_s: float = 60.0,
               idle_s: float = 3.0) -> list:
    """Every message of `topic` from the start: until `expected` are there, or (without
    `expected`) until nothing new arrives for `idle_s` (or `timeout_s` passes)."""
    consumer = Consumer({**settings.kafka.client_config(), "group.id": f"test-{uuid.uuid4().hex}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        partitions = wait_until(lambda: consumer.list_topics(topic, timeout=10).topics[topic].partitions, 20,
                                f"the partitions of {topic}", interval=POLL_S)
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        messages: list = []
        last_new = time.monotonic()

        def read_all() -> bool:
            nonlocal last_new
            batch = consumer.consume(1000, timeout=0.5)
            for message in batch:
                assert message.error() is None, message.error()
                messages.append(message)
            last_new = time.monotonic() if batch else last_new
            if expected is not None:
                return len(messages) >= expected
            return bool(messages) and time.monotonic() - last_new > idle_s

        def stored() -> str:
            count = sum(high - low for low, high in (consumer.get_watermark_offsets(TopicPartition(topic, p), 10)
                                                     for p in partitions))
            return f"only {len(messages)} read ({len(partitions)} partitions, {count} stored)"

        try:  # consume() waits for records itself: no sleep between reads
            wait_until(read_all, timeout_s, f"{expected} messages from {topic}", interval=0, on_timeout=stored)
        except TimeoutError:
            if expected is not None:
                raise
        return messages
    finally:
        consumer.close()


def read_books(settings: Settings, topic: str, expected: int | None = None) -> list[Consumed]:
    return [Consumed(m.key().decode(), m.partition(), wire.BookRecord.FromString(m.value()))
            for m in read_topic(settings, topic, expected)]


@dataclass
class ConsumedTrade:
    key: str
    partition: int
    record: wire.TradeRecord


def read_trades(settings: Settings, topic: str, expected: int | None = None) -> list[ConsumedTrade]:
    return [ConsumedTrade(m.key().decode(), m.partition(), wire.TradeRecord.FromString(m.value()))
            for m in read_topic(settings, topic, expected)]


def by_symbol(consumed: list[Consumed] | list[ConsumedTrade]) -> dict[str, list]:
    """Records per symbol in partition order (Kafka keeps order within a key)."""
    found: dict[str, list[wire.BookRecord]] = defaultdict(list)
    for item in consumed:
        found[item.record.symbol].append(item.record)
    return found


def gaps(records: list[wire.BookRecord]) -> int:
    return sum(1 for a, b in zip(records, records[1:]) if b.first_update_id != a.update_id + 1)


def assert_strictly_increasing(records: list[wire.BookRecord]) -> None:
    ids = [r.update_id for r in records]
    assert all(a < b for a, b in zip(ids, ids[1:])), "per-symbol update ids must strictly increase"


def assert_sane_book(record: wire.BookRecord, depth: int) -> None:
    bids = [Decimal(level.price) for level in record.bids]
    asks = [Decimal(level.price) for level in record.asks]
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
    assert 0 < len(bids) <= depth and 0 < len(asks) <= depth and bids[0] < asks[0]
    assert all(Decimal(level.qty) > 0 for level in [*record.bids, *record.asks])


def shard_beats(redis_conn, shards: int) -> dict[int, dict] | None:
    beats = read_heartbeats(redis_conn, "ingest")
    found = {i: beats.get(f"ingest:shard-{i}") for i in range(shards)}
    return found if all(found.values()) else None


@dataclass
class RunningShard:
    counters: IngestCounters
    thread: threading.Thread
    errors: list[BaseException]

    def wait_for(self, condition: Callable[[IngestCounters], object], timeout_s: float, what: str) -> None:
        """Until `condition(counters)` holds; at once if the shard's thread dies."""
        wait_until(lambda: condition(self.counters), timeout_s, what, interval=POLL_S,
                   alive=self.thread.is_alive, on_timeout=lambda: f"shard errors: {self.errors}")


@contextmanager
def shard_in_thread(settings: Settings, shard_id: int = 0, shards: int = 1) -> Iterator[RunningShard]:
    """`run_shard` (the CLI's function) in a thread; stopped and flushed on exit."""
    shard = RunningShard(IngestCounters(), threading.Thread(), [])
    stop = threading.Event()

    def target() -> None:
        try:
            run_shard(settings, shard_id, shards, stop, counters=shard.counters)
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            shard.errors.append(exc)

    shard.thread = threading.Thread(target=target, name="test-shard")
    shard.thread.start()
    try:
        yield shard
    finally:
        stop.set()
        shard.thread.join(60)
    assert not shard.thread.is_alive(), "the shard did not stop"
    assert not shard.errors, shard.errors


@contextmanager
def shard_runner(settings: Settings, log: Path, shards: int = 3) -> Iterator[subprocess.Popen]:
    """The real CLI runner (`quantcore stream ingest --shards n`); SIGTERM on exit must give 0."""
    with open(log, "wb") as output:
        process = subprocess.Popen([sys.executable, "-m", "quantcore_platform.cli", "stream", "ingest",
                                    "--shards", str(shards)], env=settings.child_env(*SHARD_SECTIONS),
                                   stdout=output, stderr=subprocess.STDOUT, cwd=REPO)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert code == 0, log.read_text()[-3000:]
