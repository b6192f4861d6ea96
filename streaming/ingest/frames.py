"""Parsing and validating Binance depth frames (pure; the hot path of a shard).

A frame that cannot be trusted raises `FrameError` with a short reason; the shard sends
it to the dead-letter topic and moves on. Prices and quantities stay the strings the
exchange sent: they are only checked here (plain non-negative decimals, finite, prices
positive, sides ordered best-first, book not crossed), never rewritten.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

Level = tuple[str, str]  # (price, qty) exactly as received


class FrameError(ValueError):
    """A frame or payload the shard must not use; `reason` goes to the dead letter."""

    def __init__(self, reason: str, symbol: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.symbol = symbol


@dataclass(frozen=True, slots=True)
class DiffEvent:
    """A `depthUpdate`: absolute quantities (0 deletes) for ids U..u."""

    symbol: str
    first_id: int
    last_id: int
    event_time_ms: int
    bids: list[Level]
    asks: list[Level]
    received_us: int = 0  # when the frame arrived at the shard (the record's ingest time)


@dataclass(frozen=True, slots=True)
class DepthSnapshot:
    """A top-N frame or a REST snapshot: best-first levels as of `last_update_id`."""

    last_update_id: int
    bids: list[Level]
    asks: list[Level]


def split_frame(raw: str | bytes) -> tuple[str | None, Any]:
    """(stream, data) of a combined-stream frame, or (None, message) for a control reply."""
    try:
        message = json.loads(raw)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise FrameError(f"invalid JSON: {getattr(exc, 'msg', exc)}") from None
    if type(message) is not dict:
        raise FrameError("frame is not a JSON object")
    stream = message.get("stream")
    if stream is None:
        if "id" in message and ("result" in message or "error" in message):
            return None, message
        raise FrameError("missing field 'stream'")
    if type(stream) is not str:
        raise FrameError("field 'stream' is not a string")
    if "data" not in message:
        raise FrameError("missing field 'data'", symbol_of_stream(stream))
    return stream, message["data"]


def symbol_of_stream(stream: str) -> str:
    return stream.partition("@")[0].upper()


def parse_diff(data: Any, symbol: str, received_us: int = 0) -> DiffEvent:
    """A validated diff event of `symbol` (upper case)."""
    if type(data) is not dict:
        raise FrameError("diff payload is not a JSON object", symbol)
    try:
        kind, event_time, sym, first, last, bids, asks = (
            data["e"], data["E"], data["s"], data["U"], data["u"], data["b"], data["a"])
    except KeyError as exc:
        raise FrameError(f"missing field {exc.args[0]!r}", symbol) from None
    if kind != "depthUpdate":
        raise FrameError(f"unexpected event type {kind!r}", symbol)
    if sym != symbol:
        raise FrameError(f"event symbol {sym!r} does not match its stream ({symbol})", symbol)
    for name, value in (("E", event_time), ("U", first), ("u", last)):
        if type(value) is not int or value < 0:
            raise FrameError(f"field {name!r} is not a non-negative integer", symbol)
    if first > last:
        raise FrameError(f"U ({first}) is greater than u ({last})", symbol)
    return DiffEvent(symbol, first, last, event_time,
                     _levels(bids, "b", symbol, allow_zero=True, descending=True, ordered=False),
                     _levels(asks, "a", symbol, allow_zero=True, descending=False, ordered=False), received_us)


def parse_depth(data: Any, symbol: str) -> DepthSnapshot:
    """A validated top-N frame or REST snapshot: ordered best-first and not crossed."""
    if type(data) is not dict:
        raise FrameError("depth payload is not a JSON object", symbol)
    try:
        last_id, bids, asks = data["lastUpdateId"], data["bids"], data["asks"]
    except KeyError as exc:
        raise FrameError(f"missing field {exc.args[0]!r}", symbol) from None
    if type(last_id) is not int or last_id < 0:
        raise FrameError("field 'lastUpdateId' is not a non-negative integer", symbol)
    bid_levels = _levels(bids, "bids", symbol, allow_zero=False, descending=True, ordered=True)
    ask_levels = _levels(asks, "asks", symbol, allow_zero=False, descending=False, ordered=True)
    if bid_levels and ask_levels and float(bid_levels[0][0]) >= float(ask_levels[0][0]):
        raise FrameError(f"crossed book: best bid {bid_levels[0][0]} >= best ask {ask_levels[0][0]}", symbol)
    return DepthSnapshot(last_id, bid_levels, ask_levels)


def _levels(levels: Any, side: str, symbol: str, *, allow_zero: bool, descending: bool,
            ordered: bool) -> list[Level]:
    """Checked (price, qty) pairs; written as one loop because it runs for every level."""
    if type(levels) is not list:
        raise FrameError(f"field {side!r} is not a list", symbol)
    out: list[Level] = []
    previous = None
    for level in levels:
        if type(level) is not list or len(level) != 2:
            raise FrameError(f"{side} level {level!r} is not [price, qty]", symbol)
        price, qty = level
        if type(price) is not str or type(qty) is not str:
            raise FrameError(f"{side} level {level!r} does not hold decimal strings", symbol)
        p, q = price.replace(".", "", 1), qty.replace(".", "", 1)
        if not (p.isdecimal() and q.isdecimal() and p.isascii() and q.isascii()):
            raise FrameError(f"{side} level {level!r}: {_decimal_problem(price, qty)}", symbol)
        value = float(price)
        if value <= 0.0:
            raise FrameError(f"{side} level {level!r}: price is not positive", symbol)
        if not allow_zero and float(qty) == 0.0:
            raise FrameError(f"{side} level {level!r}: zero quantity in a book", symbol)
        if ordered and previous is not None and (value >= previous if descending else value <= previous):
            raise FrameError(f"{side} are not sorted best-first at {price}", symbol)
        previous = value
        out.append((price, qty))
    return out


def _decimal_problem(price: str, qty: str) -> str:
    """The specific reason a level failed the fast check (only on the error path)."""
    for name, text in (("price", price), ("qty", qty)):
        try:
            value = float(text)
        except ValueError:
            return f"{name} {text!r} is not a decimal number"
        if value != value:
            return f"{name} is NaN"
        if value in (float("inf"), float("-inf")):
            return f"{name} is infinite"
        if value < 0:
            return f"negative {name} {text}"
        t = text.replace(".", "", 1)
        if not (t.isdecimal() and t.isascii()):
            return f"{name} {text!r} is not a plain decimal"
    return "invalid level"
