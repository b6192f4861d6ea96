"""serving/kafka_demand.py: when the books and trades feed runs (no Kafka here: a fake feed)."""

from __future__ import annotations

import pytest

from serving import kafka_demand
from serving.kafka_demand import KafkaFeedOnDemand, idle_check_interval
from serving.hub import Hub
from serving.kinds import BOOKS, TRADES


class FakeFeed:
    def __init__(self, *args, trades_since_ms: int | None = None, **kwargs) -> None:
        self.trades_since_ms, self.stopped, self.errors = trades_since_ms, False, 2

    def start(self):
        return None

    def stop(self) -> None:
        self.stopped = True


@pytest.fixture
def demand(monkeypatch) -> KafkaFeedOnDemand:
    monkeypatch.setattr(kafka_demand, "KafkaFeed", FakeFeed)
    limits = {"queue_size": 8, "max_lag_s": 5.0, "max_streams": 10}
    books, trades = Hub(["BTCUSDT"], kind=BOOKS, **limits), Hub(["BTCUSDT"], kind=TRADES, **limits)
    return KafkaFeedOnDemand(None, books, trades, book_lookback_s=120.0, idle_stop_s=10.0, loop=None)


def test_the_first_client_of_either_stream_starts_the_feed_once(demand):
    assert not demand.running and demand.starts == 0
    sub = demand.books.register(None)
    assert demand.running and demand.starts == 1 and demand.feed.trades_since_ms > 0
    demand.trades.register(None)
    assert demand.starts == 1, "a running feed is not started again"
    demand.books.unregister(sub)


def test_the_feed_stops_only_after_the_idle_time_with_nobody_there(demand):
    sub = demand.trades.register(None)
    demand.books.state, demand.books.loaded = {"BTCUSDT": object()}, True
    demand.idle_check(100.0)
    assert demand.running, "a client is there"
    demand.trades.unregister(sub)
    demand.idle_check(101.0)
    demand.idle_check(110.9)
    assert demand.running, "idle for 9.9 s of 10"
    demand.idle_check(111.0)
    assert not demand.running and demand.books.state == {} and not demand.books.loaded
    assert demand.errors == 2, "the stopped feed's errors still count"


def test_a_client_coming_back_resets_the_idle_clock(demand):
    sub = demand.books.register(None)
    demand.books.unregister(sub)
    demand.idle_check(0.0)
    demand.books.unregister(demand.books.register(None))  # came and went at 8 s
    demand.idle_check(8.0)
    demand.idle_check(12.0)
    assert demand.running, "idle since 8 s only"
    demand.idle_check(18.0)
    assert not demand.running


def test_the_idle_check_runs_a_few_times_per_idle_time():
    assert idle_check_interval(60.0) == 5.0 and idle_check_interval(0.4) == 0.1 and idle_check_interval(0.01) == 0.05
