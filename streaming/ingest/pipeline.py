"""The core of a shard: frames in, book and trade records and dead letters out (no I/O of its own).

The WebSocket edge calls `on_frame` for every frame with the time it arrived; in diff
mode the pipeline asks the REST edge for snapshots (`request_snapshot`) and receives
them through `on_snapshot`. Records go to a `Sink` (Kafka in production, a list in unit
tests). Per-symbol update ids handed to the sink strictly increase: anything older than
the last record (a replayed frame after a reconnect, a lagging snapshot) is dropped.

With `trades` on (TRADE or AGG_TRADE) the shard also reads each symbol's trade stream on the
same connections, and trade records go to the sink's `publish_trade`: per symbol, trade
ids strictly increase too (streaming.ingest.trade_continuity: a repeat is dropped, a jump is
counted and logged, and the trade still published).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, Protocol

from quantcore.log import get_logger
from streaming.ingest.counters import IngestCounters
from streaming.ingest.frames import FrameError, parse_depth, parse_diff, split_frame, symbol_of_stream
from streaming.ingest.local_book import Applied, Buffered, LocalBook, Outcome, Resync, Stale
from streaming.ingest.records import LOCAL_BOOK, PARTIAL, Provenance, book_record, dead_letter, trade_record
from streaming.ingest.trade_continuity import Checked, Step, TradeContinuity
from streaming.ingest.trade_frames import AGG_TRADE, TRADE, parse_trade

DIFF, PARTIAL_MODE = "diff", "partial"
TRADES_OFF = "off"


class Sink(Protocol):
    """Where the records go. The ids and the receive time are for the A/B arbitration
    (streaming.ingest.arbitration); a sink that only stores records ignores them."""

    def publish(self, symbol: str, value: bytes, update_id: int, first_update_id: int,
                received_us: int) -> None: ...
    def dead_letter(self, symbol: str, value: bytes) -> None: ...


class TradeSink(Protocol):
    """What a `Sink` also does when the pipeline reads trades (the id and time: for the arbiter)."""

    def publish_trade(self, symbol: str, value: bytes, trade_id: int, received_us: int) -> None: ...


def stream_name(symbol: str, mode: str, depth: int) -> str:
    """The Binance stream a shard subscribes to for `symbol` (always the 100 ms variant)."""
    return f"{symbol.lower()}@depth@100ms" if mode == DIFF else f"{symbol.lower()}@depth{depth}@100ms"


def trade_stream_name(symbol: str, kind: str) -> str:
    """`<symbol>@trade` or `<symbol>@aggTrade` (Binance spells the latter in camel case)."""
    return f"{symbol.lower()}@{kind}"


class ShardPipeline:
    def __init__(self, *, shard_id: int, symbols: list[str], mode: str, depth: int, sink: Sink,
                 provenance: Provenance, request_snapshot: Callable[[str], None] = lambda symbol: None,
                 counters: IngestCounters | None = None, trades: str = TRADES_OFF) -> None:
        if mode not in (DIFF, PARTIAL_MODE):
            raise ValueError(f"mode must be {DIFF!r} or {PARTIAL_MODE!r}, got {mode!r}")
        if trades not in (TRADE, AGG_TRADE, TRADES_OFF):
            raise ValueError(f"trades must be {TRADE!r}, {AGG_TRADE!r} or {TRADES_OFF!r}, got {trades!r}")
        self.shard_id, self.mode, self.depth, self.provenance = shard_id, mode, depth, provenance
        self.symbols = [s.upper() for s in symbols]
        self.counters = counters or IngestCounters()
        self.trades = trades
        self.trade_ids = TradeContinuity()
        self._sink = sink
        self._request_snapshot = request_snapshot
        handler = self._on_diff if mode == DIFF else self._on_partial
        self._routes: dict[str, tuple[Callable[[str, Any, int], None], str]] = {}
        for s in self.symbols:  # a symbol's book and trade streams side by side: on one connection
            self._routes[stream_name(s, mode, depth)] = (handler, s)
            if trades != TRADES_OFF:
                self._routes[trade_stream_name(s, trades)] = (self._on_trade, s)
        self.books = {s: LocalBook(depth) for s in self.symbols} if mode == DIFF else {}
        self._last_emitted = dict.fromkeys(self.symbols, -1)
        self._awaiting_snapshot: set[str] = set()
        self._log = get_logger("ingest", shard=shard_id)

    @property
    def streams(self) -> list[str]:
        return list(self._routes)

    def synced(self, symbols) -> bool:
        """Whether every one of `symbols` has a book to publish from (diff mode: loaded from a
        snapshot and in sequence; partial mode: always, each frame is a whole book)."""
        return all(self.books[s].synced for s in symbols) if self.mode == DIFF else True

    # --- frames --------------------------------------------------------------------------
    def on_frame(self, raw: str | bytes, received_us: int) -> None:
        self.counters.frames += 1
        try:
            stream, data = split_frame(raw)
            if stream is None:
                self._on_control_reply(data)
                return
            route = self._routes.get(stream)
            if route is None:
                raise FrameError(f"unexpected stream {stream!r}", symbol_of_stream(stream))
            handler, symbol = route
            handler(symbol, data, received_us)
        except FrameError as exc:
            self._dead_letter(exc.reason, raw, exc.symbol)

    def _on_diff(self, symbol: str, data: Any, received_us: int) -> None:
        book = self.books[symbol]
        self._handle(symbol, book.on_event(parse_diff(data, symbol, received_us)))

    def _on_partial(self, symbol: str, data: Any, received_us: int) -> None:
        snapshot = parse_depth(data, symbol)
        if snapshot.last_update_id <= self._last_emitted[symbol]:
            self.counters.stale += 1
            return
        depth = self.depth
        self._publish(symbol, snapshot.last_update_id, 0, received_us, book_record(
            symbol=symbol, update_id=snapshot.last_update_id, first_update_id=0, event_time_us=0,
            ingest_time_us=received_us, bids=snapshot.bids[:depth], asks=snapshot.asks[:depth],
            mode=PARTIAL, shard_id=self.shard_id, provenance=self.provenance))

    def _on_trade(self, symbol: str, data: Any, received_us: int) -> None:
        trade = parse_trade(data, symbol, received_us, self.trades)
        checked = self.trade_ids.check(symbol, trade.trade_id)
        if not checked.publish:
            self.counters.trade_repeats += 1
            return
        if checked.step is Step.GAP:
            self._count_trade_gap(symbol, trade.trade_id, checked)
        self._sink.publish_trade(symbol, trade_record(trade, shard_id=self.shard_id, provenance=self.provenance),
                                 trade.trade_id, received_us)
        self.counters.trades += 1

    def _count_trade_gap(self, symbol: str, trade_id: int, checked: Checked) -> None:
        counters = self.counters
        counters.trade_gaps += 1
        counters.trades_missing += checked.missing
        gaps = self.trade_ids.gaps[symbol]
        counters.trade_gaps_by_symbol[symbol] = {"gaps": gaps.gaps, "missing": gaps.missing}
        self._log.warning("trade ids jumped: trades missing", symbol=symbol, previous=checked.previous,
                          trade_id=trade_id, missing=checked.missing, stream=self.trades)

    def _on_control_reply(self, message: dict) -> None:
        if "error" in message:
            self._log.warning("exchange refused a request", reply=message)

    # --- the local books (diff mode) --------------------------------------------------------
    def on_snapshot(self, symbol: str, raw: str | bytes) -> bool:
        """Load a REST snapshot; False means it was unusable and another one is needed."""
        book = self.books[symbol]
        try:
            snapshot = parse_depth(json.loads(raw), symbol)
        except (ValueError, FrameError) as exc:
            self._dead_letter(f"invalid snapshot: {getattr(exc, 'reason', exc)}", raw, symbol)
            self.counters.snapshot_retries += 1
            return False
        result = book.on_snapshot(snapshot)
        if not isinstance(result, list):
            self._log.info("snapshot not usable, fetching another", symbol=symbol, problem=type(result).__name__)
            self.counters.snapshot_retries += 1
            return False
        self.counters.snapshots += 1
        self._awaiting_snapshot.discard(symbol)
        for outcome in result:
            self._handle(symbol, outcome)
        return True

    def _handle(self, symbol: str, outcome: Outcome) -> None:
        kind = type(outcome)
        if kind is Applied:
            event = outcome.event
            if event.last_id <= self._last_emitted[symbol]:  # a snapshot older than our last record
                self.counters.stale += 1
                return
            self._publish(symbol, event.last_id, event.first_id, event.received_us, book_record(
                symbol=symbol, update_id=event.last_id, first_update_id=event.first_id,
                event_time_us=event.event_time_ms * 1000, ingest_time_us=event.received_us,
                bids=outcome.bids, asks=outcome.asks, mode=LOCAL_BOOK, shard_id=self.shard_id,
                provenance=self.provenance))
        elif kind is Buffered:
            self._want_snapshot(symbol)
        elif kind is Stale:
            self.counters.stale += 1
        elif kind is Resync:
            self.counters.resyncs += 1
            self.counters.crossed += outcome.reason == "crossed"
            self._log.warning("local book resync", symbol=symbol, reason=outcome.reason,
                              first_id=outcome.event.first_id if outcome.event else None,
                              last_applied=self._last_emitted[symbol])
            self._want_snapshot(symbol)

    def _want_snapshot(self, symbol: str) -> None:
        if symbol not in self._awaiting_snapshot:
            self._awaiting_snapshot.add(symbol)
            self._request_snapshot(symbol)

    # --- output -------------------------------------------------------------------------------
    def _publish(self, symbol: str, update_id: int, first_update_id: int, received_us: int, value: bytes) -> None:
        self._last_emitted[symbol] = update_id
        self._sink.publish(symbol, value, update_id, first_update_id, received_us)
        counters = self.counters
        counters.books += 1
        counters.last_record_monotonic = time.monotonic()

    def _dead_letter(self, reason: str, raw: str | bytes, symbol: str) -> None:
        self._sink.dead_letter(symbol, dead_letter(reason, raw, symbol))
        count = self.counters.dead_letters = self.counters.dead_letters + 1
        if count <= 10 or count % 1000 == 0:
            self._log.warning("dead letter", symbol=symbol, reason=reason, total=count)
