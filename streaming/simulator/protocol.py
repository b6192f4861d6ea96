"""Binance's market-data protocol as the simulator speaks it (pure: parsing and payloads).

Streams: `<sym>@depth<5|10|20>[@100ms|@1000ms]` (top-N snapshots) and
`<sym>@depth[@100ms|@1000ms]` (diffs). Binance documents the names without a suffix as the
1000 ms streams and `@100ms` as the fast ones (web-socket-streams.md: "Update Speed: 1000ms
or 100ms"); standard clients spell the slow one `@depth@1000ms` (binance-connector's
`diff_book_depth(symbol, speed)` builds `<sym>@depth@<speed>ms`), so that name is accepted
too: the same 1000 ms stream, framed under the name the client subscribed with.

Endpoints: combined `/stream?streams=a/b/c` (frames `{"stream", "data"}`) and raw
`/ws/<stream>[/<stream>...]` (bare payloads). Control messages: SUBSCRIBE, UNSUBSCRIBE,
LIST_SUBSCRIPTIONS (and the `combined` property) as JSON over the socket.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from streaming.simulator.model import BookEvent, Level, Trade

MAX_STREAMS_PER_CONNECTION = 1024
MAX_INCOMING_PER_SECOND = 5
PARTIAL_DEPTHS = (5, 10, 20)

SLOW_SUFFIX = "@1000ms"  # the explicit spelling of the default 1000 ms update speed

_STREAM = re.compile(r"^([a-z0-9]+)@depth(5|10|20)?(@100ms|@1000ms)?$")
_TRADES = re.compile(r"^([a-z0-9]+)@(trade|aggTrade)$")  # Binance spells it aggTrade, camel case
TRADE, AGG_TRADE = "trade", "aggTrade"


class ProtocolError(ValueError):
    """A request the exchange would refuse; the message says why."""


@dataclass(frozen=True)
class StreamSpec:
    name: str  # canonical lower-case stream name
    symbol: str  # upper case
    levels: int | None  # partial depth N, or None for the diff stream
    fast: bool  # @100ms (every event) rather than once a second (plain or @1000ms)
    kind: str = "depth"  # depth | trade | aggTrade (trade streams are real time)


def parse_stream(name: str, known_symbols: set[str] | frozenset[str]) -> StreamSpec:
    if trades := _TRADES.match(name):
        symbol = trades.group(1).upper()
        if symbol not in known_symbols:
            raise ProtocolError(f"Invalid request: unknown symbol in stream {name!r}")
        return StreamSpec(name, symbol, None, fast=True, kind=trades.group(2))
    match = _STREAM.match(name)
    if not match:
        raise ProtocolError(f"Invalid request: unsupported stream {name!r} "
                            "(the simulator serves depth, trade and aggTrade streams)")
    symbol = match.group(1).upper()
    if symbol not in known_symbols:
        raise ProtocolError(f"Invalid request: unknown symbol in stream {name!r}")
    levels = int(match.group(2)) if match.group(2) else None
    return StreamSpec(name, symbol, levels, fast=match.group(3) == "@100ms")


def parse_ws_path(path: str, known_symbols: set[str] | frozenset[str]) -> tuple[bool, list[StreamSpec]]:
    """(combined?, streams) of a WebSocket request path; raises ProtocolError."""
    parts = urlsplit(path)
    if parts.path in ("/stream", "/stream/"):
        names = [n for q in parse_qs(parts.query).get("streams", []) for n in q.split("/") if n]
        combined = True
    elif parts.path == "/ws" or parts.path.startswith("/ws/"):
        names = [n for n in parts.path.removeprefix("/ws").split("/") if n]
        combined = False
    else:
        raise ProtocolError(f"unknown endpoint {parts.path!r}: use /stream?streams=... or /ws/<stream>")
    if len(names) > MAX_STREAMS_PER_CONNECTION:
        raise ProtocolError(f"too many streams: {len(names)} > {MAX_STREAMS_PER_CONNECTION} per connection")
    return combined, [parse_stream(n, known_symbols) for n in dict.fromkeys(names)]


# --- payloads --------------------------------------------------------------------------
def dumps(payload: object) -> str:
    return json.dumps(payload, separators=(",", ":"))


def diff_payload(event: BookEvent, event_time_ms: int) -> dict:
    return {"e": "depthUpdate", "E": event_time_ms, "s": event.symbol, "U": event.first_id,
            "u": event.last_id, "b": [list(b) for b in event.bids], "a": [list(a) for a in event.asks]}


def trade_payload(trade: Trade, event_time_ms: int) -> dict:
    """Binance's `<symbol>@trade` payload (web-socket-streams.md, "Trade Streams"). Each
    simulated print is one fill at one price, so it is one trade."""
    return {"e": "trade", "E": event_time_ms, "s": trade.symbol, "t": trade.trade_id, "p": trade.price,
            "q": trade.qty, "T": event_time_ms, "m": trade.buyer_is_maker, "M": True}


def agg_trade_payload(trade: Trade, event_time_ms: int) -> dict:
    """Binance's `<symbol>@aggTrade` payload ("Aggregate Trade Streams"): the fills of one
    taker order at one price; here one trade, so first = last trade id = the aggregate id."""
    return {"e": "aggTrade", "E": event_time_ms, "s": trade.symbol, "a": trade.trade_id, "p": trade.price,
            "q": trade.qty, "f": trade.trade_id, "l": trade.trade_id, "T": event_time_ms,
            "m": trade.buyer_is_maker, "M": True}


def partial_payload(last_update_id: int, bids: list[Level], asks: list[Level]) -> dict:
    return {"lastUpdateId": last_update_id, "bids": [list(b) for b in bids], "asks": [list(a) for a in asks]}


def combined_frame(stream: str, data_json: str) -> str:
    """The combined-stream wrapper around an already serialized payload (no re-encoding)."""
    return f'{{"stream":"{stream}","data":{data_json}}}'


def merge_events(first: BookEvent, later: BookEvent) -> BookEvent:
    """Two consecutive diffs as one (what a 1000 ms stream sends): later quantities win."""
    def merged(a: list[Level], b: list[Level], descending: bool) -> list[Level]:
        levels = {price: qty for price, qty in a}
        levels.update(dict(b))
        return sorted(levels.items(), key=lambda level: float(level[0]), reverse=descending)

    return BookEvent(first.symbol, first.first_id, later.last_id,
                     merged(first.bids, later.bids, True), merged(first.asks, later.asks, False),
                     trades=[*first.trades, *later.trades])


# --- control messages ---------------------------------------------------------------------
@dataclass(frozen=True)
class Control:
    method: str
    params: list
    id: object


def parse_control(text: str | bytes) -> Control:
    try:
        message = json.loads(text)
    except ValueError:
        raise ProtocolError("Invalid JSON: expected a JSON object") from None
    if not isinstance(message, dict) or "method" not in message:
        raise ProtocolError("Invalid request: missing field `method`")
    method, params, request_id = message["method"], message.get("params", []), message.get("id")
    if request_id is not None and not isinstance(request_id, (int, str)):
        raise ProtocolError("Invalid request: request ID must be an unsigned integer or a string")
    if method not in ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY"):
        raise ProtocolError(f"Invalid request: unknown variant {method!r}, expected one of SUBSCRIBE, "
                            "UNSUBSCRIBE, LIST_SUBSCRIPTIONS, SET_PROPERTY, GET_PROPERTY")
    if not isinstance(params, list):
        raise ProtocolError("Invalid request: params must be a list")
    return Control(method, params, request_id)


def result_message(request_id: object, result: object = None) -> str:
    return dumps({"result": result, "id": request_id})


def error_message(request_id: object, message: str, code: int = 2) -> str:
    return dumps({"error": {"code": code, "msg": message}, "id": request_id})
