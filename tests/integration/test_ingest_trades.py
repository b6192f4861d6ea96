"""Trades end to end: the simulator's prints -> ingest shards -> the real Kafka trade topic.

The simulator is started with a known id base, so the test can rebuild its market offline
(the same seed gives the same trades: streaming.simulator.model) and compare every record
in Kafka with the trade the simulator printed: same id, price, quantity and aggressor, in
order, per symbol. A dropped connection loses real trades: the shard counts the gap, and
the ids missing in Kafka are exactly the simulator's trades of the outage.
"""

from __future__ import annotations

import time
from collections import defaultdict

import pytest

from quantcore import wire
from quantcore.polling import wait_until
from quantcore.settings import Settings
from streaming.ingest.arbitration import FeedArbiter
from streaming.ingest.counters import IngestCounters
from streaming.ingest.pipeline import ShardPipeline
from streaming.ingest.producer import KafkaSink
from streaming.ingest.records import Provenance
from streaming.simulator import start_simulator
from streaming.simulator.model import SymbolModel, Trade, id_base_for_start
from streaming.simulator.protocol import combined_frame, dumps, trade_payload
from tests.support.ingest import (
    POLL_S,
    by_symbol,
    ingest_settings,
    read_topic,
    read_trades,
    shard_beats,
    shard_in_thread,
    shard_runner,
)

pytestmark = pytest.mark.slow

SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "DOGEUSDT"]
SELL = wire.AggressorSide.Value("AGGRESSOR_SIDE_SELL")
BUY = wire.AggressorSide.Value("AGGRESSOR_SIDE_BUY")


def printed(settings: Settings, id_base: int, through: dict[str, int]) -> dict[str, dict[int, Trade]]:
    """The simulator's trades per symbol, by id, up to `through[symbol]` (rebuilt offline: each
    symbol's model depends only on the seed, the symbol and the id base)."""
    found: dict[str, dict[int, Trade]] = {}
    for symbol, last in through.items():
        model = SymbolModel(symbol, settings.simulator.seed, settings.simulator.levels, id_base=id_base)
        trades: dict[int, Trade] = {}
        while not trades or max(trades) < last:
            trades.update((trade.trade_id, trade) for trade in model.step().trades)
        found[symbol] = trades
    return found


def as_printed(record: wire.TradeRecord) -> tuple:
    return record.trade_id, record.price, record.qty, record.aggressor


def as_sent(trade: Trade) -> tuple:
    return trade.trade_id, trade.price, trade.qty, SELL if trade.buyer_is_maker else BUY


def test_the_kafka_trades_are_the_simulators_one_for_one_with_twin_shards(
        kafka, redis_conn, fresh_topic, trade_topic, dead_letter_topic, tmp_path):
    """Two shards, each reading both symbol groups (A/B feeds): every trade in Kafka once."""
    id_base = id_base_for_start(time.time())
    with start_simulator(kafka, port=0, symbols=SYMBOLS, rate_hz=10.0, id_base=id_base) as simulator:
        settings = ingest_settings(kafka, simulator, fresh_topic, dead_letter_topic, trade_topic=trade_topic,
                                   symbols=SYMBOLS, shards=2)
        assert settings.ingest.trades.value == "trade" and settings.ingest.twin  # the defaults
        with shard_runner(settings, tmp_path / "runner.log", shards=2):
            wait_until(lambda: (b := shard_beats(redis_conn, 2)) and all(x["trade_records"] > 60 for x in b.values()),
                       60, "trades published by both shards", interval=POLL_S)
    final = shard_beats(redis_conn, 2)  # reported by each shard after its final flush
    assert all(x["trade_gaps"] == 0 and x["trade_repeats"] == 0 and x["dead_letters"] == 0
               and x["delivery_errors"] == 0 for x in final.values()), final
    total = sum(x["trade_records"] for x in final.values())

    consumed = read_trades(settings, trade_topic, total)
    assert len(consumed) == total  # every trade handed to Kafka arrived, once
    partitions = defaultdict(set)
    for item in consumed:
        record = item.record
        assert item.key == record.symbol and record.exchange == "binance"
        assert (record.origin, record.simulator_seed) == (wire.Origin.Value("ORIGIN_SIMULATOR"),
                                                          settings.simulator.seed)
        assert record.stream == wire.TradeStream.Value("TRADE_STREAM_TRADE")
        assert record.first_trade_id == record.last_trade_id == record.trade_id
        assert 0 < record.trade_time_us == record.event_time_us <= record.ingest_time_us + 1000
        partitions[record.symbol].add(item.partition)
    assert all(len(p) == 1 for p in partitions.values()), "a symbol's trades live in one partition"

    streams = by_symbol(consumed)
    assert set(streams) == set(SYMBOLS)
    truth = printed(settings, id_base, {s: records[-1].trade_id for s, records in streams.items()})
    for symbol, records in streams.items():
        first = records[0].trade_id
        expected = [as_sent(truth[symbol][i]) for i in sorted(truth[symbol]) if i >= first]
        assert [as_printed(r) for r in records] == expected, f"{symbol}: not the simulator's trades, in order"
        assert len(records) >= 10, symbol


