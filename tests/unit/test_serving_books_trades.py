"""Books and trades without I/O: framing (depth cuts, TradeRecords untouched), the trades'
queue that never conflates, the hub dropping a trade subscriber that falls behind, depth
validation and the watch ladder."""

from __future__ import annotations

import asyncio

import pytest

from quantcore import wire
from quantcore.wire import MarketUpdate, market_data_pb2
from serving.client_queue import Change, ClientQueue
from serving.hub import CloseReason, Hub, StreamSlots, SubscriberClosed, HubFull
from serving.kinds import BOOKS, TRADES
from serving.requests import InvalidRequest, requested_depth
from serving.watch import LadderState, render_ladder
from tests.support.books import book_record
from tests.support.hub_messages import UNIVERSE


def book(symbol: str, update_id: int, levels: int = 20) -> bytes:
    bids = [(f"{100 - i}.{i:02d}", f"0.{i + 1}") for i in range(levels)]
    asks = [(f"{101 + i}.5", f"{i + 1}.000") for i in range(levels)]
    return book_record(symbol, update_id, bids, asks).SerializeToString()


def trade(symbol: str, trade_id: int) -> bytes:
    return wire.TradeRecord(symbol=symbol, trade_id=trade_id, price="65000.10000000", qty="0.00100000",
                            aggressor=wire.AggressorSide.Value("AGGRESSOR_SIDE_SELL")).SerializeToString()


def test_books_are_cut_to_each_depth_with_the_exact_strings():
    change = BOOKS.decode(book("BTCUSDT", 7), append_us=123)
    record = wire.BookRecord.FromString(book("BTCUSDT", 7))
    for depth in (1, 5, 20):
        message = market_data_pb2.BookUpdate.FromString(BOOKS.message(False, [change], depth, 999))
        assert message.kind == MarketUpdate.UPDATE and message.server_send_us == 999
        (levels,) = message.books
        assert (levels.symbol, levels.update_id, levels.kafka_append_us) == ("BTCUSDT", 7, 123)
        assert list(levels.bids) == list(record.bids[:depth]) and list(levels.asks) == list(record.asks[:depth])
    assert change.frame.at(5) is change.frame.at(5), "framed once per depth"
    assert BOOKS.decode(b"\xff\xff") is None


def test_trade_records_travel_untouched():
    raw = [trade("BTCUSDT", 1), trade("ETHUSDT", 9)]
    changes = [TRADES.decode(r, append_us=50 + i) for i, r in enumerate(raw)]
    message = market_data_pb2.TradeUpdate.FromString(TRADES.message(False, changes, None, 777))
    assert message.server_send_us == 777
    assert [p.trade.SerializeToString() for p in message.trades] == raw
    assert [p.kafka_append_us for p in message.trades] == [50, 51]
    assert [(c.symbol, c.update_id) for c in changes] == [("BTCUSDT", 1), ("ETHUSDT", 9)]


def test_a_trade_queue_never_conflates_it_overflows():
    queue = ClientQueue(4, conflate=False, snapshot_first=False)
    assert not queue.ready
    burst = [Change("BTCUSDT", i, b"", 0) for i in range(10)]
    assert queue.push(burst, 0.0) == 0 and queue.overflow == 0, "a burst into an empty queue is kept whole"
    assert len(queue.take().changes) == 10
    queue.push(burst[:3], 1.0)
    assert queue.overflow == 0
    queue.push(burst[3:5], 1.0)
    assert queue.overflow == 5 and queue.conflated == 0, "changes still waiting past the capacity: behind"


def test_the_hub_drops_a_trade_subscriber_that_falls_behind_and_keeps_the_others():
    async def scenario() -> None:
        slots = StreamSlots(3)
        hub = Hub(UNIVERSE, queue_size=4, max_lag_s=60.0, max_streams=3, kind=TRADES, slots=slots)
        slow, fast = hub.register(None), hub.register(frozenset({"BTCUSDT"}))
        hub.offer(trade("BTCUSDT", 1))
        await asyncio.sleep(0)
        assert [p.trade.trade_id for p in market_data_pb2.TradeUpdate.FromString(
            await hub.next_message(fast)).trades] == [1]
        for trade_id in range(2, 9):
            hub.offer(trade("BTCUSDT", trade_id))
            await asyncio.sleep(0)
            if trade_id < 8:
                await hub.next_message(fast)
        with pytest.raises(SubscriberClosed) as closed:
            await hub.next_message(slow)
        assert closed.value.reason is CloseReason.LAGGING
        assert "fell behind by 5 trades" in closed.value.details and "never conflated" in closed.value.details
        assert hub.subscribers == {fast} and hub.metrics.drops == 1 and slots.used == 1
        hub.offer(trade("BTCUSDT", 8))  # a repeat is not sent twice
        await asyncio.sleep(0)
        assert [p.trade.trade_id for p in market_data_pb2.TradeUpdate.FromString(
            await hub.next_message(fast)).trades] == [8]
        books = Hub(UNIVERSE, queue_size=4, max_lag_s=60.0, max_streams=3, kind=BOOKS, slots=slots)
        books.register(None, depth=5), books.register(None, depth=1)
        with pytest.raises(HubFull):
            books.register(None, depth=5)

    asyncio.run(scenario())


def test_depth_is_1_to_20():
    assert requested_depth(1, 20) == 1 and requested_depth(20, 20) == 20
    for bad in (0, 21, -1):
        with pytest.raises(InvalidRequest, match=r"depth must be 1\.\.20"):
            requested_depth(bad, 20)


def test_the_ladder_shows_both_sides_best_first():
    state = LadderState("btcusdt")
    levels = BOOKS.decode(book("BTCUSDT", 3, levels=2), 0).frame.levels(2)
    other = BOOKS.decode(book("ETHUSDT", 4, levels=2), 0).frame.levels(2)
    state.apply(market_data_pb2.BookUpdate(kind=MarketUpdate.SNAPSHOT, books=[levels, other]), 1.0)
    assert state.rows() == [("1", "0.1", "100.00", "101.5", "1.000"), ("2", "0.2", "99.01", "102.5", "2.000")]
    assert state.book.update_id == 3
    one_sided = market_data_pb2.BookLevels(symbol="BTCUSDT", update_id=5, bids=levels.bids[:1])
    state.apply(market_data_pb2.BookUpdate(kind=MarketUpdate.UPDATE, books=[one_sided]), 2.0)
    assert state.rows() == [("1", "0.1", "100.00", "", "")]
    assert "update id 5" in render_ladder(state).caption
