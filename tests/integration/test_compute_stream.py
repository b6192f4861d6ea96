"""The compute stream against the real broker, Redis and Spark.

Each test produces `wire.BookRecord`s to a fresh topic, starts the stream with the same
library function as `quantcore stream compute` (a query on the shared session), and checks
Redis against signals computed independently, in plain Python, from the same records.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import signal
import subprocess
import sys
import threading
import uuid
from collections import defaultdict
from collections.abc import Iterator

import pytest

from quantcore import wire
from quantcore.heartbeats import read_heartbeats
from quantcore.polling import wait_until
from quantcore.settings import KafkaSettings, Settings, TriggerMode
from quantcore.signal_store import UPDATES_CHANNEL, SignalStore, signal_key
from quantcore_platform.streams.catalog import Stream
from streaming.spark import book_validation
from quantcore.topic_reader import end_offsets
from streaming.spark.compute_job import ComputeStream, query_lock, start_compute
from streaming.spark.realtime_resume import written_source_offsets
from tests.support.books import TEST_SEED, book_record, produce_books, random_book

pytestmark = pytest.mark.slow

SYMBOLS = [f"S{i:02d}USDT" for i in range(30)]
POLL_S = 0.2  # how often the tests look at Redis and the stream's counters


# --- the independent reference: signals in plain Python ------------------------------------

def _side(levels) -> list[tuple[float, float]]:
    return [(float(level.price), float(level.qty)) for level in levels]


def _imbalance(bid: float, ask: float, any_level: bool) -> float | None:
    return (bid - ask) / (bid + ask) if any_level and bid + ask != 0 else None


def expected_signals(record: wire.BookRecord, previous: wire.BookRecord | None, obi_lambda: float) -> dict:
    bids, asks = _side(record.bids), _side(record.asks)
    any_level = bool(bids or asks)
    out: dict[str, float | None] = {}
    for k in (1, 5, 10, 20):
        out[f"obi_{k}"] = _imbalance(sum(q for _, q in bids[:k]), sum(q for _, q in asks[:k]), any_level)
    weighted = [sum(q * math.exp(-obi_lambda * i) for i, (_, q) in enumerate(side[:20])) for side in (bids, asks)]
    out["obi_weighted"] = _imbalance(*weighted, any_level)
    best_bid, best_ask = (bids[0][0] if bids else None), (asks[0][0] if asks else None)
    out["best_bid"], out["best_ask"] = best_bid, best_ask
    if bids and asks:
        mid, spread = (best_bid + best_ask) / 2, best_ask - best_bid
        out.update(mid=mid, spread=spread, spread_bps=spread / mid * 1e4,
                   weighted_mid=mid + spread / 2 * out["obi_1"] if out["obi_1"] is not None else None)
    out["ofi"] = None
    if previous is not None and previous.bids and previous.asks and bids and asks:
        (pb, pbq), (pa, paq) = _side(previous.bids)[0], _side(previous.asks)[0]
        (b, bq), (a, aq) = bids[0], asks[0]
        out["ofi"] = (bq if b >= pb else 0) - (pbq if b <= pb else 0) - (aq if a <= pa else 0) + (paq if a >= pa else 0)
        out["ofi_levels"] = _ofi_levels(_side(previous.bids), _side(previous.asks), bids, asks)
    return {name: value for name, value in out.items() if value is not None}


def _ofi_levels(prev_bids, prev_asks, bids, asks, depth: int = 10) -> list[float]:
    """Multi-level OFI of the top 10 levels (Xu, Gould & Howison), a level beyond a side's
    depth being an empty queue behind the book."""
    def at(side, m, missing):
        return side[m] if m < len(side) else (missing, 0.0)

    out = []
    for m in range(depth):
        (pb, pbq), (pa, paq) = at(prev_bids, m, -math.inf), at(prev_asks, m, math.inf)
        (b, bq), (a, aq) = at(bids, m, -math.inf), at(asks, m, math.inf)
        out.append((bq if b >= pb else 0) - (pbq if b <= pb else 0) - (aq if a <= pa else 0) + (paq if a >= pa else 0))
    return out


def assert_hash_matches(redis_conn, record: wire.BookRecord, previous: wire.BookRecord | None, obi_lambda: float):
    stored = {k.decode(): v for k, v in redis_conn.hgetall(signal_key(record.symbol)).items()}
    assert int(stored["update_id"]) == record.update_id, record.symbol
    expected = expected_signals(record, previous, obi_lambda)
    levels = expected.pop("ofi_levels", None)
    for name, value in expected.items():
        assert float(stored[name]) == pytest.approx(value, rel=1e-12, abs=1e-12), (record.symbol, name)
    update = wire.SignalUpdate.FromString(stored["msg"])
    rv = {"rv_1s", "rv_10s", "rv_60s"}  # the writer's mid windows: tests/unit/test_mid_volatility.py
    assert {f.name for f, _ in update.signals.ListFields()} - rv == set(expected) | ({"ofi_levels"} if levels else set())
    if levels is not None:  # multi-level OFI, chained by the writer like `ofi`
        assert list(update.signals.ofi_levels) == pytest.approx(levels, rel=1e-12, abs=1e-12), record.symbol
        assert update.signals.ofi_levels[0] == update.signals.ofi, "level 1 is ofi"
        assert json.loads(stored["ofi_levels"]) == list(update.signals.ofi_levels), "readable in the hash"
    assert update.times.exchange_event_us == record.event_time_us and update.times.ingest_us == record.ingest_time_us
    assert update.mode == record.mode and update.exchange == record.exchange


# --- harness ---------------------------------------------------------------------------------

def compute_settings(kafka: Settings, topic: str, tmp_path, **overrides) -> Settings:
    return kafka.override(book_topic=topic, checkpoint_root=str(tmp_path / "checkpoints"), **overrides)


def watching(stream: ComputeStream) -> dict:
    """`wait_until` arguments that end the wait at once, with the reason, if `stream` fails."""
    def reason() -> str:
        problem = stream.failure()
        return "" if problem is None else f"the stream failed: {problem}"

    return {"alive": lambda: stream.failure() is None, "on_timeout": reason}


class Published:
    """Every message on qc:updates, decoded, collected by a background thread."""

    def __init__(self, redis_conn) -> None:
        self.updates: list[wire.SignalUpdate] = []
        self._pubsub = redis_conn.pubsub()
        self._pubsub.subscribe(**{UPDATES_CHANNEL: self._on_message})
        self._thread = self._pubsub.run_in_thread(sleep_time=0.01, daemon=True)

    def _on_message(self, message) -> None:
        self.updates.append(wire.SignalUpdate.FromString(message["data"]))  # every message decodes

    def ids_by_symbol(self) -> dict[str, list[int]]:
        ids = defaultdict(list)
        for update in list(self.updates):
            ids[update.symbol].append(update.update_id)
        return ids

    def close(self) -> None:
        self._thread.stop()
        self._thread.join(timeout=5)  # it may be inside a read: close the socket after it
        self._pubsub.close()


def stored_ids(redis_conn, symbols) -> dict[str, int]:
    pipe = redis_conn.pipeline()
    for symbol in symbols:
        pipe.hget(signal_key(symbol), "update_id")
    return {s: int(v) for s, v in zip(symbols, pipe.execute(), strict=True) if v is not None}


def all_at(redis_conn, targets: dict[str, int]):
    return lambda: stored_ids(redis_conn, list(targets)) == targets


def dead_letters_from(kafka: KafkaSettings, source_topic: str, expected: int, timeout_s: float = 30) -> list:
    from confluent_kafka import Consumer

    consumer = Consumer({**kafka.client_config(), "group.id": f"test-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([kafka.dead_letter_topic])
    found: list[wire.DeadLetter] = []

    def enough() -> bool:
        message = consumer.poll(0.5)
        if message is not None and not message.error():
            letter = wire.DeadLetter.FromString(message.value())
            if letter.source_topic == source_topic:
                found.append(letter)
        return len(found) >= expected

    try:  # poll() waits for a message itself: no sleep between polls
        wait_until(enough, timeout_s, f"{expected} dead letters from {source_topic}", interval=0,
                   on_timeout=lambda: f"found: {[letter.reason for letter in found]}")
    finally:
        consumer.close()
    return found


@pytest.fixture
def published(redis_conn):
    collector = Published(redis_conn)
    yield collector
    collector.close()


# --- tests -----------------------------------------------------------------------------------

def test_30_symbols_match_plain_python_and_bad_records_are_dead_lettered(
        spark, kafka, redis_conn, fresh_topic, tmp_path, published):
    settings = compute_settings(kafka, fresh_topic, tmp_path)
    rng = random.Random(42)
    records = [random_book(rng, symbol, update_id, depth=rng.choice([1, 5, 10, 20]))
               for update_id in range(1, 5) for symbol in SYMBOLS]
    bad = [("S00USDT", b"\x0a\xff\xff\xff"),
           ("S01USDT", book_record("S01USDT", 100, [("10", "1"), ("11", "1")], [("12", "1")]).SerializeToString()),
           ("S02USDT", book_record("S02USDT", 100, [("10", "-1")], [("12", "1")]).SerializeToString())]
    produce_books(settings.kafka, fresh_topic, records[:60], payloads=bad)
    produce_books(settings.kafka, fresh_topic, records[60:])  # valid books after the bad ones: still processed

    stream = start_compute(spark, settings, TriggerMode.microbatch, from_beginning=True)
    try:
        wait_until(all_at(redis_conn, {s: 4 for s in SYMBOLS}), 90, "every symbol at update 4", interval=POLL_S,
                   **watching(stream))
        last = {r.symbol: r for r in records if r.update_id == 4}
        before = {r.symbol: r for r in records if r.update_id == 3}
        for symbol in SYMBOLS:
            assert_hash_matches(redis_conn, last[symbol], before[symbol], settings.signals.obi_lambda)
        letters = dead_letters_from(settings.kafka, fresh_topic, expected=3)
        assert stream.query.isActive, "bad records do not stop the query"
        wait_until(lambda: stream.write_stats()["dead_letters"] == 3, 10, "the dead-letter counter", interval=POLL_S)
    finally:
        stream.stop()
    assert sorted(letter.reason for letter in letters) == sorted(
        [book_validation.UNDECODABLE, book_validation.BIDS_UNSORTED, book_validation.NEGATIVE_QTY])
    assert {letter.payload for letter in letters} == {payload for _, payload in bad}, "raw records kept untouched"
    assert all(letter.stage == "compute" and letter.source_offset >= 0 for letter in letters)
    assert set(SignalStore(redis_conn).symbols()) == set(SYMBOLS)
    for symbol, ids in published.ids_by_symbol().items():
        assert ids == sorted(set(ids)) and ids[-1] == 4, (symbol, ids)
    for update in published.updates:
        assert update.times.publish_us >= update.times.compute_us >= update.times.kafka_append_us > 0
        assert (update.origin, update.simulator_seed) == (wire.Origin.ORIGIN_SIMULATOR, TEST_SEED), "provenance"


def test_out_of_order_and_replayed_ids_never_move_redis_backwards(
        spark, kafka, redis_conn, fresh_topic, tmp_path, published):
    settings = compute_settings(kafka, fresh_topic, tmp_path)
    symbols = SYMBOLS[:6]
    rng = random.Random(7)
    book = {(s, uid): random_book(rng, s, uid) for s in symbols for uid in range(1, 9)}

    def produce(ids: list[int]) -> int:
        return produce_books(settings.kafka, fresh_topic, [book[(s, uid)] for uid in ids for s in symbols])

    stream = start_compute(spark, settings, TriggerMode.microbatch, from_beginning=True)
    try:
        sent = produce([3, 1, 5, 2, 4])  # out of order within a batch
        wait_until(all_at(redis_conn, {s: 5 for s in symbols}), 90, "update 5", interval=POLL_S, **watching(stream))
        for ids in ([4, 2], [1, 2, 3, 4, 5]):  # older ids in later batches, then a replayed range
            sent += produce(ids)
            wait_until(lambda total=sent: stream.write_stats()["rows"] >= total, 60, "the old records processed",
                       interval=POLL_S, **watching(stream))
            assert stored_ids(redis_conn, symbols) == {s: 5 for s in symbols}, "Redis never moves backwards"
        sent += produce([8, 6, 7])
        wait_until(all_at(redis_conn, {s: 8 for s in symbols}), 60, "update 8", interval=POLL_S, **watching(stream))
        wait_until(lambda: stream.write_stats()["rows"] >= sent, 60, "every record processed", interval=POLL_S,
                   **watching(stream))
        stats = stream.write_stats()
    finally:
        stream.stop()
    for symbol in symbols:
        assert_hash_matches(redis_conn, book[(symbol, 8)], book[(symbol, 5)], settings.signals.obi_lambda)
    ids = published.ids_by_symbol()
    for symbol in symbols:
        assert ids[symbol] == sorted(set(ids[symbol])) and ids[symbol][-1] == 8, "nothing stale is published"
        assert not set(ids[symbol]) & {1, 2, 6, 7}, "older books of a batch are never published"
    assert stats["rows"] == sent
    assert stats["rows"] == stats["superseded"] + stats["stale"] + stats["published"] + stats["dead_letters"]
    assert stats["stale"] >= 2 * len(symbols), "each old range ends in a stale newest book per symbol"


def test_restart_from_checkpoint_loses_nothing_and_regresses_nothing(
        spark, kafka, redis_conn, fresh_topic, tmp_path, published):
    settings = compute_settings(kafka, fresh_topic, tmp_path)
    rng = random.Random(3)
    book = {(s, uid): random_book(rng, s, uid, depth=5) for s in SYMBOLS for uid in range(1, 41)}

    def produce(ids) -> int:
        return produce_books(settings.kafka, fresh_topic, [book[(s, uid)] for uid in ids for s in SYMBOLS])

    produce(range(1, 11))
    first = start_compute(spark, settings, TriggerMode.microbatch, from_beginning=True)
    try:
        wait_until(all_at(redis_conn, {s: 10 for s in SYMBOLS}), 90, "update 10", interval=POLL_S, **watching(first))
        feeder = threading.Thread(target=produce, args=(range(11, 31),))
        feeder.start()
        wait_until(lambda: max(stored_ids(redis_conn, SYMBOLS).values()) > 10, 60, "the stream mid-way",
                   interval=POLL_S, **watching(first))
    finally:
        first.stop()  # mid-stream
    feeder.join()
    produce(range(31, 41))  # while the stream is down: only the checkpoint can find these

    second = start_compute(spark, settings, TriggerMode.microbatch, from_beginning=False)
    try:
        wait_until(all_at(redis_conn, {s: 40 for s in SYMBOLS}), 90, "update 40 after the restart", interval=POLL_S,
                   **watching(second))
    finally:
        second.stop()
    for symbol in SYMBOLS:
        assert_hash_matches(redis_conn, book[(symbol, 40)], book[(symbol, 39)], settings.signals.obi_lambda)
    for symbol, ids in published.ids_by_symbol().items():
        assert ids == sorted(set(ids)), f"{symbol} went backwards or republished: {ids}"


def test_cli_realtime_trigger_heartbeat_graceful_stop_and_resume_after_the_written_rows(
        kafka, redis_conn, fresh_topic, tmp_path, published):
    """`quantcore stream compute --trigger realtime` as its own process (its own Spark, with a
    task slot per partition): same values in Redis, a heartbeat, exit 0 on SIGINT. Started
    again (no checkpoint ever reached: the interval is an hour), it resumes right after the
    rows its writer saved as written: the books written to the topic while it was down get
    computed, and no book of the topic is computed twice (each run's row count)."""
    settings = compute_settings(kafka, fresh_topic, tmp_path)
    rng = random.Random(9)
    records = [random_book(rng, symbol, uid) for uid in (1, 2, 3) for symbol in SYMBOLS]
    garbage = b"\x0a\xff\xff\xff"
    produce_books(settings.kafka, fresh_topic, records[:30], payloads=[("S05USDT", garbage)])
    produce_books(settings.kafka, fresh_topic, records[30:60])
    env = settings.override(spark_driver_memory="1g", compute_standby=False).child_env(*Stream.compute.sections)
    log_path = tmp_path / "compute.log"

    def rows_counted(process: subprocess.Popen, expected: int) -> int:
        """The row socket's count in `process`'s heartbeat, once it reached `expected`."""
        def beat() -> dict | None:
            counters = read_heartbeats(redis_conn, "compute").get("compute:0") or {}
            return counters if counters.get("pid") == process.pid and counters.get("rows", 0) >= expected else None

        return wait_until(beat, 30, f"a heartbeat counting {expected} rows", interval=POLL_S)["rows"]

    with _compute_process(env, log_path, "--from-beginning") as first:
        wait_until(all_at(redis_conn, {s: 2 for s in SYMBOLS}), 150, "the realtime stream", interval=POLL_S,
                   on_timeout=lambda: log_path.read_text()[-3000:])
        assert rows_counted(first, 61) == 61, "60 books and the undecodable record, once each"
        beats = read_heartbeats(redis_conn, "compute")["compute:0"]
        assert beats["trigger_mode"] == "realtime" and beats["active"] is True and beats["published"] >= 30
        (letter,) = dead_letters_from(settings.kafka, fresh_topic, expected=1)
        assert letter.reason == book_validation.UNDECODABLE and letter.payload == garbage
    written = end_offsets(settings.kafka, fresh_topic)
    assert written_source_offsets(redis_conn, fresh_topic) == {p: end - 1 for p, end in written.items() if end}, \
        "the graceful stop saved every partition's newest offset"

    produce_books(settings.kafka, fresh_topic, records[60:])  # while the stream is down
    with _compute_process(env, log_path) as second:
        wait_until(all_at(redis_conn, {s: 3 for s in SYMBOLS}), 150, "update 3 after the restart", interval=POLL_S,
                   on_timeout=lambda: log_path.read_text()[-3000:])
        assert rows_counted(second, 30) == 30, "only the 30 books written while it was down"

    latest = {r.symbol: r for r in records if r.update_id == 3}
    previous = {r.symbol: r for r in records if r.update_id == 2}
    for symbol in SYMBOLS:
        assert_hash_matches(redis_conn, latest[symbol], previous[symbol], settings.signals.obi_lambda)
    assert sum(end_offsets(settings.kafka, fresh_topic).values()) == len(records) + 1  # 90 books, the undecodable one


@contextlib.contextmanager
def _compute_process(env: dict[str, str], log_path, *args: str) -> Iterator[subprocess.Popen]:
    """`quantcore stream compute --trigger realtime` until the block ends, then SIGINT: exit 0."""
    command = [sys.executable, "-m", "quantcore_platform.cli", "stream", "compute", "--trigger", "realtime", *args]
    with log_path.open("a") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield process
            assert process.poll() is None, log_path.read_text()[-3000:]
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGINT)
            code = process.wait(60)
    assert code == 0, log_path.read_text()[-3000:]


