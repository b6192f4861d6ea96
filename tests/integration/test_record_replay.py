"""Record a live simulator session, replay the file, ingest the replay into Kafka: the records
are those the ingest made of the live session, byte for byte.

The one field that must differ is `ingest_time_us`: it is when *this* ingest received the
frame (the replay's clock, not the recording's); the test compares every record with it
set to 0, and checks separately that its spacing follows the recording at `speed`.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict
from pathlib import Path

import pytest

from quantcore import wire
from quantcore.polling import wait_until
from streaming.recording.format import WsFrame, read_entries, read_header
from streaming.recording.recorder import record_session
from streaming.simulator import start_simulator
from streaming.simulator.replay import split_recorded
from tests.support.ingest import POLL_S, ingest_settings, read_topic, shard_in_thread

pytestmark = pytest.mark.slow

SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
RECORD_S = 6.0
SPEED = 3.0


class KeptRecords:
    """The recorder's pipeline sink: what the ingest made of the live session."""

    def __init__(self) -> None:
        self.values: list[bytes] = []
        self.dead: list[bytes] = []

    def publish(self, symbol: str, value: bytes, *_ids_and_time: int) -> None:
        self.values.append(value)

    def dead_letter(self, symbol: str, value: bytes) -> None:
        self.dead.append(value)


def without_ingest_time(value: bytes) -> bytes:
    record = wire.BookRecord.FromString(value)
    record.ingest_time_us = 0
    return record.SerializeToString()


def per_symbol(values: list[bytes]) -> dict[str, list[bytes]]:
    found: dict[str, list[bytes]] = defaultdict(list)
    for value in values:
        found[wire.BookRecord.FromString(value).symbol].append(value)
    return found


def record_live_session(kafka, path: Path) -> tuple[KeptRecords, object]:
    kept = KeptRecords()
    with start_simulator(kafka, port=0, symbols=SYMBOLS, rate_hz=10.0) as live:
        settings = kafka.override(symbols=",".join(SYMBOLS), simulator_port=live.port, shards=1)
        stop = threading.Event()
        recorder = threading.Thread(target=record_session, args=(settings, path),
                                    kwargs={"extra": ["trade", "depth20@100ms"], "sink": kept, "stop": stop})
        recorder.start()
        time.sleep(RECORD_S / 2)
        live.inject_gap("ETHUSDT")  # the recording then holds a resync and its second snapshot
        time.sleep(RECORD_S / 2)
        stop.set()
        recorder.join(30)
    assert not recorder.is_alive()
    return kept, settings


def test_a_replayed_recording_gives_the_live_sessions_records(kafka, fresh_topic, dead_letter_topic, tmp_path):
    path = tmp_path / "session.jsonl.gz"
    kept, settings = record_live_session(kafka, path)
    live = per_symbol(kept.values)
    assert set(live) == set(SYMBOLS) and all(len(v) > 30 for v in live.values()), {k: len(v) for k, v in live.items()}
    snapshots = [e for e in read_entries(path) if getattr(e, "path", "") == "/api/v3/depth"]
    assert len(snapshots) == len(SYMBOLS) + 1  # one per symbol, and ETHUSDT's resync
    assert all(json.loads(s.body)["lastUpdateId"] > 0 for s in snapshots)

    with start_simulator(settings, port=0, replay=path, speed=SPEED) as replay:
        replayed_settings = ingest_settings(settings, replay, fresh_topic, dead_letter_topic, shards=1)
        with shard_in_thread(replayed_settings) as shard:
            shard.wait_for(lambda c: c.records >= len(kept.values) and replay.status()["finished"],
                           RECORD_S / SPEED + 30, "the replay to finish and its records to be produced")
            assert shard.counters.resyncs == 1 and shard.counters.dead_letters == 0
    values = [m.value() for m in read_topic(replayed_settings, fresh_topic, expected=len(kept.values))]
    replayed = per_symbol(values)

    for symbol in SYMBOLS:
        assert [without_ingest_time(v) for v in replayed[symbol]] == [without_ingest_time(v) for v in live[symbol]]
        live_times = [wire.BookRecord.FromString(v).ingest_time_us for v in live[symbol]]
        replay_times = [wire.BookRecord.FromString(v).ingest_time_us for v in replayed[symbol]]
        ratio = (live_times[-1] - live_times[0]) / (replay_times[-1] - replay_times[0])
        assert SPEED * 0.75 < ratio < SPEED * 1.25, f"{symbol}: replayed {ratio:.2f}x faster, asked {SPEED}x"


def test_the_ingests_diff_book_equals_the_replayed_top20_snapshots(kafka, fresh_topic, dead_letter_topic, tmp_path):
    path = tmp_path / "session.jsonl.gz"
    kept, settings = record_live_session(kafka, path)
    partials: dict[tuple[str, int], dict] = {}
    for entry in read_entries(path):
        if isinstance(entry, WsFrame):
            stream, data = split_recorded(entry.frame)
            if "@depth20@" in stream:
                book = json.loads(data)
                partials[(stream.split("@")[0].upper(), book["lastUpdateId"])] = book
    with start_simulator(settings, port=0, replay=path, speed=SPEED) as replay:
        replayed_settings = ingest_settings(settings, replay, fresh_topic, dead_letter_topic, shards=1)
        with shard_in_thread(replayed_settings) as shard:
            wait_until(lambda: replay.status()["finished"], RECORD_S / SPEED + 30, "the replay to finish",
                       interval=POLL_S)
            shard.wait_for(lambda c: c.records >= len(kept.values), 30, "every record")
    compared: dict[str, int] = defaultdict(int)
    for message in read_topic(replayed_settings, fresh_topic, expected=len(kept.values)):
        record = wire.BookRecord.FromString(message.value())
        book = partials.get((record.symbol, record.update_id))
        if book is None:
            continue
        assert [[level.price, level.qty] for level in record.bids] == book["bids"], record.symbol
        assert [[level.price, level.qty] for level in record.asks] == book["asks"], record.symbol
        compared[record.symbol] += 1
    assert all(compared[s] > 20 for s in SYMBOLS), dict(compared)


def test_replay_refuses_what_the_recording_does_not_hold(kafka, tmp_path):
    path = tmp_path / "session.jsonl.gz"
    _, settings = record_live_session(kafka, path)
    header = read_header(path)
    assert header.source == "simulator" and header.simulator_seed == settings.simulator.seed
    with start_simulator(settings, port=0, replay=path, speed=SPEED) as replay:
        for url, status in [(f"{replay.rest_url}/api/v3/depth?symbol=XRPUSDT", 400),
                            (f"{replay.rest_url}/api/v3/ticker/bookTicker", 404),
                            (f"{replay.ws_url.replace('ws', 'http')}/stream?streams=btcusdt@depth5", 400)]:
            request = urllib.request.Request(url, headers={"Upgrade": "websocket"} if "stream" in url else {})
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=5)
            assert refused.value.code == status, url
        info = json.loads(urllib.request.urlopen(
            f"{replay.rest_url}/api/v3/exchangeInfo?symbols=" + urllib.parse.quote(
                "[" + ",".join(f'"{s}"' for s in SYMBOLS) + "]"), timeout=5).read())
        assert [s["symbol"] for s in info["symbols"]] == SYMBOLS
