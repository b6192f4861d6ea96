"""Trade-flow windows evaluated at each trade: the per-record logic shared by the live writer
(trade_flow_writer.py, in the compute process) and the replay's `trades` table
(trade_replay.py), so both give the same values by construction.

For each trade of a symbol at t = its `trade_time_us`, over the symbol's trades with
t − w < time ≤ t (the trade itself included) for w in 1 s, 10 s, 60 s:
`trade_count_<w>`, `vwap_<w>` and `tfi_<w>` of quantcore.microstructure.trade_windows
(exact integer sums; see there for the definitions).

Order: a symbol's records are taken in their Kafka order (one partition: the key is the
symbol). A record whose trade id is not above the symbol's last one is a duplicate (an
ingest takeover may send a trade twice) or late: it is skipped, counted in no window and
gets no values. A record that cannot be counted (undecodable, no symbol, a price or qty
that is not a positive finite number, no aggressor side, a trade time before the symbol's
previous trade) is a bad trade: the live writer dead-letters it with the reason, the
replay leaves its window columns null. The replay quarantines some records the live
writer counts (e.g. a price with more decimals than the table's DECIMAL): those
differ.

Redis (the live writer, `TradeFlowStore`): `qc:trade_flow:{SYMBOL}` holds the newest
`TradeFlow` (`msg`, serialized) and its fields readable (`trade_count_1s`, `vwap_1s`, ...);
each accepted one is published on `qc:trade_flow`. The write is signal_store's Lua
write-if-newer, so the hash's `update_id` field holds the trade id, compared exactly: a
restart or a replayed record never moves a symbol back nor publishes twice.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Protocol

import redis

from quantcore import wire
from quantcore.microstructure.trade_windows import DEFAULT_WINDOWS_US, TradeWindows, window_label
from quantcore.signal_store import (  # the Redis contract, shared with the gRPC server
    FLOW_CHANNEL, FLOW_SYMBOLS_KEY, WRITE_IF_NEWER, flow_key,
)
from quantcore.timeutil import now_us

PROGRESS_KEY_PREFIX = "qc:trade_flow:progress:"  # + trade topic: {partition: Kafka ms of the last record seen}
WINDOWS_US = DEFAULT_WINDOWS_US
STAGE = "trade_flow"  # the dead letters' stage

UNDECODABLE = f"undecodable: not a {wire.TRADE_MESSAGE} protobuf"
MISSING_SYMBOL = "missing symbol"
BAD_PRICE = "price is not a positive finite number"
BAD_QTY = "qty is not a positive finite number"
NO_AGGRESSOR = "aggressor side unspecified"
TIME_BACKWARDS = "trade time before the symbol's previous trade"

_BUY, _SELL = wire.AggressorSide.AGGRESSOR_SIDE_BUY, wire.AggressorSide.AGGRESSOR_SIDE_SELL


def flow_columns(windows_us: Sequence[int] = WINDOWS_US) -> list[tuple[str, str]]:
    """(name, kind) of the window values, kind "count" (int) or "ratio" (float or None);
    the names are the hash fields and the `trades` table's columns."""
    columns = []
    for window in windows_us:
        label = window_label(window)
        columns += [(f"trade_count_{label}", "count"), (f"vwap_{label}", "ratio"), (f"tfi_{label}", "ratio")]
    return columns


