"""Known TradeRecords of DAY1 (and a few of DAY2) for the trade replay tests, and what each
becomes: three symbols on four partitions, @trade ids consecutive but for a deliberate gap
in BBBUSDT (ids 205 and 206 never sent), an @aggTrade stream (CCCUSDT) whose records cover
several exchange trades, and malformed records with the reason trades_quarantine gives."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from quantcore import wire
from quantcore.settings import KafkaSettings
from quantcore.timeutil import day_start_ms
from quantcore.topics import produce_all
from streaming.spark import trade_replay
from tests.support.replay_records import DAY1, DAY2, PARTITIONS, SYMBOLS, partition_of

GAP_SYMBOL, GAP_AFTER, GAP_BEFORE = "BBBUSDT", 204, 207  # 205, 206 missing


@dataclass(frozen=True)
class SentTrade:
    key: bytes
    value: bytes
    ts_ms: int
    trade: wire.TradeRecord | None  # None: quarantined, with `reason`
    reason: str | None = None

    @property
    def day(self) -> date:
        return DAY1 if self.ts_ms < day_start_ms(DAY2) else DAY2


def make_trade(symbol: str, trade_id: int, ts_ms: int, k: int, agg: bool = False) -> wire.TradeRecord:
    trade = wire.TradeRecord(
        exchange="binance", symbol=symbol, trade_id=trade_id, price=f"{100 + k}.{k:02d}5", qty=f"0.{k + 1:03d}",
        aggressor=wire.AggressorSide.AGGRESSOR_SIDE_SELL if k % 3 == 0 else wire.AggressorSide.AGGRESSOR_SIDE_BUY,
        trade_time_us=ts_ms * 1000 - 900, event_time_us=ts_ms * 1000 - 800, ingest_time_us=ts_ms * 1000 - 100,
        shard_id=1, origin=wire.Origin.Value("ORIGIN_SIMULATOR"), simulator_seed=42,
        stream=wire.TradeStream.TRADE_STREAM_AGG_TRADE if agg else wire.TradeStream.TRADE_STREAM_TRADE)
    if agg:
        trade.first_trade_id, trade.last_trade_id = 10_000 + 3 * k, 10_000 + 3 * k + 2
    else:
        trade.first_trade_id = trade.last_trade_id = trade_id
    return trade


def known_trades() -> list[SentTrade]:
    sent = []
    for day in (DAY1, DAY2):
        base = 0 if day == DAY1 else 100
        for k in range(12):
            ts = day_start_ms(day) + 3_600_000 + k * 60_000
            for i, symbol in enumerate(SYMBOLS):
                trade_id = (i + 1) * 100 + base + k
                if symbol == GAP_SYMBOL and GAP_AFTER < trade_id < GAP_BEFORE:
                    continue  # the deliberate gap (DAY1 only: DAY2's ids are 300+)
                trade = make_trade(symbol, trade_id, ts + i * 1_000, k, agg=symbol == "CCCUSDT")
                sent.append(SentTrade(symbol.encode(), trade.SerializeToString(), ts + i * 1_000, trade))
    day1 = day_start_ms(DAY1)
    bad_price = make_trade("AAAUSDT", 999, day1 + 50_000_000, 1)
    bad_price.price = "100.123456789"  # 9 decimals: more than the price scale
    zero_qty = make_trade("AAAUSDT", 998, day1 + 51_000_000, 1)
    zero_qty.qty = "0.000"
    sent += [
        SentTrade(b"AAAUSDT", b"\x0a\xff\xff\x01", day1 + 40_000_000, None, trade_replay.UNDECODABLE),
        SentTrade(b"", wire.TradeRecord(exchange="binance", trade_id=1).SerializeToString(), day1 + 41_000_000, None,
                  trade_replay.MISSING_SYMBOL),
        SentTrade(b"AAAUSDT", bad_price.SerializeToString(), day1 + 50_000_000, None, trade_replay.UNFIT_PRICE),
        SentTrade(b"AAAUSDT", zero_qty.SerializeToString(), day1 + 51_000_000, None, trade_replay.NON_POSITIVE_QTY),
    ]
    return sorted(sent, key=lambda t: t.ts_ms)


TRADES = known_trades()


def produce_trades(kafka: KafkaSettings, topic: str, trades: list[SentTrade] = TRADES) -> None:
    produce_all(kafka, topic, [(t.key, t.value, t.ts_ms) for t in trades], partition_of=partition_of)


__all__ = ["DAY1", "DAY2", "PARTITIONS", "TRADES", "SentTrade", "produce_trades", "GAP_SYMBOL"]
