"""Trade frames through the shard's core: routed to the sink's trade side as TradeRecords,
checked for continuity, bad ones dead-lettered with their reason; books untouched."""

from __future__ import annotations

import json

import pytest

from quantcore import wire
from quantcore.settings import Source
from streaming.ingest.pipeline import ShardPipeline
from streaming.ingest.records import Provenance
from streaming.simulator.model import SymbolModel, Trade
from streaming.simulator.protocol import agg_trade_payload, combined_frame, diff_payload, dumps, trade_payload

SIMULATED = Provenance.of(Source.simulator, simulator_seed=7)
SELL = wire.AggressorSide.Value("AGGRESSOR_SIDE_SELL")
BUY = wire.AggressorSide.Value("AGGRESSOR_SIDE_BUY")
TIME_MS = 1_700_000_000_000


class ListSink:
    def __init__(self) -> None:
        self.books: list[wire.BookRecord] = []
        self.trades: list[tuple[str, wire.TradeRecord, int, int]] = []
        self.dead: list[tuple[str, wire.DeadLetter]] = []

    def publish(self, symbol: str, value: bytes, *_ids_and_time: int) -> None:
        self.books.append(wire.BookRecord.FromString(value))

    def publish_trade(self, symbol: str, value: bytes, trade_id: int, received_us: int) -> None:
        self.trades.append((symbol, wire.TradeRecord.FromString(value), trade_id, received_us))

    def dead_letter(self, symbol: str, value: bytes) -> None:
        self.dead.append((symbol, wire.DeadLetter.FromString(value)))

    def trade_ids(self) -> list[int]:
        return [record.trade_id for _, record, _, _ in self.trades]


def pipeline_with(trades: str, symbols=("BTCUSDT", "ETHUSDT")) -> tuple[ShardPipeline, ListSink]:
    sink = ListSink()
    return ShardPipeline(shard_id=1, symbols=list(symbols), mode="diff", depth=5, sink=sink, provenance=SIMULATED,
                         trades=trades), sink


def simulated_trades(symbol: str = "BTCUSDT", count: int = 20, seed: int = 3) -> list[Trade]:
    model, found = SymbolModel(symbol, seed=seed), []
    while len(found) < count:
        found.extend(model.step().trades)
    return found[:count]


def trade_frame(trade: Trade, kind: str = "trade") -> str:
    payload = trade_payload(trade, TIME_MS) if kind == "trade" else agg_trade_payload(trade, TIME_MS)
    return combined_frame(f"{trade.symbol.lower()}@{kind}", dumps(payload))


def test_each_symbol_subscribes_its_trade_stream_beside_its_book():
    assert pipeline_with("trade")[0].streams == ["btcusdt@depth@100ms", "btcusdt@trade",
                                                 "ethusdt@depth@100ms", "ethusdt@trade"]
    assert pipeline_with("aggTrade", ("BTCUSDT",))[0].streams == ["btcusdt@depth@100ms", "btcusdt@aggTrade"]
    assert pipeline_with("off", ("BTCUSDT",))[0].streams == ["btcusdt@depth@100ms"]
    with pytest.raises(ValueError, match="trades must be"):
        pipeline_with("aggtrades")


def test_a_trade_frame_becomes_a_trade_record_on_the_trade_sink():
    pipeline, sink = pipeline_with("trade")
    trades = simulated_trades()
    for i, trade in enumerate(trades):
        pipeline.on_frame(trade_frame(trade), received_us=1000 + i)
    assert sink.books == [] and sink.dead == []
    assert [(symbol, trade_id, received) for symbol, _, trade_id, received in sink.trades] == [
        ("BTCUSDT", t.trade_id, 1000 + i) for i, t in enumerate(trades)]
    for (_, record, _, _), trade in zip(sink.trades, trades):
        assert (record.exchange, record.symbol, record.trade_id, record.price, record.qty) == (
            "binance", "BTCUSDT", trade.trade_id, trade.price, trade.qty)
        assert record.aggressor == (SELL if trade.buyer_is_maker else BUY)  # m: the buyer made, the seller took
        assert record.first_trade_id == record.last_trade_id == trade.trade_id
        assert record.stream == wire.TradeStream.Value("TRADE_STREAM_TRADE")
        assert (record.trade_time_us, record.event_time_us) == (TIME_MS * 1000, TIME_MS * 1000)
        assert (record.shard_id, record.origin, record.simulator_seed) == (
            1, wire.Origin.Value("ORIGIN_SIMULATOR"), 7)
    assert {record.aggressor for _, record, _, _ in sink.trades} == {BUY, SELL}
    assert pipeline.counters.trades == len(trades) and pipeline.counters.books == 0