class BadTrade(ValueError):
    """A record no window can count; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _positive(text: str, reason: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise BadTrade(reason) from None
    if not (math.isfinite(value) and value > 0):
        raise BadTrade(reason)
    return value


class _Symbol:
    __slots__ = ("windows", "last_id", "last_time")

    def __init__(self, windows_us: Sequence[int]) -> None:
        self.windows = TradeWindows(windows_us)
        self.last_id: int | None = None
        self.last_time: int | None = None


class TradeFlowState:
    """Every symbol's windows. `add` takes one trade in the symbol's record order."""

    def __init__(self, windows_us: Sequence[int] = WINDOWS_US) -> None:
        self.windows_us = tuple(windows_us)
        self.columns = [name for name, _ in flow_columns(self.windows_us)]
        self._symbols: dict[str, _Symbol] = {}

    def add(self, symbol: str, trade_id: int, time_us: int, price: str, qty: str,
            aggressor: int) -> tuple | None:
        """The window values at this trade, in `columns` order; None for a duplicate or late
        record (trade id not above the symbol's last). Raises BadTrade."""
        if not symbol:
            raise BadTrade(MISSING_SYMBOL)
        state = self._symbols.get(symbol)
        if state is None:
            state = self._symbols[symbol] = _Symbol(self.windows_us)
        if state.last_id is not None and trade_id <= state.last_id:
            return None
        price_value, qty_value = _positive(price, BAD_PRICE), _positive(qty, BAD_QTY)
        if aggressor != _BUY and aggressor != _SELL:
            raise BadTrade(NO_AGGRESSOR)
        if state.last_time is not None and time_us < state.last_time:
            raise BadTrade(TIME_BACKWARDS)
        windows = state.windows
        windows.add_trade(time_us, price_value, qty_value, aggressor == _SELL)
        state.last_id, state.last_time = trade_id, time_us
        values = windows.values(time_us)
        return tuple(values[name] for name in self.columns)


def flow_message(record: wire.TradeRecord, values: Sequence, windows_us: Sequence[int] = WINDOWS_US,
                 kafka_timestamp_us: int = 0) -> wire.TradeFlow:
    flow = wire.TradeFlow(exchange=record.exchange, symbol=record.symbol, trade_id=record.trade_id,
                          trade_time_us=record.trade_time_us)
    for i, window in enumerate(windows_us):
        count, vwap, tfi = values[3 * i: 3 * i + 3]
        entry = flow.windows.add(window_ms=window // 1000, trade_count=count)
        if vwap is not None:
            entry.vwap = vwap
        if tfi is not None:
            entry.tfi = tfi
    flow.times.ingest_time_us = record.ingest_time_us
    flow.times.kafka_timestamp_us = kafka_timestamp_us
    flow.times.compute_time_us = now_us()
    return flow


def readable_fields(flow: wire.TradeFlow) -> tuple[list[str], list[str]]:
    """(field/value pairs, absent fields) for the hash, so `HGETALL qc:trade_flow:BTCUSDT`
    reads without protobuf: exchange, trade_id, trade_time_us, the window values, the times."""
    pairs = ["exchange", flow.exchange, "trade_id", str(flow.trade_id), "trade_time_us", str(flow.trade_time_us)]
    absent = []
    for window in flow.windows:
        label = window_label(window.window_ms * 1000)
        pairs += [f"trade_count_{label}", str(window.trade_count)]
        for name in ("vwap", "tfi"):
            if window.HasField(name):
                pairs += [f"{name}_{label}", repr(getattr(window, name))]
            else:
                absent.append(f"{name}_{label}")
    for descriptor in wire.TradeFlowTimes.DESCRIPTOR.fields:
        pairs += [descriptor.name, str(getattr(flow.times, descriptor.name))]
    return pairs, absent


class TradeFlowStore:
    """The Redis side: signal_store's write-if-newer script on the trade-flow keys, and the
    writer's per-partition progress (where a restart resumes)."""

    def __init__(self, client: redis.Redis, topic: str, channel: str = FLOW_CHANNEL) -> None:
        self.client = client
        self.channel = channel
        self.progress_key = f"{PROGRESS_KEY_PREFIX}{topic}"
        self._write = client.register_script(WRITE_IF_NEWER)

    def trade_ids(self) -> dict[str, int]:
        """{symbol: the trade id of its stored TradeFlow}."""
        symbols = sorted(member.decode() for member in self.client.smembers(FLOW_SYMBOLS_KEY))
        pipe = self.client.pipeline(transaction=False)
        for symbol in symbols:
            pipe.hget(flow_key(symbol), "update_id")
        return {symbol: int(found) for symbol, found in zip(symbols, pipe.execute()) if found is not None}

    def progress(self) -> dict[int, int]:
        return {int(p): int(ms) for p, ms in self.client.hgetall(self.progress_key).items()}

    def write(self, flows: Sequence[wire.TradeFlow], progress: Mapping[int, int]) -> int:
        """One pipelined round trip: each flow write-if-newer, then the progress; returns
        how many flows were newer (stored and published)."""
        try:
            results = self._send(flows, progress)
        except redis.exceptions.NoScriptError:  # Redis restarted or flushed its scripts: no write ran
            self.client.script_load(WRITE_IF_NEWER)
            results = self._send(flows, progress)
        return sum(int(accepted) for accepted in results[:len(flows)])

    def _send(self, flows: Sequence[wire.TradeFlow], progress: Mapping[int, int]) -> list:
        pipe = self.client.pipeline(transaction=False)
        keys_tail = (FLOW_SYMBOLS_KEY, self.channel)
        for flow in flows:
            flow.times.publish_us = now_us()
            pairs, absent = readable_fields(flow)
            pipe.evalsha(self._write.sha, 3, flow_key(flow.symbol), *keys_tail, str(flow.trade_id),
                         flow.SerializeToString(), flow.symbol, len(absent), *absent, *pairs)
        if progress:
            pipe.hset(self.progress_key, mapping={str(p): str(ms) for p, ms in progress.items()})
        return pipe.execute()

    def latest(self, symbol: str) -> wire.TradeFlow | None:
        raw = self.client.hget(flow_key(symbol), "msg")
        return wire.TradeFlow.FromString(raw) if raw is not None else None


class KafkaRecord(Protocol):  # what the processor reads of a confluent_kafka.Message
    def key(self) -> bytes | None: ...
    def value(self) -> bytes | None: ...
    def topic(self) -> str: ...
    def partition(self) -> int: ...
    def offset(self) -> int: ...
    def timestamp(self) -> tuple[int, int]: ...


@dataclass
class FlowStats:
    records: int = 0  # trade records consumed
    warmup: int = 0  # counted into the windows, not published (already published or before the resume point)
    duplicates: int = 0  # trade id not above the symbol's last: skipped
    dead_letters: int = 0

    def as_dict(self) -> dict[str, int]:
        return {f"trade_flow_{name}": value for name, value in asdict(self).items()}


@dataclass
class Batch:
    """What one poll's records give: flows to write, dead letters, the progress to store."""

    flows: list[wire.TradeFlow] = field(default_factory=list)
    dead_letters: list[wire.DeadLetter] = field(default_factory=list)
    progress: dict[int, int] = field(default_factory=dict)


class TradeFlowProcessor:
    """The writer's per-record logic, without Kafka or Redis: records in, a `Batch` out.

    Warm start: `published` is each symbol's stored trade id and `resume_ms` each partition's
    resume point (Kafka ms). Records before the resume point, or whose trade id is not above
    the stored one, only feed the windows (`warmup`): they were published before, or are
    the history a fresh start needs."""

    def __init__(self, state: TradeFlowState | None = None, published: Mapping[str, int] | None = None,
                 resume_ms: Mapping[int, int] | None = None) -> None:
        self.state = state or TradeFlowState()
        self.published = dict(published or {})
        self.resume_ms = dict(resume_ms or {})
        self.stats = FlowStats()

    def process(self, records: Iterable[KafkaRecord]) -> Batch:
        batch = Batch()
        state, windows_us = self.state, self.state.windows_us
        for message in records:
            self.stats.records += 1
            partition, timestamp_ms = message.partition(), message.timestamp()[1]
            batch.progress[partition] = timestamp_ms
            live = timestamp_ms >= self.resume_ms.get(partition, 0)
            record = None
            try:
                try:
                    record = wire.TradeRecord.FromString(message.value() or b"")
                except Exception:  # noqa: BLE001 - protobuf's DecodeError and friends
                    raise BadTrade(UNDECODABLE) from None
                values = state.add(record.symbol, record.trade_id, record.trade_time_us, record.price,
                                   record.qty, record.aggressor)
            except BadTrade as bad:
                if live:
                    batch.dead_letters.append(self._dead_letter(message, record, bad.reason))
                    self.stats.dead_letters += 1
                continue
            if values is None:
                self.stats.duplicates += 1
            elif not live or record.trade_id <= self.published.get(record.symbol, -1 << 63):
                self.stats.warmup += 1
            else:
                batch.flows.append(flow_message(record, values, windows_us, timestamp_ms * 1000))
        return batch

    @staticmethod
    def _dead_letter(message: KafkaRecord, record: wire.TradeRecord | None, reason: str) -> wire.DeadLetter:
        key = message.key()
        symbol = (record.symbol if record is not None else "") or (key.decode(errors="replace") if key else "")
        return wire.DeadLetter(stage=STAGE, reason=reason, payload=bytes(message.value() or b""), symbol=symbol,
                               time_us=now_us(), source_topic=message.topic() or "",
                               source_partition=message.partition(), source_offset=message.offset())
