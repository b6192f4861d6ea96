"""The four streams the hub fans out, and what differs between them (everything else is shared).

One `Hub` serves each: `Subscribe` (signal updates) and `SubscribeTradeFlow` (trade-flow
windows), both from Redis (`serving.redis_feed`), `SubscribeBooks` and `SubscribeTrades`
(records from Kafka, `serving.kafka_feed`). A kind says how a payload becomes a `Change`
(decoded once, framed once) and how changes become one message:

| kind | payload | snapshot first | full client queue |
|---|---|---|---|
| signals | `SignalUpdate` (Redis) | yes | conflate to the newest per symbol |
| flows | `TradeFlow` (Redis) | yes | conflate to the newest per symbol |
| books | `BookRecord` (Kafka) | yes | conflate to the newest per symbol |
| trades | `TradeRecord` (Kafka) | no | drop the client (RESOURCE_EXHAUSTED, "fell behind by N") |

Signals and flows are one class, `PublishedKind`: compute publishes each as whole serialized
bytes, which are forwarded as they are inside a (kind, repeated, server_send_us) message.

Books are cut to each subscriber's depth: `BookFrames.at(depth)` builds a depth's `BookLevels`
once per book and caches it, so subscribers asking the same depth share the bytes.
"""

from __future__ import annotations

from google.protobuf.message import DecodeError

from quantcore.wire import BookRecord, MarketUpdate, SignalUpdate, TradeFlow, TradeRecord, market_data_pb2
from serving import wire
from serving.client_queue import Change

MAX_BOOK_DEPTH = 20  # a book record carries at most 20 levels per side (market.depth)


class StreamKind:
    name = ""
    record = ""  # what a payload is, for logs
    snapshots = True  # a subscription starts with the current state of its symbols
    conflates = True  # a full client queue keeps the newest change per symbol

    def decode(self, payload: bytes, append_us: int = 0) -> Change | None:
        raise NotImplementedError

    def message(self, snapshot: bool, changes: list[Change], depth: int | None, send_us: int) -> bytes:
        raise NotImplementedError


class PublishedKind(StreamKind):
    """A state compute keeps per symbol in Redis and publishes whole (a `SignalUpdate`, a
    `TradeFlow`): `id_field` orders a symbol's values (newer wins), `times.publish_us` is
    when it was published, and the bytes travel on untouched (`wire.frame_update`)."""

    def __init__(self, name: str, message_type, id_field: str) -> None:
        self.name, self.record = name, message_type.DESCRIPTOR.name
        self.message_type = message_type
        self.id_field = id_field

    def decode(self, payload: bytes, append_us: int = 0) -> Change | None:
        try:
            update = self.message_type.FromString(payload)
        except DecodeError:
            return None
        if not update.symbol:
            return None
        return Change(update.symbol, getattr(update, self.id_field), wire.frame_update(payload),
                      update.times.publish_us)

    def message(self, snapshot: bool, changes: list[Change], depth: int | None, send_us: int) -> bytes:
        return wire.market_update(wire.SNAPSHOT if snapshot else wire.UPDATE, [c.frame for c in changes], send_us)


class BookFrames:
    """One book record, framed as `BookLevels` per depth on first use."""

    __slots__ = ("record", "kafka_append_us", "_by_depth")

    def __init__(self, record: BookRecord, kafka_append_us: int) -> None:
        self.record = record
        self.kafka_append_us = kafka_append_us
        self._by_depth: dict[int, bytes] = {}

    def levels(self, depth: int | None) -> market_data_pb2.BookLevels:
        r = self.record
        cut = MAX_BOOK_DEPTH if depth is None else depth
        return market_data_pb2.BookLevels(
            symbol=r.symbol, update_id=r.update_id, bids=r.bids[:cut], asks=r.asks[:cut], exchange=r.exchange,
            mode=r.mode, origin=r.origin, simulator_seed=r.simulator_seed, event_time_us=r.event_time_us,
            ingest_time_us=r.ingest_time_us, kafka_append_us=self.kafka_append_us)

    def at(self, depth: int | None) -> bytes:
        key = MAX_BOOK_DEPTH if depth is None else depth
        frame = self._by_depth.get(key)
        if frame is None:
            frame = self._by_depth[key] = wire.frame_update(self.levels(key).SerializeToString())
        return frame


class BookKind(StreamKind):
    name, record = "books", "BookRecord"

    def decode(self, payload: bytes, append_us: int = 0) -> Change | None:
        try:
            record = BookRecord.FromString(payload)
        except DecodeError:
            return None
        if not record.symbol:
            return None
        return Change(record.symbol, record.update_id, BookFrames(record, append_us), append_us)

    def message(self, snapshot: bool, changes: list[Change], depth: int | None, send_us: int) -> bytes:
        kind = MarketUpdate.SNAPSHOT if snapshot else MarketUpdate.UPDATE
        return wire.market_update(kind, [c.frame.at(depth) for c in changes], send_us)


class TradeKind(StreamKind):
    name, record = "trades", "TradeRecord"
    snapshots = False
    conflates = False

    def decode(self, payload: bytes, append_us: int = 0) -> Change | None:
        try:
            trade = TradeRecord.FromString(payload)
        except DecodeError:
            return None
        if not trade.symbol:
            return None
        return Change(trade.symbol, trade.trade_id, wire.frame_trade(payload, append_us), append_us)

    def message(self, snapshot: bool, changes: list[Change], depth: int | None, send_us: int) -> bytes:
        return wire.trade_update([c.frame for c in changes], send_us)


SIGNALS = PublishedKind("signals", SignalUpdate, "update_id")
FLOWS = PublishedKind("flows", TradeFlow, "trade_id")
BOOKS, TRADES = BookKind(), TradeKind()