def test_the_standby_takes_over_when_the_active_driver_is_killed(kafka, redis_conn, fresh_topic, tmp_path,
                                                                 published):
    """`stream compute` with its standby (the default): kill -9 of the process running the
    query, and the waiting one (its session and plan ready) runs it from the checkpoint; the
    group restarts the dead one. No symbol goes backwards; the new records get computed."""
    settings = compute_settings(kafka, fresh_topic, tmp_path, spark_driver_memory="1g", heartbeat_interval_s=0.5)
    symbols = [f"T{i:02d}USDT" for i in range(8)]  # Redis is shared: other tests' ids must not shadow ours
    rng = random.Random(11)
    book = {(s, uid): random_book(rng, s, uid) for uid in (1, 2, 3) for s in symbols}
    produce_books(settings.kafka, fresh_topic, [book[(s, 1)] for s in symbols])
    env = settings.child_env(*Stream.compute.sections)
    command = [sys.executable, "-m", "quantcore_platform.cli", "stream", "compute", "--trigger", "realtime",
               "--from-beginning"]
    log_path = tmp_path / "compute.log"
    log = log_path.open("w")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    lock = query_lock(settings, TriggerMode.realtime).path
    try:
        alive = {"alive": lambda: process.poll() is None, "on_timeout": lambda: log_path.read_text()[-3000:]}
        wait_until(all_at(redis_conn, {s: 1 for s in symbols}), 180, "update 1 from the active driver",
                   interval=POLL_S, **alive)
        wait_until(lambda: "standing by" in log_path.read_text(), 180, "the standby prepared", interval=POLL_S, **alive)
        runner = read_heartbeats(redis_conn, "compute-runner")["compute-runner:runner"]
        active = int(lock.read_text().split()[0])
        (standby,) = {runner["compute-a_pid"], runner["compute-b_pid"]} - {active}

        os.kill(active, signal.SIGKILL)
        produce_books(settings.kafka, fresh_topic, [book[(s, 2)] for s in symbols])
        wait_until(all_at(redis_conn, {s: 2 for s in symbols}), 60, "update 2 after the kill", interval=POLL_S,
                   **alive)
        assert int(lock.read_text().split()[0]) == standby, "the prepared standby took over, not a new process"
        assert "taking over the query" in log_path.read_text()
        wait_until(lambda: (beat := read_heartbeats(redis_conn, "compute-runner")["compute-runner:runner"])
                   and beat["restarts"] == 1 and active not in (beat["compute-a_pid"], beat["compute-b_pid"]),
                   30, "the killed worker restarted", interval=POLL_S)
        produce_books(settings.kafka, fresh_topic, [book[(s, 3)] for s in symbols])
        wait_until(all_at(redis_conn, {s: 3 for s in symbols}), 60, "update 3", interval=POLL_S, **alive)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
        code = process.wait(90)
        log.close()
    assert code == 0, log_path.read_text()[-3000:]
    for symbol in symbols:
        assert_hash_matches(redis_conn, book[(symbol, 3)], book[(symbol, 2)], settings.signals.obi_lambda)
    for symbol, ids in published.ids_by_symbol().items():
        assert ids == sorted(ids), f"{symbol} went backwards: {ids}"
