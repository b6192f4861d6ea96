"""Reconnect delays and the spread of streams over connections (pure)."""

from __future__ import annotations

import json
import random

from quantcore.settings import load_settings
from quantcore.backoff import backoff_delay
from streaming.ingest.endpoints import (
    MAX_URL_STREAMS,
    SUBSCRIBE_PACE_S,
    exchange_urls,
    plan_connections,
)


def test_backoff_grows_is_capped_and_jittered():
    rng = random.Random(1)
    delays = [[backoff_delay(n, 0.5, 30.0, rng) for _ in range(200)] for n in range(10)]
    for n, sample in enumerate(delays):
        ceiling = min(30.0, 0.5 * 2**n)
        assert all(ceiling / 2 <= d <= ceiling for d in sample)
        assert len(set(sample)) > 100, "jittered"
    assert max(max(s) for s in delays) <= 30.0
    assert backoff_delay(10_000, 0.5, 30.0) <= 30.0  # no overflow for long outages


def test_streams_are_split_under_binance_limits():
    streams = [f"sym{i}@depth@100ms" for i in range(2500)]
    plans = plan_connections("wss://x", streams, per_connection=1024)
    assert [len(p.streams) for p in plans] == [1024, 1024, 452]
    assert [s for p in plans for s in p.streams] == streams
    for plan in plans:  # big connections subscribe by messages: few, paced under 5/s
        params = [s for m in plan.subscribe for s in json.loads(m)["params"]]
        assert params == plan.streams and plan.url == "wss://x/stream"
        assert len(plan.subscribe) == 6 if len(plan.streams) == 1024 else 3
    assert 1 / SUBSCRIBE_PACE_S < 5, "subscribe messages stay under 5 incoming messages/s"
    small = plan_connections("ws://h:1", streams[:30])
    assert len(small) == 1 and small[0].subscribe == []
    assert small[0].url == "ws://h:1/stream?streams=" + "/".join(streams[:30])
    assert len(plan_connections("ws://h", streams[:MAX_URL_STREAMS + 1])[0].subscribe) == 2


def test_the_source_picks_the_urls_with_the_same_code():
    simulated = load_settings(simulator_port=8765)
    assert exchange_urls(simulated.market, simulated.simulator, simulated.ingest) == (
        "ws://127.0.0.1:8765", "http://127.0.0.1:8765")
    live = load_settings(source="binance")
    assert exchange_urls(live.market, live.simulator, live.ingest) == (
        "wss://stream.binance.com:9443", "https://api.binance.com")
