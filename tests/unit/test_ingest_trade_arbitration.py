"""A/B arbitration of trade records (pure): the holder publishes, the standby keeps, and a
takeover continues each symbol's trade ids in Kafka with no gap and no duplicate."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streaming.ingest.arbitration import FeedArbiter

SYMBOLS = ("BTCUSDT", "ETHUSDT")
STEP_US = 100_000


class Kafka:
    """What the broker acknowledged on the book and trade topics, in order."""

    def __init__(self, lost_from: int | None = None) -> None:
        self.books: list[tuple[str, bytes]] = []
        self.trades: list[tuple[str, bytes]] = []
        self.lost_from = lost_from  # trades sent after this many never arrive (in flight at a kill -9)
        self.sent = 0

    def publish(self, symbol: str, value: bytes) -> None:
        self.books.append((symbol, value))

    def publish_trade(self, symbol: str, value: bytes) -> None:
        self.sent += 1
        if self.lost_from is None or self.sent <= self.lost_from:
            self.trades.append((symbol, value))

    def dead_letter(self, symbol: str, value: bytes) -> None:
        pass

    def trade_ids(self, symbol: str, log: list[tuple[str, bytes]] | None = None) -> list[int]:
        return [int(value.split(b":")[1]) for s, value in (log or self.trades) if s == symbol]

    def last_trade_ids(self) -> dict[str, int]:
        return {s: ids[-1] for s in SYMBOLS if (ids := self.trade_ids(s))}


def trade(symbol: str, trade_id: int) -> bytes:
    return f"{symbol}:{trade_id}".encode()


def trade_feed(arbiter: FeedArbiter, first: int, last: int) -> None:
    """Trades `first..last` of every symbol, 100 ms apart."""
    for trade_id in range(first, last + 1):
        for symbol in SYMBOLS:
            arbiter.publish_trade(symbol, trade(symbol, trade_id), trade_id, trade_id * STEP_US)


def twins(holder_kafka: Kafka, standby_kafka: Kafka, buffer_s: float = 30.0) -> tuple[FeedArbiter, FeedArbiter]:
    a = FeedArbiter(holder_kafka, {0: SYMBOLS}, buffer_s=buffer_s)
    b = FeedArbiter(standby_kafka, {0: SYMBOLS}, buffer_s=buffer_s)
    a.hold(0)
    return a, b


def test_the_holder_publishes_trades_and_the_standby_only_keeps_them():
    kafka = Kafka()
    a, b = twins(kafka, kafka)
    trade_feed(a, 1, 10)
    trade_feed(b, 1, 10)
    assert [kafka.trade_ids(s) for s in SYMBOLS] == [list(range(1, 11))] * 2 and kafka.books == []
    assert (a.counters.trade_records, b.counters.trade_records, a.counters.records) == (20, 0, 0)


@given(killed_after=st.integers(1, 200), in_flight=st.integers(0, 40), after=st.integers(1, 100))
def test_the_twin_continues_the_trade_ids_with_no_gap_and_no_duplicate(killed_after, in_flight, after):
    kafka = Kafka(lost_from=max(0, killed_after - in_flight) * len(SYMBOLS))
    a, b = twins(kafka, kafka)
    trade_feed(a, 1, killed_after)  # A publishes; its last `in_flight` trades die with it
    trade_feed(b, 1, killed_after)  # B, the standby, keeps the same trades
    trade_feed(b, killed_after + 1, killed_after + after // 2)  # the market moves on while B waits
    kafka.lost_from = None  # from now on B's producer writes
    result = b.take_over(0, {}, kafka.last_trade_ids())
    trade_feed(b, killed_after + after // 2 + 1, killed_after + after)
    for symbol in SYMBOLS:
        assert kafka.trade_ids(symbol) == list(range(1, killed_after + after + 1)), symbol
    assert result.trade_gaps == () and b.counters.takeover_trade_gaps == 0
    assert result.trades_published == b.counters.takeover_trades


def test_kept_trades_that_do_not_reach_back_to_kafka_leave_a_reported_gap():
    holder, standby = Kafka(lost_from=2 * len(SYMBOLS)), Kafka()  # A's trades after id 2 are lost
    a, b = twins(holder, standby, buffer_s=1.0)
    trade_feed(a, 1, 50)
    trade_feed(b, 1, 50)  # B keeps 1 s of them: ids 40..50
    result = b.take_over(0, {}, holder.last_trade_ids())
    assert result.trade_gaps == SYMBOLS and b.counters.takeover_trade_gaps == 2
    assert standby.trade_ids("BTCUSDT") == list(range(40, 51))


def test_a_quiet_symbols_old_kept_trades_are_forgotten_at_a_takeover():
    """ETHUSDT traded long ago, within its own buffer (nothing newer trimmed it) but before the
    window a takeover reads Kafka over: publishing it again could duplicate it."""
    kafka = Kafka()
    _, b = twins(kafka, kafka, buffer_s=30.0)
    b.publish_trade("ETHUSDT", trade("ETHUSDT", 7), 7, 0)
    for i in range(1, 601):  # a minute of books and BTCUSDT trades
        b.publish("BTCUSDT", b"book", i, i, i * STEP_US)
        b.publish_trade("BTCUSDT", trade("BTCUSDT", i), i, i * STEP_US)
    result = b.take_over(0, {}, {})
    assert kafka.trade_ids("ETHUSDT") == [] and kafka.trade_ids("BTCUSDT") == list(range(300, 601))
    assert result.trades_published == 301


def test_a_takeover_without_trades_reads_no_trade_topic():
    kafka = Kafka()
    _, b = twins(kafka, kafka)
    b.publish("BTCUSDT", b"BTCUSDT:5", 5, 5, STEP_US)
    result = b.take_over(0, {})
    assert (result.published, result.trades_published, result.trade_gaps) == (1, 0, ())
