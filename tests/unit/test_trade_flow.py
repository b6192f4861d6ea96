"""The trade-flow writer's per-record logic (streaming/spark/trade_flow.py) without Kafka or
Redis: values at each trade equal an independent numpy computation, records in order, a warm
start that republishes nothing, duplicates skipped, bad records dead-lettered with a reason,
and the Redis store's readable fields."""

from __future__ import annotations

import numpy as np
import pytest

from quantcore import wire
from streaming.spark import trade_flow
from streaming.spark.trade_flow import (
    BAD_PRICE,
    MISSING_SYMBOL,
    NO_AGGRESSOR,
    TIME_BACKWARDS,
    UNDECODABLE,
    TradeFlowProcessor,
    TradeFlowState,
    flow_columns,
    readable_fields,
)
from streaming.spark.trade_flow_writer import MAX_CATCHUP_S, WARMUP_MARGIN_S, start_offsets_ms

BUY, SELL = wire.AggressorSide.AGGRESSOR_SIDE_BUY, wire.AggressorSide.AGGRESSOR_SIDE_SELL


class FakeMessage:
    def __init__(self, value: bytes, partition: int = 0, offset: int = 0, ts_ms: int = 0, key: bytes | None = None,
                 topic: str = "qc.trades.test") -> None:
        self._value, self._partition, self._offset, self._ts, self._key, self._topic = (
            value, partition, offset, ts_ms, key, topic)

    def value(self): return self._value
    def key(self): return self._key
    def topic(self): return self._topic
    def partition(self): return self._partition
    def offset(self): return self._offset
    def timestamp(self): return (1, self._ts)


def trade(symbol: str, trade_id: int, time_us: int, price: str, qty: str, sell: bool) -> wire.TradeRecord:
    return wire.TradeRecord(exchange="binance", symbol=symbol, trade_id=trade_id, trade_time_us=time_us,
                            price=price, qty=qty, aggressor=SELL if sell else BUY, ingest_time_us=time_us + 50)


def random_trades(seed: int = 7, n: int = 400, symbols=("AAAUSDT", "BBBUSDT")) -> list[wire.TradeRecord]:
    rng = np.random.default_rng(seed)
    out, time_us = [], 1_700_000_000_000_000
    ids = {s: 1000 * (i + 1) for i, s in enumerate(symbols)}
    for _ in range(n):
        time_us += int(rng.integers(0, 700_000))  # repeats (0) and gaps up to 0.7 s
        symbol = symbols[int(rng.integers(len(symbols)))]
        ids[symbol] += 1
        out.append(trade(symbol, ids[symbol], time_us, f"{rng.uniform(90, 110):.2f}", f"{rng.uniform(0.001, 2):.3f}",
                         bool(rng.integers(2))))
    return out


def reference(trades: list[wire.TradeRecord], windows_us=trade_flow.WINDOWS_US) -> dict[tuple[str, int], tuple]:
    """Independent: per trade, a numpy mask over the symbol's trades in (t - w, t]."""
    result = {}
    for symbol in {t.symbol for t in trades}:
        mine = [t for t in trades if t.symbol == symbol]
        times = np.array([t.trade_time_us for t in mine])
        price = np.array([float(t.price) for t in mine])
        qty = np.array([float(t.qty) for t in mine])
        sign = np.array([-1.0 if t.aggressor == SELL else 1.0 for t in mine])
        for i, t in enumerate(mine):
            values = []
            for w in windows_us:
                mask = (times > t.trade_time_us - w) & (times <= t.trade_time_us) & (np.arange(len(mine)) <= i)
                values += [int(mask.sum()), float((price[mask] * qty[mask]).sum() / qty[mask].sum()),
                           float((sign[mask] * qty[mask]).sum() / qty[mask].sum())]
            result[(symbol, t.trade_id)] = tuple(values)
    return result


def assert_close(got, want) -> None:
    for g, w in zip(got, want, strict=True):
        assert g == pytest.approx(w, rel=1e-12, abs=1e-12)