def test_agg_trades_carry_their_first_and_last_trade_ids():
    pipeline, sink = pipeline_with("aggTrade", ("BTCUSDT",))
    trade = simulated_trades(count=1)[0]
    pipeline.on_frame(trade_frame(trade, "aggTrade"), received_us=5)
    _, record, _, _ = sink.trades[0]
    assert record.stream == wire.TradeStream.Value("TRADE_STREAM_AGG_TRADE")
    assert (record.trade_id, record.first_trade_id, record.last_trade_id) == (trade.trade_id,) * 3


def test_a_gap_in_trade_ids_is_counted_and_logged_and_the_trade_still_published():
    pipeline, sink = pipeline_with("trade")
    trades = simulated_trades(count=10)
    for trade in trades[:4] + trades[7:]:  # three trades lost on the way
        pipeline.on_frame(trade_frame(trade), 1)
    assert sink.trade_ids() == [t.trade_id for t in trades[:4] + trades[7:]]
    counters = pipeline.counters
    assert (counters.trade_gaps, counters.trades_missing, counters.trade_repeats) == (1, 3, 0)
    assert counters.trade_gaps_by_symbol == {"BTCUSDT": {"gaps": 1, "missing": 3}}
    assert json.loads(json.dumps(counters.as_report()))["trade_gaps_by_symbol"]["BTCUSDT"]["missing"] == 3


def test_trades_seen_again_after_a_reconnect_are_dropped_once_counted():
    pipeline, sink = pipeline_with("trade")
    trades = simulated_trades(count=6)
    for trade in trades[:4] + trades[2:]:  # the new connection repeats two trades
        pipeline.on_frame(trade_frame(trade), 1)
    assert sink.trade_ids() == [t.trade_id for t in trades]
    assert pipeline.counters.trade_repeats == 2 and pipeline.counters.trade_gaps == 0


def test_a_malformed_trade_goes_to_the_dead_letters_with_its_reason():
    pipeline, sink = pipeline_with("trade")
    trade = simulated_trades(count=1)[0]
    payload = trade_payload(trade, TIME_MS)
    bad = [{**payload, "q": "0.00000000"}, {k: v for k, v in payload.items() if k != "t"}, {**payload, "s": "ETHUSDT"}]
    for data in bad:
        pipeline.on_frame(combined_frame("btcusdt@trade", dumps(data)), 1)
    assert sink.trades == [] and pipeline.counters.dead_letters == 3
    assert [(symbol, letter.reason) for symbol, letter in sink.dead] == [
        ("BTCUSDT", "qty 0.00000000 is not positive"), ("BTCUSDT", "missing field 't'"),
        ("BTCUSDT", "event symbol 'ETHUSDT' does not match its stream (BTCUSDT)")]
    assert json.loads(sink.dead[0][1].payload)["data"]["q"] == "0.00000000"  # the raw frame, kept


def test_trade_and_book_frames_of_one_symbol_interleave_without_touching_each_other():
    model = SymbolModel("BTCUSDT", seed=4)
    pipeline, sink = pipeline_with("trade", ("BTCUSDT",))
    pipeline.on_frame(combined_frame("btcusdt@depth@100ms", dumps(diff_payload(model.step(), TIME_MS))), 1)
    assert pipeline.on_snapshot("BTCUSDT", json.dumps(model.snapshot(1000)))
    sent = []
    for _ in range(30):
        event = model.step()
        for trade in event.trades:  # the simulator's order: the prints, then the diff showing the fills
            pipeline.on_frame(trade_frame(trade), 2)
            sent.append(trade.trade_id)
        pipeline.on_frame(combined_frame("btcusdt@depth@100ms", dumps(diff_payload(event, TIME_MS))), 2)
    assert len(sink.books) == 30 and sink.trade_ids() == sent and sent
    assert pipeline.counters.resyncs == 0 and pipeline.counters.trade_gaps == 0


def test_with_trades_off_a_trade_frame_is_an_unexpected_stream():
    pipeline, sink = pipeline_with("off", ("BTCUSDT",))
    pipeline.on_frame(trade_frame(simulated_trades(count=1)[0]), 1)
    assert sink.trades == [] and [letter.reason for _, letter in sink.dead] == ["unexpected stream 'btcusdt@trade'"]
