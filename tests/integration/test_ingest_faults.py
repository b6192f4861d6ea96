"""Ingest under faults: killed shards, dropped and stalled connections, connection
handovers, malformed frames and crossed books, all against the real broker."""

from __future__ import annotations

import os
import signal
import time

import pytest

from quantcore import wire
from quantcore.heartbeats import read_heartbeats
from quantcore.polling import wait_until
from quantcore.timeutil import now_us
from streaming.ingest.leases import TWIN_DEFER_S
from streaming.ingest.sharding import shard_symbols
from streaming.simulator import start_simulator
from tests.support.ingest import (
    POLL_S,
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

FEW = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT", "ADAUSDT"]


def test_without_twins_a_killed_shard_is_restarted_and_its_symbols_continue(
        kafka, redis_conn, fresh_topic, dead_letter_topic, simulator, tmp_path):
    settings = ingest_settings(kafka, simulator, fresh_topic, dead_letter_topic, symbols=FEW, shards=3,
                               ingest_restart_backoff_s=0.5, ingest_twin=False)
    victims = shard_symbols(FEW, 1, 3)
    with shard_runner(settings, tmp_path / "runner.log"):
        beats = wait_until(lambda: (b := shard_beats(redis_conn, 3)) and all(x["records"] > 20 for x in b.values())
                           and b, 60, "records from every shard", interval=POLL_S)
        victim_pid = beats[1]["pid"]
        os.kill(victim_pid, signal.SIGKILL)
        killed_at_us = now_us()
        wait_until(lambda: (b := shard_beats(redis_conn, 3)) and b[1]["pid"] != victim_pid and b[1]["records"] > 20,
                   60, "records from the restarted shard", interval=POLL_S)
        runner = read_heartbeats(redis_conn, "ingest-runner")["ingest-runner:runner"]
        assert runner["restarts"] == 1 and runner["shard-1_pid"] not in (0, victim_pid)

    streams = by_symbol(read_books(settings, fresh_topic))
    assert set(streams) == set(FEW)
    for symbol, records in streams.items():
        assert_strictly_increasing(records)  # the new process starts from a newer snapshot
        if symbol in victims:
            assert any(r.ingest_time_us > killed_at_us for r in records), f"{symbol} did not continue"
            assert gaps(records) <= 1  # what the dead process missed, once
        else:
            assert gaps(records) == 0, f"{symbol} was disturbed by another shard's crash"



def test_with_twins_a_killed_shard_loses_no_exchange_event(kafka, redis_conn, fresh_topic, dead_letter_topic,
                                                           simulator, tmp_path):
    """A/B feeds: shard i reads groups i and i-1. Kill -9 shard 1: shard 2 takes over group 1.
    Then kill -9 shard 2, which holds groups 1 and 2: the restarted shard 1 takes group 1
    back and shard 0 takes group 2. Every symbol's chain in Kafka: no gap, no duplicate."""
    settings = ingest_settings(kafka, simulator, fresh_topic, dead_letter_topic, symbols=FEW, shards=3,
                               ingest_restart_backoff_s=0.5)

    def beats_where(condition, why: str) -> dict[int, dict]:
        return wait_until(lambda: (b := shard_beats(redis_conn, 3)) and condition(b) and b, 60, why, interval=POLL_S,
                          on_timeout=lambda: f"heartbeats: {shard_beats(redis_conn, 3)}")

    def kill(beats: dict[int, dict], shard: int) -> int:
        os.kill(beats[shard]["pid"], signal.SIGKILL)
        return beats[shard]["pid"]

    with shard_runner(settings, tmp_path / "runner.log"):
        beats = beats_where(lambda b: all(x["records"] > 20 and x["groups_held"] == 1 for x in b.values()),
                            "every shard publishing its own group")
        time.sleep(TWIN_DEFER_S)  # the twins stand by for their neighbours' groups from now on
        first_victim = kill(beats, 1)
        killed_at_us = now_us()
        beats = beats_where(lambda b: b[2]["leases_taken"] == 2 and b[2]["groups_held"] == 2
                            and b[1]["pid"] != first_victim and b[1]["books"] > 20,
                            "shard 2 holding group 1, and the restarted shard 1 standing by")
        assert beats[1]["groups_held"] == 0 and beats[1]["records"] == 0
        kill(beats, 2)
        beats_where(lambda b: b[0]["leases_taken"] == 2 and b[1]["leases_taken"] == 1
                    and b[0]["groups_held"] == 2 and b[1]["groups_held"] == 1,
                    "shards 0 and 1 holding the dead shard's two groups")
        settled = sum(x["records"] for x in shard_beats(redis_conn, 3).values())
        wait_until(lambda: sum(x["records"] for x in shard_beats(redis_conn, 3).values()) > settled + 60, 30,
                   "records after the second takeover", interval=POLL_S)
        final_takeovers = {i: x["takeover_gaps"] for i, x in shard_beats(redis_conn, 3).items()}

    assert final_takeovers == {0: 0, 1: 0, 2: 0}
    streams = by_symbol(read_books(settings, fresh_topic))
    assert set(streams) == set(FEW)
    for symbol, records in streams.items():
        assert_strictly_increasing(records)  # no duplicate
        assert gaps(records) == 0, f"{symbol}: the chain in Kafka has a gap"
        assert any(r.ingest_time_us > killed_at_us for r in records), f"{symbol} did not continue"
    moved = {r.shard_id for symbol in shard_symbols(FEW, 1, 3) for r in streams[symbol]}
    assert moved == {1, 2}, "group 1 was published by shard 1, then by its twin shard 2, then by shard 1 again"


def test_dropped_and_stalled_connections_reconnect_without_duplicates(kafka, redis_service, fresh_topic,
                                                                      dead_letter_topic, simulator):
    settings = ingest_settings(kafka, simulator, fresh_topic, dead_letter_topic, symbols=FEW[:4], shards=1,
                               ingest_reconnect_base_s=0.1, ingest_ping_interval_s=0.3, ingest_ping_timeout_s=0.6)
    with shard_in_thread(settings) as shard:
        shard.wait_for(lambda c: c.records >= 40, 30, "records")
        simulator.drop_connections()
        shard.wait_for(lambda c: c.reconnects >= 1, 30, "a reconnect after the drop")
        after_drop = shard.counters.records
        shard.wait_for(lambda c: c.records >= after_drop + 40, 30, "records after the drop")
        simulator.stall(3.0)  # no pongs: our keepalive pings must notice
        shard.wait_for(lambda c: c.reconnects >= 2, 30, "a reconnect after the stall")
        after_stall = shard.counters.records
        shard.wait_for(lambda c: c.records >= after_stall + 40, 30, "records after the stall")
    consumed = read_books(settings, fresh_topic, shard.counters.records)
    assert len(consumed) == shard.counters.records
    for records in by_symbol(consumed).values():
        assert_strictly_increasing(records)  # nothing duplicated, nothing reordered
        assert len({r.update_id for r in records}) == len(records)


def test_a_proactive_handover_leaves_no_gap_and_server_pings_are_answered(kafka, redis_service, fresh_topic,
                                                                          dead_letter_topic):
    # The server pings every 0.2 s and drops a client that has not answered within 0.5 s.
    with start_simulator(kafka, port=0, rate_hz=10.0, ping_interval_s=0.2, ping_timeout_s=0.5) as pinging:
        settings = ingest_settings(kafka, pinging, fresh_topic, dead_letter_topic, symbols=FEW[:4], shards=1,
                                   ingest_max_connection_age_s=1.5, ingest_handover_overlap_s=0.5)
        with shard_in_thread(settings) as shard:
            shard.wait_for(lambda c: c.handovers >= 3, 30, "three handovers")
    counters = shard.counters
    assert (counters.reconnects, counters.resyncs) == (0, 0), "no connection was lost (pongs were on time)"
    assert counters.stale > 0, "the overlap delivered events twice; the books dropped the copies"
    for symbol, records in by_symbol(read_books(settings, fresh_topic, counters.records)).items():
        assert_strictly_increasing(records)
        assert gaps(records) == 0, f"{symbol} has a gap across a handover"


def test_malformed_frames_and_crossed_books_leave_the_stream_intact(kafka, redis_service, fresh_topic,
                                                                    dead_letter_topic, simulator):
    settings = ingest_settings(kafka, simulator, fresh_topic, dead_letter_topic, symbols=FEW[:3], shards=1)
    with shard_in_thread(settings) as shard:
        shard.wait_for(lambda c: c.records >= 30, 30, "records")
        simulator.inject_malformed("ETHUSDT", 5)
        simulator.inject_crossed("SOLUSDT")
        shard.wait_for(lambda c: c.dead_letters >= 5 and c.crossed >= 1, 30, "dead letters and a crossed book")
        before = shard.counters.records
        shard.wait_for(lambda c: c.records >= before + 30, 30, "records afterwards")
    counters = shard.counters
    assert (counters.dead_letters, counters.resyncs, counters.crossed) == (5, 1, 1)

    streams = by_symbol(read_books(settings, fresh_topic, counters.records))
    assert gaps(streams["ETHUSDT"]) == 0, "malformed frames must not disturb the book"
    assert gaps(streams["SOLUSDT"]) == 1, "the crossed event is never emitted: its ids are a gap"
    assert gaps(streams["BTCUSDT"]) == 0
    for records in streams.values():
        assert_strictly_increasing(records)
        for record in records:
            assert_sane_book(record, settings.market.depth)  # never a crossed book in Kafka

    letters = [wire.DeadLetter.FromString(m.value()) for m in read_topic(settings, dead_letter_topic, 5)]
    assert len(letters) == 5
    assert all(letter.stage == "ingest" and b"ethusdt@depth@100ms" in letter.payload for letter in letters)
    assert {letter.symbol for letter in letters} <= {"ETHUSDT", ""}  # "" when the JSON is unreadable
    reasons = " | ".join(sorted(letter.reason for letter in letters))
    for expected in ("invalid JSON", "qty is NaN", "negative qty", "missing field 'u'", "not a decimal number"):
        assert expected in reasons, reasons