def messages(trades, partition=0, first_offset=0, ts_ms=None):
    return [FakeMessage(t.SerializeToString(), partition, first_offset + i,
                        ts_ms if ts_ms is not None else t.trade_time_us // 1000 + 1, t.symbol.encode())
            for i, t in enumerate(trades)]


def test_columns_are_the_three_windows():
    assert [name for name, _ in flow_columns()] == [
        "trade_count_1s", "vwap_1s", "tfi_1s", "trade_count_10s", "vwap_10s", "tfi_10s",
        "trade_count_60s", "vwap_60s", "tfi_60s"]


def test_each_trade_published_in_order_with_the_reference_values():
    trades = random_trades()
    batch = TradeFlowProcessor().process(messages(trades))
    assert [(f.symbol, f.trade_id) for f in batch.flows] == [(t.symbol, t.trade_id) for t in trades]
    want = reference(trades)
    for flow, sent in zip(batch.flows, trades):
        assert flow.trade_time_us == sent.trade_time_us and flow.exchange == "binance"
        assert [w.window_ms for w in flow.windows] == [1000, 10000, 60000]
        got = [v for w in flow.windows for v in (w.trade_count, w.vwap, w.tfi)]
        assert_close(got, want[(sent.symbol, sent.trade_id)])
        assert flow.times.ingest_time_us == sent.ingest_time_us
        assert flow.times.kafka_timestamp_us == (sent.trade_time_us // 1000 + 1) * 1000
    assert batch.progress == {0: trades[-1].trade_time_us // 1000 + 1}
    assert batch.dead_letters == []


def test_split_batches_give_the_same_flows():
    trades = random_trades(seed=3)
    whole = TradeFlowProcessor().process(messages(trades)).flows
    processor = TradeFlowProcessor()
    parts = processor.process(messages(trades[:150])).flows + processor.process(messages(trades[150:], 0, 150)).flows
    strip = lambda f: (f.trade_id, [(w.trade_count, w.vwap, w.tfi) for w in f.windows])  # noqa: E731
    assert [strip(f) for f in parts] == [strip(f) for f in whole]


def test_warm_start_feeds_the_windows_without_republishing():
    trades = random_trades(seed=5, n=300)
    full = {(f.symbol, f.trade_id): f for f in TradeFlowProcessor().process(messages(trades)).flows}
    # The previous writer published up to trade 200 (per symbol: its last id there) and saw
    # the partition up to that record's Kafka time; the restart reads from well before it.
    cut = 200
    published = {}
    for t in trades[:cut]:
        published[t.symbol] = t.trade_id
    resume_ms = {0: trades[cut - 1].trade_time_us // 1000 + 1}
    restarted = TradeFlowProcessor(published=published, resume_ms=resume_ms)
    batch = restarted.process(messages(trades[50:]))
    assert [(f.symbol, f.trade_id) for f in batch.flows] == [(t.symbol, t.trade_id) for t in trades[cut:]]
    assert restarted.stats.warmup == cut - 50
    later = [f for f in batch.flows if f.trade_time_us - trades[50].trade_time_us >= 60_000_000]
    assert later, "some trades have a full 60 s of history after the warm-up start"
    for flow in later:  # exact: the warm-up covers the longest window
        assert flow.windows == full[(flow.symbol, flow.trade_id)].windows


def test_fresh_start_publishes_nothing_before_the_resume_point():
    trades = random_trades(seed=9, n=50)
    resume = trades[30].trade_time_us // 1000 + 1
    batch = TradeFlowProcessor(resume_ms={0: resume}).process(messages(trades))
    assert [f.trade_id for f in batch.flows] == [t.trade_id for t in trades if t.trade_time_us // 1000 + 1 >= resume]


def test_duplicates_skipped_bad_records_dead_lettered_with_their_reason():
    good = [trade("AAAUSDT", 1, 1_000_000, "100.0", "1.0", False), trade("AAAUSDT", 2, 1_500_000, "101.0", "3.0", True)]
    bad = [
        (b"\xff\xff not a protobuf", UNDECODABLE),
        (trade("", 3, 1_600_000, "1", "1", False).SerializeToString(), MISSING_SYMBOL),
        (trade("AAAUSDT", 3, 1_600_000, "-1", "1", False).SerializeToString(), BAD_PRICE),
        (trade("AAAUSDT", 3, 1_600_000, "nan", "1", False).SerializeToString(), BAD_PRICE),
        (trade("AAAUSDT", 3, 1_600_000, "abc", "1", False).SerializeToString(), BAD_PRICE),
        (trade("AAAUSDT", 3, 1_400_000, "100", "1", False).SerializeToString(), TIME_BACKWARDS),
        (wire.TradeRecord(symbol="AAAUSDT", trade_id=3, trade_time_us=1_600_000, price="1", qty="1")
         .SerializeToString(), NO_AGGRESSOR),
    ]
    records = messages(good) + messages([good[0]], first_offset=2)  # a duplicate of trade 1
    records += [FakeMessage(value, 0, 3 + i, 2_000, b"AAAUSDT") for i, (value, _) in enumerate(bad)]
    records += messages([trade("AAAUSDT", 3, 1_700_000, "102.0", "1.0", False)], first_offset=3 + len(bad))
    processor = TradeFlowProcessor()
    batch = processor.process(records)
    assert [f.trade_id for f in batch.flows] == [1, 2, 3]
    assert processor.stats.duplicates == 1 and processor.stats.dead_letters == len(bad)
    assert [(d.reason, d.source_offset, d.stage, d.symbol) for d in batch.dead_letters] == [
        (reason, 3 + i, "trade_flow", "AAAUSDT") for i, (_, reason) in enumerate(bad)]
    assert batch.dead_letters[0].payload == bad[0][0]
    last = batch.flows[-1].windows[0]  # trades 1, 2, 3 in (0.7 s, 1.7 s]
    assert last.trade_count == 3 and last.vwap == pytest.approx((100 + 303 + 102) / 5)
    assert last.tfi == pytest.approx((1 - 3 + 1) / 5)


def test_warm_up_bad_records_are_not_dead_lettered_again():
    record = FakeMessage(b"\xff", 0, 0, 1_000)
    assert TradeFlowProcessor(resume_ms={0: 2_000}).process([record]).dead_letters == []


def test_readable_fields():
    flow = TradeFlowProcessor().process(messages([trade("AAAUSDT", 9, 5_000_000, "2.5", "4", True)])).flows[0]
    pairs, absent = readable_fields(flow)
    fields = dict(zip(pairs[::2], pairs[1::2]))
    assert absent == []
    assert fields["trade_id"] == "9" and fields["trade_count_60s"] == "1"
    assert fields["vwap_1s"] == "2.5" and fields["tfi_10s"] == "-1.0" and "publish_us" in fields


def test_state_rejects_nothing_it_should_count_and_skips_late_ids():
    state = TradeFlowState()
    assert state.add("X", 5, 10, "1", "1", BUY)[0] == 1
    assert state.add("X", 4, 11, "1", "1", BUY) is None  # late id: skipped
    assert state.add("X", 6, 10, "1", "1", SELL)[:3] == (2, 1.0, 0.0)  # equal time is fine


def test_start_offsets():
    now = 10_000_000
    resume, start = start_offsets_ms([0, 1, 2], {0: now - 5_000, 2: now - 10 * MAX_CATCHUP_S * 1000}, now)
    assert resume == {0: now - 5_000, 1: now, 2: now - MAX_CATCHUP_S * 1000}
    assert start == {p: ms - 60_000 - WARMUP_MARGIN_S * 1000 for p, ms in resume.items()}


def test_compute_stream_reports_and_stops_the_trade_flow_writer():
    from quantcore.settings import TriggerMode
    from streaming.spark.compute_job import ComputeStream

    class Query:
        isActive, lastProgress = True, None
        stopped = False

        def stop(self):
            self.stopped = True

    class Writer:
        alive, error, stopped = True, None, False

        def counters(self):
            return {"trade_flow_records": 3, "trade_flow_published": 2}

        def stop(self):
            self.stopped = True

    query, writer = Query(), Writer()
    stream = ComputeStream(query, TriggerMode.microbatch, trade_flow=writer)
    assert stream.failure() is None
    assert stream.counters()["trade_flow_published"] == 2
    writer.alive, writer.error = False, "boom"
    assert stream.failure() == "trade-flow writer stopped: boom"
    stream.stop()
    assert query.stopped and writer.stopped
