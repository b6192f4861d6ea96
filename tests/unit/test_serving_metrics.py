"""Backoff steps and the serve metrics' latency window."""

from __future__ import annotations

import math
import random

import pytest

from quantcore.backoff import Backoff
from serving.metrics import ServeMetrics, percentile


def test_backoff_grows_to_its_cap_with_jitter_and_resets():
    backoff = Backoff(0.1, 1.0, rng=random.Random(1))
    delays = [backoff.next() for _ in range(8)]
    steps = [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0, 1.0]
    assert all(step / 2 <= delay <= step for delay, step in zip(delays, steps))
    assert backoff.attempts == 8
    backoff.reset()
    assert backoff.attempts == 0 and backoff.next() <= 0.1
    with pytest.raises(ValueError):
        Backoff(2.0, 1.0)


def test_percentile_nearest_rank():
    values = list(range(1, 101))
    assert percentile(values, 50) == 50 and percentile(values, 99) == 99 and percentile(values, 100) == 100
    assert percentile([7], 1) == 7
    assert math.isnan(percentile([], 50))


def test_push_latency_is_reported_per_window():
    metrics = ServeMetrics()
    for latency_us in (1_000, 2_000, 3_000, 50_000):
        metrics.record_push(updates=2, latency_us=latency_us)
    first = metrics.snapshot()
    assert (first["messages_sent"], first["updates_sent"], first["push_samples"]) == (4, 8, 4)
    assert first["push_p50_ms"] == 2.0 and first["push_p99_ms"] == 50.0
    second = metrics.snapshot()
    assert second["push_samples"] == 0 and second["push_p50_ms"] == -1.0, "each heartbeat reports its own window"
    assert second["messages_sent"] == 4, "counters are cumulative"
