"""The shipped recording (tests/fixtures/data) served by `ReplayServer`, read with a plain
`websockets` client: every frame arrives byte for byte, in order, at the asked speed, and
the REST answers are the recorded ones."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from quantcore.settings import load_settings
from streaming.recording.format import RestAnswer, WsFrame, read_entries, read_header
from streaming.simulator import start_simulator

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "data" / "simulator-session.jsonl.gz"
SPEED = 5.0


@pytest.fixture(scope="module")
def recorded() -> tuple[list[WsFrame], list[RestAnswer]]:
    entries = list(read_entries(FIXTURE))
    return [e for e in entries if isinstance(e, WsFrame)], [e for e in entries if isinstance(e, RestAnswer)]


@pytest.fixture
def settings(tmp_path):
    return load_settings(home=tmp_path, shards=1)


async def receive_all(url: str, expected: int, timeout_s: float) -> list[tuple[float, str]]:
    received: list[tuple[float, str]] = []
    async with connect(url, max_size=2**22) as ws:
        async with asyncio.timeout(timeout_s):
            while len(received) < expected:
                received.append((time.monotonic(), await ws.recv()))
    return received


def test_every_recorded_frame_is_served_byte_for_byte_in_order_at_the_speed(settings, recorded):
    frames, _ = recorded
    header = read_header(FIXTURE)
    span_s = (frames[-1].t_us - frames[0].t_us) / 1e6
    assert span_s > 2 and {f.frame.split('"')[3] for f in frames} == set(header.streams)
    with start_simulator(settings, port=0, replay=FIXTURE, speed=SPEED) as replay:
        url = f"{replay.ws_url}/stream?streams={'/'.join(header.streams)}"
        received = asyncio.run(receive_all(url, len(frames), span_s / SPEED + 20))
        assert replay.status()["frames_sent"] == len(frames)
    assert [text for _, text in received] == [f.frame for f in frames]
    took = received[-1][0] - received[0][0]
    assert span_s / SPEED * 0.8 < took < span_s / SPEED * 1.5, f"{took:.2f} s for {span_s:.2f} s at {SPEED}x"


def test_raw_stream_clients_get_the_recorded_payloads(settings, recorded):
    frames, _ = recorded
    trades = [f.frame for f in frames if '"stream":"btcusdt@trade"' in f.frame]
    with start_simulator(settings, port=0, replay=FIXTURE, speed=SPEED * 4) as replay:
        received = asyncio.run(receive_all(f"{replay.ws_url}/ws/btcusdt@trade", len(trades), 20))
    assert [json.loads(text) for _, text in received] == [json.loads(f)["data"] for f in trades]


def test_rest_answers_are_the_recorded_ones(settings, recorded):
    _, answers = recorded
    info = next(a for a in answers if a.path == "/api/v3/exchangeInfo")
    btc = next(a for a in answers if a.path == "/api/v3/depth" and a.query["symbol"] == "BTCUSDT")
    with start_simulator(settings, port=0, replay=FIXTURE, speed=SPEED) as replay:
        base = replay.rest_url
        got_info = urllib.request.urlopen(f"{base}/api/v3/exchangeInfo?{urllib.parse.urlencode(info.query)}",
                                          timeout=5).read().decode()
        full = urllib.request.urlopen(f"{base}/api/v3/depth?symbol=BTCUSDT&limit={btc.query['limit']}",
                                      timeout=5).read().decode()
        top5 = json.loads(urllib.request.urlopen(f"{base}/api/v3/depth?symbol=btcusdt&limit=5", timeout=5).read())
        with urllib.request.urlopen(f"{base}/api/v3/time", timeout=5) as response:
            weight = int(response.headers["X-MBX-USED-WEIGHT-1M"])
    assert got_info == info.body and full == btc.body
    book = json.loads(btc.body)
    assert top5 == {"lastUpdateId": book["lastUpdateId"], "bids": book["bids"][:5], "asks": book["asks"][:5]}
    # Binance's weights: exchangeInfo 20, depth by limit (1000: 50, 5: 5), time 1
    assert int(btc.query["limit"]) == 1000 and weight == 20 + 50 + 5 + 1
