"""The normalized Kafka records of the ingest stage (wire.BookRecord, wire.TradeRecord,
wire.DeadLetter), with their provenance (the live exchange, or the simulator and its seed)."""

from __future__ import annotations

from dataclasses import dataclass

from quantcore import wire
from quantcore.settings import Source
from quantcore.timeutil import now_us
from streaming.ingest.frames import Level
from streaming.ingest.trade_frames import AGG_TRADE, TRADE, Trade

EXCHANGE = "binance"
PARTIAL = wire.BookMode.Value("BOOK_MODE_PARTIAL_SNAPSHOT")
LOCAL_BOOK = wire.BookMode.Value("BOOK_MODE_LOCAL_BOOK")

_BookRecord = wire.BookRecord
_TradeRecord = wire.TradeRecord
BUY, SELL = wire.AggressorSide.Value("AGGRESSOR_SIDE_BUY"), wire.AggressorSide.Value("AGGRESSOR_SIDE_SELL")
TRADE_STREAMS = {TRADE: wire.TradeStream.Value("TRADE_STREAM_TRADE"),
                 AGG_TRADE: wire.TradeStream.Value("TRADE_STREAM_AGG_TRADE")}


@dataclass(frozen=True)
class Provenance:
    """Where the books come from: the live exchange, or the simulator with its seed."""

    origin: int
    simulator_seed: int = 0

    @classmethod
    def of(cls, source: Source, simulator_seed: int) -> Provenance:
        if Source(source) is Source.simulator:
            return cls(wire.Origin.Value("ORIGIN_SIMULATOR"), simulator_seed)
        return cls(wire.Origin.Value("ORIGIN_EXCHANGE"))


def book_record(*, symbol: str, update_id: int, first_update_id: int, event_time_us: int, ingest_time_us: int,
                bids: list[Level], asks: list[Level], mode: int, shard_id: int, provenance: Provenance) -> bytes:
    """A serialized BookRecord; bids and asks are best-first (price, qty) strings."""
    record = _BookRecord(exchange=EXCHANGE, symbol=symbol, update_id=update_id, first_update_id=first_update_id,
                         event_time_us=event_time_us, ingest_time_us=ingest_time_us, mode=mode, shard_id=shard_id,
                         origin=provenance.origin, simulator_seed=provenance.simulator_seed)
    add = record.bids.add
    for price, qty in bids:
        add(price=price, qty=qty)
    add = record.asks.add
    for price, qty in asks:
        add(price=price, qty=qty)
    return record.SerializeToString()


def trade_record(trade: Trade, *, shard_id: int, provenance: Provenance) -> bytes:
    """A serialized TradeRecord: Binance's `m` (the buyer was the maker) means the seller was
    the aggressor; price and quantity are the strings the exchange sent."""
    return _TradeRecord(
        exchange=EXCHANGE, symbol=trade.symbol, trade_id=trade.trade_id, price=trade.price, qty=trade.qty,
        aggressor=SELL if trade.buyer_is_maker else BUY, trade_time_us=trade.trade_time_ms * 1000,
        event_time_us=trade.event_time_ms * 1000, ingest_time_us=trade.received_us, shard_id=shard_id,
        origin=provenance.origin, simulator_seed=provenance.simulator_seed, first_trade_id=trade.first_trade_id,
        last_trade_id=trade.last_trade_id, stream=TRADE_STREAMS[trade.kind]).SerializeToString()


def dead_letter(reason: str, payload: str | bytes, symbol: str = "") -> bytes:
    """A serialized DeadLetter of the ingest stage, keeping the raw payload untouched."""
    raw = payload.encode("utf-8", "surrogateescape") if isinstance(payload, str) else bytes(payload)
    return wire.DeadLetter(stage="ingest", reason=reason, payload=raw, symbol=symbol,
                            time_us=now_us()).SerializeToString()
