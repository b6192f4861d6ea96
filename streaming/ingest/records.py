"""The normalized Kafka records of the ingest stage (wire.BookRecord, wire.DeadLetter)."""

from __future__ import annotations

from quantcore import wire
from quantcore.timeutil import now_us
from streaming.ingest.frames import Level

EXCHANGE = "binance"
PARTIAL = wire.BookMode.Value("BOOK_MODE_PARTIAL_SNAPSHOT")
LOCAL_BOOK = wire.BookMode.Value("BOOK_MODE_LOCAL_BOOK")

_BookRecord = wire.BookRecord


def book_record(*, symbol: str, update_id: int, first_update_id: int, event_time_us: int, ingest_time_us: int,
                bids: list[Level], asks: list[Level], mode: int, shard_id: int) -> bytes:
    """A serialized BookRecord; bids and asks are best-first (price, qty) strings."""
    record = _BookRecord(exchange=EXCHANGE, symbol=symbol, update_id=update_id, first_update_id=first_update_id,
                         event_time_us=event_time_us, ingest_time_us=ingest_time_us, mode=mode, shard_id=shard_id)
    add = record.bids.add
    for price, qty in bids:
        add(price=price, qty=qty)
    add = record.asks.add
    for price, qty in asks:
        add(price=price, qty=qty)
    return record.SerializeToString()


def dead_letter(reason: str, payload: str | bytes, symbol: str = "") -> bytes:
    """A serialized DeadLetter of the ingest stage, keeping the raw payload untouched."""
    raw = payload.encode("utf-8", "surrogateescape") if isinstance(payload, str) else bytes(payload)
    return wire.DeadLetter(stage="ingest", reason=reason, payload=raw, symbol=symbol,
                            time_us=now_us()).SerializeToString()
