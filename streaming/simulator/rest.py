"""Binance spot's public REST market-data API as the simulator serves it (no I/O here).

Shapes, weights and errors follow binance/binance-spot-api-docs (rest-api.md, filters.md,
enums.md, errors.md):

| route | weight | answer |
| --- | --- | --- |
| `GET /api/v3/ping` | 1 | `{}` |
| `GET /api/v3/time` | 1 | `{"serverTime"}` |
| `GET /api/v3/exchangeInfo[?symbol=|symbols=[..]]` | 20 | `{timezone, serverTime, rateLimits, exchangeFilters, symbols}` |
| `GET /api/v3/depth?symbol=&limit=` | 5 / 25 / 50 / 250 for limit 1-100 / 101-500 / 501-1000 / 1001-5000 | `{lastUpdateId, bids, asks}`; limit defaults to 100, above 5000 it is served as 5000 |
| `GET /api/v3/ticker/bookTicker[?symbol=|symbols=[..]]` | 2 for one symbol, 4 otherwise | `{symbol, bidPrice, bidQty, askPrice, askQty}` or a list of them |

Every answer is charged to the caller's IP by a `WeightLimiter`, whose headers
(`X-MBX-USED-WEIGHT-1M`, `X-MBX-USED-WEIGHT`, and `Retry-After` on a 429) go with it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from streaming.simulator.instruments import format_units
from streaming.simulator.model import Market, SymbolModel
from streaming.simulator.rate_limits import WeightLimiter

DEFAULT_DEPTH_LIMIT = 100
MAX_DEPTH_LIMIT = 5000
EXCHANGE_INFO_WEIGHT = 20
# quote assets tried longest first when splitting a symbol into base and quote
QUOTE_ASSETS = ("FDUSD", "USDT", "USDC", "TUSD", "BUSD", "DAI", "EUR", "TRY", "BRL", "BTC", "ETH", "BNB")
ORDER_TYPES = ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"]
STP_MODES = ["NONE", "EXPIRE_MAKER", "EXPIRE_TAKER", "EXPIRE_BOTH", "DECREMENT"]


class RawJson(str):
    """A body already serialized (a recorded answer), sent byte for byte."""


@dataclass(frozen=True)
class RestResult:
    status: int
    body: object
    headers: dict[str, str] = field(default_factory=dict)


class RestError(Exception):
    """A request Binance refuses: HTTP status and Binance's `{code, msg}`."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


def depth_weight(limit: int) -> int:
    """rest-api.md "Order book": weight by `limit` (already capped at 5000)."""
    if limit <= 100:
        return 5
    if limit <= 500:
        return 25
    if limit <= 1000:
        return 50
    return 250


def parse_depth_limit(raw: str | None) -> int:
    """`limit` of `/api/v3/depth`: default 100; "If limit > 5000, only 5000 entries will be returned"."""
    if raw is None or raw == "":
        return DEFAULT_DEPTH_LIMIT
    if not raw.isdigit() or len(raw) > 20:
        raise RestError(400, -1100, "Illegal characters found in parameter 'limit'; legal range is '^[0-9]{1,20}$'.")
    limit = int(raw)
    if limit < 1:
        raise RestError(400, -1100, f"Illegal characters found in parameter 'limit'; legal range is "
                                    f"'1'-'{MAX_DEPTH_LIMIT}'.")
    return min(limit, MAX_DEPTH_LIMIT)


def request_weight(path: str, query: dict[str, str]) -> int:
    """The weight Binance charges for a request (what a replay charges for its recorded answers)."""
    if path == "/api/v3/depth":
        try:
            return depth_weight(parse_depth_limit(query.get("limit")))
        except RestError:
            return depth_weight(DEFAULT_DEPTH_LIMIT)
    if path == "/api/v3/exchangeInfo":
        return EXCHANGE_INFO_WEIGHT
    if path == "/api/v3/ticker/bookTicker":
        return 2 if query.get("symbol") else 4
    return 1


def split_symbol(symbol: str) -> tuple[str, str]:
    """(baseAsset, quoteAsset) of a symbol such as BTCUSDT -> (BTC, USDT)."""
    for quote in QUOTE_ASSETS:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)], quote
    return symbol[:-3], symbol[-3:]


def symbol_info(model: SymbolModel) -> dict:
    """One `symbols` entry of `/api/v3/exchangeInfo`, with PRICE_FILTER and LOT_SIZE (filters.md)."""
    inst = model.instrument
    base, quote = split_symbol(model.symbol)
    return {
        "symbol": model.symbol, "status": "TRADING",
        "baseAsset": base, "baseAssetPrecision": 8, "quoteAsset": quote, "quotePrecision": 8,
        "quoteAssetPrecision": 8, "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
        "orderTypes": list(ORDER_TYPES),
        "icebergAllowed": True, "ocoAllowed": True, "otoAllowed": True, "opoAllowed": False,
        "quoteOrderQtyMarketAllowed": True, "allowTrailingStop": True, "cancelReplaceAllowed": True,
        "amendAllowed": True, "pegInstructionsAllowed": False,
        "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": format_units(inst.tick_units),
             "maxPrice": format_units(inst.tick_units * 10**8), "tickSize": format_units(inst.tick_units)},
            {"filterType": "LOT_SIZE", "minQty": format_units(inst.lot_units),
             "maxQty": format_units(inst.lot_units * 10**8), "stepSize": format_units(inst.lot_units)},
        ],
        "permissions": [], "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER", "allowedSelfTradePreventionModes": list(STP_MODES),
    }


