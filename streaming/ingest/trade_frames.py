"""Parsing and validating Binance trade frames (pure).

Two streams print trades (Binance's web-socket-streams.md):

- `<sym>@trade`: `{e:"trade", E, s, t, p, q, T, m, M}`, one payload per exchange trade (the
  buyer and seller order ids `b`/`a` were removed in June 2024; not read if present);
- `<sym>@aggTrade`: `{e:"aggTrade", E, s, a, p, q, f, l, T, m, M}`, the fills of one taker
  order at one price, exchange trades `f..l`, numbered by the aggregate id `a`.

`m` is "is the buyer the market maker?": then the seller took liquidity, the aggressor.
A frame that cannot be trusted raises the ingest's `FrameError` with a short reason (the
shard dead-letters it, as for books). Price and quantity stay the strings the exchange sent:
checked to be plain positive decimals, never rewritten.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from streaming.ingest.frames import FrameError

TRADE, AGG_TRADE = "trade", "aggTrade"  # Binance's event types, which are also the stream suffixes


@dataclass(frozen=True, slots=True)
class Trade:
    """A validated print: `trade_id` is `t` (@trade) or `a` (@aggTrade); first..last are the
    exchange trade ids it covers (@trade: both are `t`)."""

    kind: str  # TRADE | AGG_TRADE
    symbol: str
    trade_id: int
    first_trade_id: int
    last_trade_id: int
    price: str
    qty: str
    buyer_is_maker: bool
    trade_time_ms: int
    event_time_ms: int
    received_us: int = 0  # when the frame arrived at the shard (the record's ingest time)


def parse_trade(data: Any, symbol: str, received_us: int = 0, kind: str = TRADE) -> Trade:
    """A validated trade of `symbol` (upper case) from a `kind` stream (TRADE or AGG_TRADE)."""
    if type(data) is not dict:
        raise FrameError(f"{kind} payload is not a JSON object", symbol)
    id_fields = ("t",) if kind == TRADE else ("a", "f", "l")
    try:
        event, event_time, sym, price, qty, trade_time, buyer_is_maker = (
            data["e"], data["E"], data["s"], data["p"], data["q"], data["T"], data["m"])
        ids = [data[name] for name in id_fields]
    except KeyError as exc:
        raise FrameError(f"missing field {exc.args[0]!r}", symbol) from None
    if event != kind:
        raise FrameError(f"unexpected event type {event!r} on the {kind} stream", symbol)
    if sym != symbol:
        raise FrameError(f"event symbol {sym!r} does not match its stream ({symbol})", symbol)
    for name, value in (("E", event_time), ("T", trade_time), *zip(id_fields, ids)):
        if type(value) is not int or value < 0:
            raise FrameError(f"field {name!r} is not a non-negative integer", symbol)
    if type(buyer_is_maker) is not bool:
        raise FrameError(f"field 'm' is not a boolean: {buyer_is_maker!r}", symbol)
    _positive_decimal(price, "price", symbol)
    _positive_decimal(qty, "qty", symbol)
    trade_id, first, last = (ids[0], ids[0], ids[0]) if kind == TRADE else ids
    if first > last:
        raise FrameError(f"first trade id f ({first}) is greater than the last l ({last})", symbol)
    return Trade(kind, symbol, trade_id, first, last, price, qty, buyer_is_maker, trade_time, event_time,
                 received_us)


def _positive_decimal(text: Any, name: str, symbol: str) -> None:
    """A plain decimal string above zero ("0.01000000"): no sign, exponent, NaN or infinity."""
    if type(text) is not str:
        raise FrameError(f"{name} {text!r} is not a decimal string", symbol)
    digits = text.removeprefix("-").replace(".", "", 1)
    if not (digits.isdecimal() and digits.isascii()):
        raise FrameError(f"{name} {text!r} is not a plain decimal number", symbol)
    value = float(text)
    if value <= 0.0:
        raise FrameError(f"{name} {text} is not positive", symbol)
    if value == math.inf:  # hundreds of digits overflow a double
        raise FrameError(f"{name} has {len(text)} characters: too large for a {name}", symbol)
