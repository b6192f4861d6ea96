"""A subscriber's bounded queue: batching, conflation to the newest per symbol, lag, snapshots."""

from __future__ import annotations

from serving.client_queue import Change, ClientQueue


def change(symbol: str, update_id: int) -> Change:
    return Change(symbol, update_id, f"{symbol}:{update_id}".encode(), update_id * 10)


def started(capacity: int = 8) -> ClientQueue:
    queue = ClientQueue(capacity)
    assert queue.take().snapshot, "a subscription starts with a snapshot"
    return queue


def test_a_subscription_starts_with_a_snapshot_that_supersedes_queued_changes():
    queue = ClientQueue(8)
    assert queue.ready
    assert queue.push([change("BTC", 1)], now=0.0) == 0
    batch = queue.take()
    assert batch.snapshot and batch.changes == []
    assert not queue.ready


def test_changes_are_taken_in_order_as_one_batch():
    queue = started()
    queue.push([change("BTC", 1), change("ETH", 1)], now=1.0)
    queue.push([change("BTC", 2)], now=1.1)
    batch = queue.take()
    assert not batch.snapshot
    assert [(c.symbol, c.update_id) for c in batch.changes] == [("BTC", 1), ("ETH", 1), ("BTC", 2)]
    assert len(queue) == 0 and queue.conflated == 0


def test_overflow_conflates_to_the_newest_change_per_symbol():
    queue = started(capacity=4)
    dropped = queue.push([change("BTC", 1), change("ETH", 1), change("BTC", 2), change("SOL", 1)], now=0.0)
    assert dropped == 0 and len(queue) == 4
    dropped = queue.push([change("ETH", 2)], now=0.1)
    assert dropped == 2 and queue.conflated == 2
    assert [(c.symbol, c.update_id) for c in queue.take().changes] == [("BTC", 2), ("SOL", 1), ("ETH", 2)]


def test_lag_is_the_age_of_the_oldest_waiting_change():
    queue = started()
    assert queue.lag(now=100.0) == 0.0
    queue.push([change("BTC", 1)], now=10.0)
    queue.push([change("BTC", 2)], now=12.0)
    assert queue.lag(now=13.5) == 3.5, "measured from the first change not yet taken"
    for update_id in range(3, 30):
        queue.push([change("BTC", update_id)], now=14.0)  # conflation keeps the clock running
    assert queue.lag(now=15.0) == 5.0
    queue.take()
    assert queue.lag(now=20.0) == 0.0


def test_a_requested_snapshot_replaces_what_is_queued():
    queue = started()
    queue.push([change("BTC", 1), change("ETH", 1)], now=1.0)
    queue.request_snapshot(now=2.0)
    assert queue.lag(now=3.0) == 2.0, "still behind since the first waiting change"
    queue.push([change("BTC", 2)], now=2.5)  # the snapshot, built when taken, will include it
    batch = queue.take()
    assert batch.snapshot and batch.changes == []