def book_ticker(model: SymbolModel) -> dict:
    bids, asks = model.top(1)
    zero = format_units(0)
    bid = bids[0] if bids else (zero, zero)
    ask = asks[0] if asks else (zero, zero)
    return {"symbol": model.symbol, "bidPrice": bid[0], "bidQty": bid[1], "askPrice": ask[0], "askQty": ask[1]}


class RestApi:
    """Routes `GET /api/v3/...` for `market`, charging each request to `limiter`."""

    def __init__(self, market: Market, limiter: WeightLimiter, wall_clock_s: Callable[[], float]) -> None:
        self.market = market
        self.limiter = limiter
        self.clock = wall_clock_s
        self._known = frozenset(market.symbols)

    def handles(self, path: str) -> bool:
        return path.startswith("/api/")

    def handle(self, method: str, path: str, query: dict[str, str], ip: str) -> RestResult:
        now = self.clock()
        route = self._route(method, path)
        try:
            weight, answer = route(query) if route else (1, None)
        except RestError as error:  # refused before its weight could be known: the default weight
            weight, answer = request_weight(path, {}), error
        charge = self.limiter.charge(ip, weight, now)
        if charge.limited:
            return RestResult(429, self.limiter.error_body(), charge.headers())
        if route is None:
            return RestResult(404, {"code": -1, "msg": f"no route {method} {path}"}, charge.headers())
        if isinstance(answer, RestError):
            return RestResult(answer.status, {"code": answer.code, "msg": answer.msg}, charge.headers())
        try:
            body = answer(now)
        except RestError as error:
            return RestResult(error.status, {"code": error.code, "msg": error.msg}, charge.headers())
        return RestResult(200, body, charge.headers())

    # --- routes: each returns (weight, answer(now_s) -> body) --------------------------
    def _route(self, method: str, path: str):
        if method != "GET":
            return None
        return {
            "/api/v3/ping": self._ping, "/api/v3/time": self._time, "/api/v3/exchangeInfo": self._exchange_info,
            "/api/v3/depth": self._depth, "/api/v3/ticker/bookTicker": self._book_ticker,
        }.get(path)

    def _ping(self, query: dict[str, str]):
        return 1, lambda now: {}

    def _time(self, query: dict[str, str]):
        return 1, lambda now: {"serverTime": int(now * 1000)}

    def _exchange_info(self, query: dict[str, str]):
        symbols = self._symbols_param(query)
        models = [self.market[s] for s in (symbols if symbols is not None else self.market.symbols)]
        return EXCHANGE_INFO_WEIGHT, lambda now: {
            "timezone": "UTC", "serverTime": int(now * 1000), "rateLimits": [self.limiter.rate_limit_entry()],
            "exchangeFilters": [], "symbols": [symbol_info(m) for m in models],
        }

    def _depth(self, query: dict[str, str]):
        symbol = self._symbol(query.get("symbol"))
        limit = parse_depth_limit(query.get("limit"))
        return depth_weight(limit), lambda now: self.market[symbol].snapshot(limit)

    def _book_ticker(self, query: dict[str, str]):
        if query.get("symbol"):
            if "symbols" in query:
                raise RestError(400, -1128, "Combination of optional parameters invalid.")
            symbol = self._symbol(query["symbol"])
            return 2, lambda now: book_ticker(self.market[symbol])
        symbols = self._symbols_param(query)
        names = symbols if symbols is not None else self.market.symbols
        return 4, lambda now: [book_ticker(self.market[s]) for s in names]

    # --- parameters ----------------------------------------------------------------------
    def _symbol(self, raw: str | None) -> str:
        if not raw:
            raise RestError(400, -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
        symbol = raw.upper()
        if symbol not in self._known:
            raise RestError(400, -1121, "Invalid symbol.")
        return symbol

    def _symbols_param(self, query: dict[str, str]) -> list[str] | None:
        """`symbol=X` or `symbols=["X","Y"]` (a JSON array), or None for every symbol."""
        if query.get("symbol") and query.get("symbols"):
            raise RestError(400, -1128, "Combination of optional parameters invalid.")
        if query.get("symbol"):
            return [self._symbol(query["symbol"])]
        if not query.get("symbols"):
            return None
        try:
            names = json.loads(query["symbols"])
        except ValueError:
            names = None
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise RestError(400, -1135, "JSON sent for parameter 'symbols' is not valid")
        return [self._symbol(n) for n in dict.fromkeys(names)]
