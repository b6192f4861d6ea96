"""A/B feed arbitration (pure): two twins fed the same events, one dies, the other takes over."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streaming.ingest.arbitration import FeedArbiter
from streaming.ingest.sharding import shard_groups

SYMBOLS = ("BTCUSDT", "ETHUSDT")
STEP_US = 100_000  # events 100 ms apart


class Kafka:
    """What the broker acknowledged, in order."""

    def __init__(self) -> None:
        self.log: list[tuple[str, bytes]] = []
        self.dead: list[tuple[str, bytes]] = []

    def publish(self, symbol: str, value: bytes) -> None:
        self.log.append((symbol, value))

    def dead_letter(self, symbol: str, value: bytes) -> None:
        self.dead.append((symbol, value))

    def ids(self, symbol: str) -> list[int]:
        return [int(value.split(b":")[1]) for s, value in self.log if s == symbol]

    def last_ids(self) -> dict[str, int]:
        return {s: max(self.ids(s)) for s in SYMBOLS if self.ids(s)}


class Lossy:
    """A holder's producer: what it sends after `lost_from` never reaches Kafka (in flight at a kill -9)."""

    def __init__(self, kafka: Kafka, lost_from: int) -> None:
        self.kafka, self.lost_from, self.sent = kafka, lost_from, 0

    def publish(self, symbol: str, value: bytes) -> None:
        self.sent += 1
        if self.sent <= self.lost_from:
            self.kafka.publish(symbol, value)

    def dead_letter(self, symbol: str, value: bytes) -> None:
        self.kafka.dead_letter(symbol, value)


def record(symbol: str, update_id: int) -> bytes:
    return f"{symbol}:{update_id}".encode()


def feed(arbiter: FeedArbiter, first: int, last: int) -> None:
    """Events `first..last` of every symbol, each a diff of one update id, 100 ms apart."""
    for update_id in range(first, last + 1):
        for symbol in SYMBOLS:
            arbiter.publish(symbol, record(symbol, update_id), update_id, update_id, update_id * STEP_US)


def twins(kafka_for_a, buffer_s: float = 30.0) -> tuple[FeedArbiter, FeedArbiter]:
    kafka_b = kafka_for_a if isinstance(kafka_for_a, Kafka) else kafka_for_a.kafka
    a = FeedArbiter(kafka_for_a, {0: SYMBOLS}, buffer_s=buffer_s)
    b = FeedArbiter(kafka_b, {0: SYMBOLS, 1: ("SOLUSDT",)}, buffer_s=buffer_s)
    a.hold(0)
    b.hold(1)
    return a, b


@given(killed_after=st.integers(1, 200), in_flight=st.integers(0, 40), after=st.integers(1, 100))
def test_the_twin_continues_the_chain_with_no_gap_and_no_duplicate(killed_after, in_flight, after):
    kafka = Kafka()
    holder = Lossy(kafka, lost_from=max(0, killed_after - in_flight) * len(SYMBOLS))
    a, b = twins(holder)
    feed(a, 1, killed_after)  # A publishes; its last `in_flight` events die with it
    feed(b, 1, killed_after)  # B, the standby, keeps the same records
    feed(b, killed_after + 1, killed_after + after // 2)  # the exchange moves on while B waits for the lease
    result = b.take_over(0, kafka.last_ids())
    feed(b, killed_after + after // 2 + 1, killed_after + after)
    for symbol in SYMBOLS:
        assert kafka.ids(symbol) == list(range(1, killed_after + after + 1)), symbol
    assert result.gaps == () and b.counters.takeover_gaps == 0
    assert b.counters.leases_taken == 1 and b.held == {0, 1}


def test_the_standby_publishes_nothing_until_it_takes_over():
    kafka = Kafka()
    a, b = twins(kafka)
    feed(a, 1, 10)
    feed(b, 1, 10)
    assert Counter(s for s, _ in kafka.log) == {s: 10 for s in SYMBOLS}
    assert a.counters.records == 20 and b.counters.records == 0
    assert b.standing_by() == [0]


def test_kept_records_older_than_the_buffer_are_dropped_and_the_gap_is_reported():
    kafka = Kafka()
    a, b = twins(Lossy(kafka, lost_from=2 * len(SYMBOLS)), buffer_s=1.0)  # A's records after id 2 are lost
    feed(a, 1, 50)
    feed(b, 1, 50)  # B keeps 1 s (ids 40..50) only
    result = b.take_over(0, kafka.last_ids())
    assert result.gaps == SYMBOLS and b.counters.takeover_gaps == 2
    assert kafka.ids("BTCUSDT") == [1, 2, *range(40, 51)]
    assert result.published == 2 * 11 == b.counters.takeover_published


def test_nothing_recent_in_kafka_publishes_everything_kept_without_a_gap():
    kafka = Kafka()
    _, b = twins(kafka)
    feed(b, 5, 9)
    assert b.take_over(0, {}).gaps == ()
    assert kafka.ids("ETHUSDT") == [5, 6, 7, 8, 9]


def test_partial_depth_records_carry_no_chain_so_any_newer_one_continues():
    kafka = Kafka()
    _, b = twins(kafka)
    for update_id in (100, 250, 400):  # whole books, ids far apart
        b.publish("BTCUSDT", record("BTCUSDT", update_id), update_id, 0, update_id * STEP_US)
    result = b.take_over(0, {"BTCUSDT": 250})
    assert result.gaps == () and kafka.ids("BTCUSDT") == [400]


def test_dead_letters_go_out_from_the_holder_only():
    kafka = Kafka()
    a, b = twins(kafka)
    a.dead_letter("BTCUSDT", b"bad")
    b.dead_letter("BTCUSDT", b"bad")  # the same frame, seen by the twin
    b.dead_letter("SOLUSDT", b"own")  # a group B holds
    b.dead_letter("", b"no symbol")
    assert [v for _, v in kafka.dead] == [b"bad", b"own", b"no symbol"]
    assert b.counters.standby_dead_letters == 1


@pytest.mark.parametrize("shards", [2, 3, 5])
def test_with_twins_every_group_is_read_by_exactly_two_shards(shards):
    readers = Counter(g for shard in range(shards) for g in shard_groups(shard, shards, twin=True))
    assert readers == {g: 2 for g in range(shards)}
    assert all(shard_groups(shard, shards, twin=True)[0] == shard for shard in range(shards))


def test_without_twins_or_with_one_shard_each_group_has_one_reader():
    assert [shard_groups(s, 3, twin=False) for s in range(3)] == [[0], [1], [2]]
    assert shard_groups(0, 1, twin=True) == [0]
