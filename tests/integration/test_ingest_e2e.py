"""Simulator -> ingest shards -> the real Kafka broker, checked record by record.

The main test runs the real CLI (`quantcore stream ingest --shards 3`, the shard runner
with three shard processes) against an in-process simulator of 30 symbols in diff mode,
injects two sequence gaps, then reads every record back from a fresh topic.
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

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from confluent_kafka.admin import NewTopic

from quantcore import wire
from quantcore.heartbeats import read_heartbeats
from quantcore.clients import admin_client
from quantcore.settings import BookModeSetting, Settings
from streaming.ingest.counters import IngestCounters
from streaming.ingest.runner import SHARD_SECTIONS
from streaming.ingest.shard import run_shard
from streaming.ingest.sharding import shard_symbols
from streaming.simulator import SimulatorHandle, start_simulator

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
LOCAL_BOOK = wire.BookMode.Value("BOOK_MODE_LOCAL_BOOK")
PARTIAL = wire.BookMode.Value("BOOK_MODE_PARTIAL_SNAPSHOT")


# --- helpers shared with test_ingest_faults.py ------------------------------------------------
@dataclass
class Consumed:
    key: str
    partition: int
    record: wire.BookRecord


@pytest.fixture
def dead_letter_topic(kafka: Settings) -> Iterator[str]:
    name = f"qc.test.dlq.{uuid.uuid4().hex[:10]}"
    admin = admin_client(kafka.kafka)
    admin.create_topics([NewTopic(name, 3, 1)])[name].result()
    yield name
    admin.delete_topics([name])


@pytest.fixture
def simulator(kafka: Settings) -> Iterator[SimulatorHandle]:
    with start_simulator(kafka, port=0, rate_hz=10.0) as handle:
        yield handle


def ingest_settings(base: Settings, simulator: SimulatorHandle, book_topic: str, dead_letter_topic: str,
                    **overrides) -> Settings:
    return base.override(book_topic=book_topic, dead_letter_topic=dead_letter_topic, simulator_port=simulator.port,
                         heartbeat_interval_s=0.5, **overrides)


def read_topic(settings: Settings, topic: str, expected: int | None = None, timeout_s: float = 60.0,
               idle_s: float = 3.0) -> list:
    """Every message of `topic` from the start: until `expected` are there, or (without
    `expected`) until nothing new arrives for `idle_s`."""
    consumer = Consumer({**settings.kafka.client_config(), "group.id": f"test-{uuid.uuid4().hex}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    partitions = wait_for(lambda: consumer.list_topics(topic, timeout=10).topics[topic].partitions, 20,
                          f"the partitions of {topic}")
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    messages = []
    deadline = time.monotonic() + timeout_s
    last_new = time.monotonic()
    while time.monotonic() < deadline:
        batch = consumer.consume(1000, timeout=0.5)
        for message in batch:
            assert message.error() is None, message.error()
            messages.append(message)
        last_new = time.monotonic() if batch else last_new
        if expected is not None and len(messages) >= expected:
            break
        if expected is None and messages and time.monotonic() - last_new > idle_s:
            break
    if expected is not None and len(messages) < expected:
        stored = sum(high - low for low, high in (consumer.get_watermark_offsets(TopicPartition(topic, p), 10)
                                                  for p in partitions))
        consumer.close()
        raise AssertionError(f"only {len(messages)} of {expected} messages read from {topic} "
                             f"({len(partitions)} partitions, {stored} stored)")
    consumer.close()
    return messages


def read_books(settings: Settings, topic: str, expected: int | None = None) -> list[Consumed]:
    return [Consumed(m.key().decode(), m.partition(), wire.BookRecord.FromString(m.value()))
            for m in read_topic(settings, topic, expected)]


def by_symbol(consumed: list[Consumed]) -> dict[str, list[wire.BookRecord]]:
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


def wait_for(condition: Callable[[], object], timeout_s: float, what: str) -> object:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


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
        def check() -> object:
            assert self.thread.is_alive(), f"the shard died: {self.errors}"
            return condition(self.counters)

        wait_for(check, timeout_s, what)


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


# --- tests ---------------------------------------------------------------------------------
def test_simulator_to_three_shards_to_kafka(kafka, redis_conn, fresh_topic, dead_letter_topic, simulator,
                                             tmp_path):
    settings = ingest_settings(kafka, simulator, fresh_topic, dead_letter_topic, shards=3)
    assert len(settings.market.symbols) == 30
    gapped = ["BTCUSDT", "XRPUSDT"]
    with shard_runner(settings, tmp_path / "runner.log"):
        wait_for(lambda: (b := shard_beats(redis_conn, 3)) and all(x["records"] > 50 for x in b.values()),
                 60, "records from every shard")
        for symbol in gapped:
            simulator.inject_gap(symbol)
        wait_for(lambda: sum(x["resyncs"] for x in shard_beats(redis_conn, 3).values()) >= 2, 30,
                 "the injected gaps to show up as resyncs")
        before = sum(x["records"] for x in shard_beats(redis_conn, 3).values())
        wait_for(lambda: sum(x["records"] for x in shard_beats(redis_conn, 3).values()) > before + 300, 30,
                 "records after the resyncs")
    final = shard_beats(redis_conn, 3)  # reported by each shard after its final flush
    assert sum(x["resyncs"] for x in final.values()) == len(gapped)
    assert all(x["dead_letters"] == 0 and x["delivery_errors"] == 0 for x in final.values())
    total = sum(x["records"] for x in final.values())

    consumed = read_books(settings, fresh_topic, total)
    assert len(consumed) == total  # every record arrived once
    owner = {s: i for i in range(3) for s in shard_symbols(settings.market.symbols, i, 3)}
    partitions = defaultdict(set)
    for item in consumed:
        record = item.record
        assert item.key == record.symbol and record.exchange == "binance" and record.mode == LOCAL_BOOK
        assert record.shard_id == owner[record.symbol]
        assert record.event_time_us > 0 and record.ingest_time_us >= record.event_time_us - 5_000_000
        partitions[record.symbol].add(item.partition)
        assert_sane_book(record, settings.market.depth)
    assert set(partitions) == set(settings.market.symbols)
    assert all(len(p) == 1 for p in partitions.values()), "a symbol lives in one partition"
    for symbol, records in by_symbol(consumed).items():
        assert_strictly_increasing(records)
        assert gaps(records) == (1 if symbol in gapped else 0), symbol


def test_partial_depth_mode_end_to_end(kafka, redis_service, fresh_topic, dead_letter_topic, simulator):
    settings = ingest_settings(kafka, simulator, fresh_topic, dead_letter_topic, book_mode=BookModeSetting.partial,
                               depth=10, symbols=["BTCUSDT", "ETHUSDT", "SHIBUSDT"], shards=1)
    with shard_in_thread(settings) as shard:
        shard.wait_for(lambda c: c.records >= 60, 30, "partial-depth records")
        simulator.inject_malformed("ETHUSDT", 5)
        shard.wait_for(lambda c: c.dead_letters >= 5, 30, "dead letters")
    consumed = read_books(settings, fresh_topic, shard.counters.records)
    for item in consumed:
        record = item.record
        assert record.mode == PARTIAL and record.first_update_id == 0 and record.event_time_us == 0
        assert len(record.bids) == 10 and len(record.asks) == 10
        assert_sane_book(record, 10)
    for records in by_symbol(consumed).values():
        assert_strictly_increasing(records)
    assert {item.key for item in consumed} == {"BTCUSDT", "ETHUSDT", "SHIBUSDT"}
    letters = [wire.DeadLetter.FromString(m.value()) for m in read_topic(settings, dead_letter_topic, 5)]
    reasons = sorted(letter.reason.split(":")[0] for letter in letters)
    assert len(letters) == 5 and all(letter.stage == "ingest" for letter in letters)
    assert any("crossed book" in letter.reason for letter in letters)  # the partial frames' variants
    assert any("NaN" in letter.reason for letter in letters), reasons


def test_one_shard_from_the_cli_flushes_everything_on_sigint(kafka, redis_conn, fresh_topic, dead_letter_topic,
                                                             simulator, tmp_path):
    settings = ingest_settings(kafka, simulator, fresh_topic, dead_letter_topic, symbols=["BTCUSDT", "ETHUSDT"],
                               shards=1)
    log = tmp_path / "shard.log"
    with open(log, "wb") as output:
        process = subprocess.Popen([sys.executable, "-m", "quantcore_platform.cli", "stream", "ingest",
                                    "--shard-id", "0", "--shards", "1"], env=settings.child_env(*SHARD_SECTIONS),
                                   stdout=output, stderr=subprocess.STDOUT, cwd=REPO)
    try:
        wait_for(lambda: (b := shard_beats(redis_conn, 1)) and b[0]["records"] > 30, 60, "records")
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(60)
    assert code == 0, log.read_text()[-3000:]
    final = shard_beats(redis_conn, 1)[0]
    assert final["pid"] == process.pid and final["delivery_errors"] == 0
    assert len(read_topic(settings, fresh_topic, final["records"])) == final["records"]
    assert "stopped after" in log.read_text()


def test_a_bad_shard_id_is_explained(kafka):
    result = subprocess.run([sys.executable, "-m", "quantcore_platform.cli", "stream", "ingest", "--shard-id", "3",
                             "--shards", "3"], capture_output=True, text=True, cwd=REPO,
                            env=kafka.child_env(*SHARD_SECTIONS), timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--shard-id" in result.stderr and "[0, 3)" in result.stderr
