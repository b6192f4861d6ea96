"""Simulator -> ingest shards -> the real Kafka broker, checked record by record.

The main test runs the real CLI (`quantcore stream ingest --shards 3`, the shard runner
with three shard processes) against an in-process simulator of 30 symbols in diff mode,
injects two sequence gaps, then reads every record back from a fresh topic.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections import defaultdict

import pytest

from quantcore import wire
from quantcore.polling import wait_until
from quantcore.settings import BookModeSetting
from streaming.ingest.runner import SHARD_SECTIONS
from streaming.ingest.sharding import shard_symbols
from tests.support.ingest import (
    POLL_S,
    REPO,
    assert_sane_book,
    assert_strictly_increasing,
    by_symbol,
    gaps,
    ingest_settings,
    read_books,
    read_topic,
    shard_beats,
    shard_in_thread,
    shard_runner,
)

pytestmark = pytest.mark.slow

LOCAL_BOOK = wire.BookMode.Value("BOOK_MODE_LOCAL_BOOK")
PARTIAL = wire.BookMode.Value("BOOK_MODE_PARTIAL_SNAPSHOT")


def test_simulator_to_three_shards_to_kafka(kafka, redis_conn, fresh_topic, dead_letter_topic, simulator,
                                             tmp_path):
    settings = ingest_settings(kafka, simulator, fresh_topic, dead_letter_topic, shards=3)
    assert len(settings.market.symbols) == 30
    gapped = ["BTCUSDT", "XRPUSDT"]
    with shard_runner(settings, tmp_path / "runner.log"):
        wait_until(lambda: (b := shard_beats(redis_conn, 3)) and all(x["records"] > 50 for x in b.values()),
                   60, "records from every shard", interval=POLL_S)
        for symbol in gapped:
            simulator.inject_gap(symbol)
        wait_until(lambda: sum(x["resyncs"] for x in shard_beats(redis_conn, 3).values()) >= 2 * len(gapped), 30,
                   "the injected gaps to show up as resyncs", interval=POLL_S)
        before = sum(x["records"] for x in shard_beats(redis_conn, 3).values())
        wait_until(lambda: sum(x["records"] for x in shard_beats(redis_conn, 3).values()) > before + 300, 30,
                   "records after the resyncs", interval=POLL_S)
    final = shard_beats(redis_conn, 3)  # reported by each shard after its final flush
    assert sum(x["resyncs"] for x in final.values()) == 2 * len(gapped)  # both twins of a symbol saw the gap
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
        wait_until(lambda: (b := shard_beats(redis_conn, 1)) and b[0]["records"] > 30, 60, "records",
                   interval=POLL_S)
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