def test_a_dropped_connection_is_a_counted_trade_gap_of_exactly_the_lost_trades(
        kafka, redis_service, fresh_topic, trade_topic, dead_letter_topic):
    id_base = id_base_for_start(time.time())
    with start_simulator(kafka, port=0, symbols=SYMBOLS, rate_hz=10.0, id_base=id_base) as simulator:
        settings = ingest_settings(kafka, simulator, fresh_topic, dead_letter_topic, trade_topic=trade_topic,
                                   symbols=SYMBOLS, shards=1, ingest_reconnect_base_s=2.0)
        with shard_in_thread(settings) as shard:
            shard.wait_for(lambda c: c.trades > 60, 30, "trades")
            simulator.drop_connections()  # the shard is away 1-2 s: ~10-20 steps of every symbol
            shard.wait_for(lambda c: c.reconnects >= 1 and c.trade_gaps >= 1, 30, "the reconnect and a trade gap")
            after = shard.counters.trades
            shard.wait_for(lambda c: c.trades > after + 40, 30, "trades after the reconnect")
    counters = shard.counters
    assert counters.trade_repeats == 0 and counters.dead_letters == 0
    streams = by_symbol(read_trades(settings, trade_topic, counters.trade_records))
    truth = printed(settings, id_base, {s: records[-1].trade_id for s, records in streams.items()})
    for symbol, records in streams.items():
        ids = [r.trade_id for r in records]
        lost = [i for i in sorted(truth[symbol]) if ids[0] < i < ids[-1] and i not in set(ids)]
        jumps = sum(1 for a, b in zip(ids, ids[1:]) if b != a + 1)
        assert [as_printed(r) for r in records] == [as_sent(truth[symbol][i]) for i in ids], symbol
        counted = counters.trade_gaps_by_symbol.get(symbol, {"gaps": 0, "missing": 0})
        assert counted == {"gaps": jumps, "missing": len(lost)}, symbol  # the shard saw what Kafka shows
        assert jumps <= 1, f"{symbol}: one outage, at most one gap"
    assert counters.trade_gaps >= 1 and counters.trades_missing == sum(
        g["missing"] for g in counters.trade_gaps_by_symbol.values())


def test_crafted_frames_through_the_pipeline_to_kafka_gap_repeat_and_dead_letter(kafka, trade_topic,
                                                                                  dead_letter_topic):
    """Without the WebSocket: a crafted sequence (ids 1-3, 3 again, 7, a zero quantity) through
    the shard's pipeline, arbiter and the real producer."""
    settings = kafka.override(trade_topic=trade_topic, dead_letter_topic=dead_letter_topic)
    counters = IngestCounters()
    sink = KafkaSink(settings.kafka, settings.ingest, counters)
    sink.wait_until_ready(30)
    arbiter = FeedArbiter(sink, {0: ["BTCUSDT"]}, buffer_s=30, counters=counters)
    arbiter.hold(0)
    pipeline = ShardPipeline(shard_id=0, symbols=["BTCUSDT"], mode="partial", depth=5, sink=arbiter,
                             provenance=Provenance.of(settings.market.source, 7), counters=counters, trades="trade")

    def frame(trade_id: int, qty: str = "0.50000000") -> str:
        trade = Trade("BTCUSDT", trade_id, 0, 0, "65000.01000000", qty, trade_id % 2 == 0, 0)
        return combined_frame("btcusdt@trade", dumps(trade_payload(trade, 1_700_000_000_000 + trade_id)))

    for raw in (frame(1), frame(2), frame(3), frame(3), frame(7), frame(8, qty="0.00000000")):
        pipeline.on_frame(raw, received_us=time.time_ns() // 1000)
    assert sink.close(30) == 0 and counters.delivery_errors == 0

    records = [item.record for item in read_trades(settings, trade_topic, 4)]
    assert [(r.trade_id, r.aggressor) for r in records] == [(1, BUY), (2, SELL), (3, BUY), (7, BUY)]
    assert [(counters.trade_gaps, counters.trades_missing, counters.trade_repeats)] == [(1, 3, 1)]
    assert counters.trade_gaps_by_symbol == {"BTCUSDT": {"gaps": 1, "missing": 3}}
    letters = [wire.DeadLetter.FromString(m.value()) for m in read_topic(settings, dead_letter_topic, 1)]
    assert [(letter.symbol, letter.reason, letter.stage) for letter in letters] == [
        ("BTCUSDT", "qty 0.00000000 is not positive", "ingest")]
