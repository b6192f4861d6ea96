"""SubscribeTradeFlow without I/O: the published TradeFlow bytes travel untouched, the hub
serves a snapshot then changes and conflates a slow subscriber to the newest flow per symbol,
and the `quantcore watch --trade-flow` table."""

from __future__ import annotations

import asyncio

from quantcore.wire import MarketUpdate, TradeFlow, market_data_pb2
from serving.hub import Hub
from serving.kinds import FLOWS
from serving.watch import FlowState, render_flow
from tests.support.hub_messages import UNIVERSE
from tests.support.trade_flows import published, trade_flow


def flows_of(raw: bytes) -> tuple[int, list[tuple[str, int]]]:
    message = market_data_pb2.TradeFlowUpdate.FromString(raw)
    return message.kind, [(f.symbol, f.trade_id) for f in message.flows]


def test_published_flows_travel_untouched_ordered_by_trade_id():
    raw = [published("BTCUSDT", 7, vwap=65_000.5), published("ETHUSDT", 3, tfi=-0.75)]
    changes = [FLOWS.decode(r) for r in raw]
    assert [(c.symbol, c.update_id, c.publish_us) for c in changes] == [("BTCUSDT", 7, 7_000), ("ETHUSDT", 3, 3_000)]
    message = market_data_pb2.TradeFlowUpdate.FromString(FLOWS.message(True, changes, None, 999))
    assert message.kind == MarketUpdate.SNAPSHOT and message.server_send_us == 999
    assert [f.SerializeToString() for f in message.flows] == raw
    assert message.flows[0].windows[0].vwap == 65_000.5 and message.flows[1].windows[2].tfi == -0.25
    assert FLOWS.decode(b"\xff\xfe") is None and FLOWS.decode(TradeFlow(trade_id=1).SerializeToString()) is None
    assert (FLOWS.snapshots, FLOWS.conflates, FLOWS.record) == (True, True, "TradeFlow")


def test_the_hub_sends_the_snapshot_then_newer_flows_and_conflates_a_slow_subscriber():
    async def scenario() -> None:
        hub = Hub(UNIVERSE, queue_size=4, max_lag_s=60.0, max_streams=5, kind=FLOWS)
        hub.replace_state({"BTCUSDT": published("BTCUSDT", 10), "ETHUSDT": published("ETHUSDT", 5)})
        fast, slow = hub.register(None), hub.register(frozenset({"BTCUSDT", "SOLUSDT"}))
        assert flows_of(await hub.next_message(fast)) == (MarketUpdate.SNAPSHOT, [("BTCUSDT", 10), ("ETHUSDT", 5)])
        assert flows_of(await hub.next_message(slow)) == (MarketUpdate.SNAPSHOT, [("BTCUSDT", 10)])
        for trade_id in range(9, 20):  # 9, 10: not newer than the snapshot
            hub.offer(published("BTCUSDT", trade_id))
            hub.offer(published("SOLUSDT", trade_id))
            await asyncio.sleep(0)
            assert flows_of(await hub.next_message(fast))[1] == \
                ([] if trade_id <= 10 else [("BTCUSDT", trade_id)]) + [("SOLUSDT", trade_id)]
        assert hub.metrics.stale_ignored == 2
        kind, behind = flows_of(await hub.next_message(slow))
        assert kind == MarketUpdate.UPDATE and len(behind) <= 4, "conflated to fit its queue, not dropped"
        assert behind == [("BTCUSDT", 18), ("SOLUSDT", 18), ("BTCUSDT", 19), ("SOLUSDT", 19)], \
            "a slow subscriber gets the newest flows per symbol, in order"
        assert hub.metrics.conflated == 20 - 4 and hub.metrics.drops == 0  # BTCUSDT 11..19, SOLUSDT 9..19

    asyncio.run(scenario())


def test_the_watch_table_shows_each_window():
    state = FlowState("btcusdt")
    state.apply(market_data_pb2.TradeFlowUpdate(kind=MarketUpdate.SNAPSHOT, flows=[
        trade_flow("ETHUSDT", 1), trade_flow("BTCUSDT", 4, vwap=65_000.25, tfi=-0.5)]), 1.0)
    assert state.rows() == [("1s", "4", "65,000.25", "-0.500"), ("10s", "8", "65,001.25", "-0.250"),
                            ("60s", "12", "65,002.25", "-0.167")]
    without = trade_flow("BTCUSDT", 5)
    without.windows[2].ClearField("vwap")
    without.windows[2].ClearField("tfi")
    state.apply(market_data_pb2.TradeFlowUpdate(kind=MarketUpdate.UPDATE, flows=[without]), 2.0)
    assert state.rows()[2] == ("60s", "15", "-", "-") and state.flow.trade_id == 5
    assert "trade id 5" in render_flow(state).caption and "flows/s" in render_flow(state).caption
    assert render_flow(FlowState("SOLUSDT")).caption == "no trade flow yet"
