"""The fan-out benchmark's pure figures (the benchmark itself runs in bench/, never in tests)."""

from __future__ import annotations

from bench.scenarios.fanout import latency_figures, visibility_ms


def test_visibility_is_latency_when_every_update_arrives():
    published = {("BTC", 1): 1_000, ("BTC", 2): 2_000}
    seen = [("BTC", 1, 1_500), ("BTC", 2, 2_250)]
    assert visibility_ms(published, seen) == [0.5, 0.25]


def test_visibility_of_a_superseded_update_waits_for_a_newer_one():
    published = {("BTC", 1): 1_000, ("BTC", 2): 2_000, ("BTC", 3): 3_000, ("ETH", 1): 1_000}
    seen = [("BTC", 3, 10_000)]  # a poller: only the latest value, later
    assert sorted(visibility_ms(published, seen)) == [7.0, 8.0, 9.0], "ETH was never visible"


def test_latency_figures():
    figures = latency_figures([1_000] * 98 + [5_000, 9_000])
    assert (figures["count"], figures["p50"], figures["max"]) == (100, 1.0, 9.0)
    assert latency_figures([])["count"] == 0


def test_percentiles_are_nearest_rank_for_every_scenario():
    from bench.harness import percentiles

    figures = percentiles(list(range(1, 101)))  # 1..100
    assert (figures["p50"], figures["p90"], figures["p99"], figures["p99_9"], figures["max"]) == (50, 90, 99, 100, 100)
    assert percentiles([7.0])["p99"] == 7.0
