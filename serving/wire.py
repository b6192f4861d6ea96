"""`MarketUpdate` bytes built by hand around the `SignalUpdate` bytes compute already wrote.

Compute serializes each `SignalUpdate` once and publishes those bytes on Redis. Protobuf's
wire format is a concatenation of (tag, value) pairs, so a `MarketUpdate` is just:

    0x08 <varint kind>                       field 1, varint
    0x12 <varint len> <SignalUpdate bytes>   field 2, length-delimited (repeated)
    0x18 <varint server_send_us>             field 3, varint

The hub frames each update once (`frame_update`); each send only joins frames and stamps
the time, so fan-out never decodes or re-encodes per client. Tag numbers are checked
against the generated descriptor at import, so a renumbered field fails loudly here.

`BookUpdate` and `TradeFlowUpdate` have the same three fields (kind, books or flows,
server_send_us), so `market_update` builds them too, around framed `BookLevels` or the
`TradeFlow` bytes the trade-flow writer published. A `TradeUpdate` is `0x0a len TradePrint`... then
`0x10 server_send_us`, each `TradePrint` being `0x0a len <TradeRecord bytes from Kafka>`
`0x10 kafka_append_us`: the Kafka record travels untouched.
"""

from __future__ import annotations

from collections.abc import Iterable

from quantcore.wire import MarketUpdate, market_data_pb2, varint


def _numbers(message, *fields: str) -> tuple[int, ...]:
    return tuple(message.DESCRIPTOR.fields_by_name[name].number for name in fields)


assert _numbers(MarketUpdate, "kind", "updates", "server_send_us") == (1, 2, 3), \
    "market_data.proto renumbered MarketUpdate: update serving/wire.py"
assert _numbers(market_data_pb2.BookUpdate, "kind", "books", "server_send_us") == (1, 2, 3), \
    "market_data.proto renumbered BookUpdate: update serving/wire.py"
assert _numbers(market_data_pb2.TradeFlowUpdate, "kind", "flows", "server_send_us") == (1, 2, 3), \
    "market_data.proto renumbered TradeFlowUpdate: update serving/wire.py"
assert _numbers(market_data_pb2.TradeUpdate, "trades", "server_send_us") == (1, 2), \
    "market_data.proto renumbered TradeUpdate: update serving/wire.py"
assert _numbers(market_data_pb2.TradePrint, "trade", "kafka_append_us") == (1, 2), \
    "market_data.proto renumbered TradePrint: update serving/wire.py"

_WIRE_VARINT, _WIRE_LEN = 0, 2
_TAG_KIND = bytes([(1 << 3) | _WIRE_VARINT])  # 0x08
_TAG_UPDATE = bytes([(2 << 3) | _WIRE_LEN])  # 0x12
_TAG_SEND_US = bytes([(3 << 3) | _WIRE_VARINT])  # 0x18
_TAG_FIRST = bytes([(1 << 3) | _WIRE_LEN])  # 0x0a: TradeUpdate.trades, TradePrint.trade
_TAG_SECOND_VARINT = bytes([(2 << 3) | _WIRE_VARINT])  # 0x10: TradeUpdate.server_send_us, TradePrint.kafka_append_us

SNAPSHOT = MarketUpdate.SNAPSHOT
UPDATE = MarketUpdate.UPDATE
_KIND_PREFIX = {kind: _TAG_KIND + bytes([kind]) for kind in (SNAPSHOT, UPDATE)}


def frame_update(signal_update: bytes) -> bytes:
    """One serialized `SignalUpdate` as a `MarketUpdate.updates` entry (field 2)."""
    return _TAG_UPDATE + varint(len(signal_update)) + signal_update


def market_update(kind: int, frames: Iterable[bytes], server_send_us: int) -> bytes:
    """A serialized `MarketUpdate` from framed updates (see `frame_update`)."""
    return b"".join((_KIND_PREFIX[kind], *frames, _TAG_SEND_US, varint(server_send_us)))


def frame_trade(trade_record: bytes, kafka_append_us: int) -> bytes:
    """One Kafka `TradeRecord` as a `TradeUpdate.trades` entry (a `TradePrint`, framed)."""
    trade_print = b"".join((_TAG_FIRST, varint(len(trade_record)), trade_record,
                            _TAG_SECOND_VARINT, varint(kafka_append_us)))
    return _TAG_FIRST + varint(len(trade_print)) + trade_print


def trade_update(frames: Iterable[bytes], server_send_us: int) -> bytes:
    """A serialized `TradeUpdate` from framed trades (see `frame_trade`)."""
    return b"".join((*frames, _TAG_SECOND_VARINT, varint(server_send_us)))
