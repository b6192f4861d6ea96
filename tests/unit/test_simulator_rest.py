"""The simulator's REST surface has Binance's shapes, weights and limits (no sockets).

The golden examples below are copied from binance/binance-spot-api-docs (comments
dropped): rest-api.md ("Check server time", "Exchange information", "Order book",
"Symbol order book ticker", "Error Codes"), filters.md (PRICE_FILTER, LOT_SIZE), enums.md
("Rate limiters"), errors.md (-1003) and web-socket-streams.md ("Diff. Depth Stream").
Each is compared with what the simulator answers: the same keys with the same JSON types.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from streaming.simulator.model import BookEvent, Market
from streaming.simulator.protocol import ProtocolError, diff_payload, parse_stream, parse_ws_path
from streaming.simulator.rate_limits import WeightLimiter
from streaming.simulator.rest import RestApi, RestError, depth_weight, parse_depth_limit, split_symbol
from streaming.simulator.tls import resolve

SYMBOLS = ["BTCUSDT", "ETHUSDT", "SHIBUSDT", "SYM001USDT"]

# --- golden examples from Binance's documentation -----------------------------------------
GOLDEN_TIME = {"serverTime": 1499827319559}
GOLDEN_ERROR = {"code": -1121, "msg": "Invalid symbol."}
GOLDEN_DEPTH = {"lastUpdateId": 1027024, "bids": [["4.00000000", "431.00000000"]],
                "asks": [["4.00000200", "12.00000000"]]}
GOLDEN_BOOK_TICKER = {"symbol": "LTCBTC", "bidPrice": "4.00000000", "bidQty": "431.00000000",
                      "askPrice": "4.00000200", "askQty": "9.00000000"}
GOLDEN_BOOK_TICKERS = [GOLDEN_BOOK_TICKER, {"symbol": "ETHBTC", "bidPrice": "0.07946700", "bidQty": "9.00000000",
                                            "askPrice": "100000.00000000", "askQty": "1000.00000000"}]
GOLDEN_PRICE_FILTER = {"filterType": "PRICE_FILTER", "minPrice": "0.00000100", "maxPrice": "100000.00000000",
                       "tickSize": "0.00000100"}
GOLDEN_LOT_SIZE = {"filterType": "LOT_SIZE", "minQty": "0.00100000", "maxQty": "100000.00000000",
                   "stepSize": "0.00100000"}
GOLDEN_REQUEST_WEIGHT = {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000}
GOLDEN_EXCHANGE_INFO = {  # rest-api.md; the placeholders filled from filters.md and enums.md; `sors` is optional
    "timezone": "UTC",
    "serverTime": 1565246363776,
    "rateLimits": [GOLDEN_REQUEST_WEIGHT],
    "exchangeFilters": [],
    "symbols": [{
        "symbol": "ETHBTC", "status": "TRADING", "baseAsset": "ETH", "baseAssetPrecision": 8, "quoteAsset": "BTC",
        "quotePrecision": 8, "quoteAssetPrecision": 8, "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT",
                       "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True, "ocoAllowed": True, "otoAllowed": True, "opoAllowed": True,
        "quoteOrderQtyMarketAllowed": True, "allowTrailingStop": False, "cancelReplaceAllowed": False,
        "amendAllowed": False, "pegInstructionsAllowed": True, "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": True, "filters": [GOLDEN_PRICE_FILTER, GOLDEN_LOT_SIZE], "permissions": [],
        "permissionSets": [["SPOT", "MARGIN"]], "defaultSelfTradePreventionMode": "NONE",
        "allowedSelfTradePreventionModes": ["NONE"],
    }],
}
GOLDEN_TOO_MANY = {"code": -1003, "msg": "Too much request weight used; current limit is %s request weight per %s. "
                                         "Please use WebSocket Streams for live updates to avoid polling the API."}
GOLDEN_DEPTH_UPDATE = {"e": "depthUpdate", "E": 1672515782136, "s": "BNBBTC", "U": 157, "u": 160,
                       "b": [["0.0024", "10"]], "a": [["0.0026", "100"]]}


def shape(value):
    """The JSON type tree of `value`: dict keys (in order), list element shapes, leaf types."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        shapes = []
        for item in value:  # distinct element shapes, in order (a filter list holds several)
            if shape(item) not in shapes:
                shapes.append(shape(item))
        return shapes
    return type(value).__name__


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def clock() -> Clock:
    return Clock(60 * 28_333_334 + 40.0)  # 40 s into a minute


@pytest.fixture()
def api(clock) -> RestApi:
    return RestApi(Market(SYMBOLS, seed=7, levels=50), WeightLimiter(6000), clock)


def get(api: RestApi, path: str, ip: str = "10.0.0.1", **query: str):
    return api.handle("GET", path, query, ip)


# --- shapes -------------------------------------------------------------------------------
def test_exchange_info_has_binance_shape(api):
    result = get(api, "/api/v3/exchangeInfo")
    assert result.status == 200
    body = result.body
    golden_symbol, = GOLDEN_EXCHANGE_INFO["symbols"]
    assert list(body) == list(GOLDEN_EXCHANGE_INFO)
    assert shape(body["rateLimits"]) == shape(GOLDEN_EXCHANGE_INFO["rateLimits"])
    assert body["rateLimits"] == [GOLDEN_REQUEST_WEIGHT]  # Binance spot's limit, by default
    assert body["timezone"] == "UTC" and isinstance(body["serverTime"], int)
    assert [s["symbol"] for s in body["symbols"]] == SYMBOLS
    for entry in body["symbols"]:
        assert shape(entry) == shape(golden_symbol), entry["symbol"]
        assert entry["status"] == "TRADING"
    assert json.loads(json.dumps(body)) == body  # plain JSON all the way down


def test_exchange_info_filters_carry_the_instruments_tick_and_lot(api):
    by_symbol = {s["symbol"]: s for s in get(api, "/api/v3/exchangeInfo").body["symbols"]}
    btc = {f["filterType"]: f for f in by_symbol["BTCUSDT"]["filters"]}
    assert btc["PRICE_FILTER"]["tickSize"] == "0.01000000" and btc["LOT_SIZE"]["stepSize"] == "0.00001000"
    assert (by_symbol["BTCUSDT"]["baseAsset"], by_symbol["BTCUSDT"]["quoteAsset"]) == ("BTC", "USDT")
    shib = {f["filterType"]: f for f in by_symbol["SHIBUSDT"]["filters"]}
    assert shib["PRICE_FILTER"]["tickSize"] == "0.00000001" and shib["LOT_SIZE"]["stepSize"] == "1.00000000"
    for entry in by_symbol.values():
        price = {f["filterType"]: f for f in entry["filters"]}["PRICE_FILTER"]
        lot = {f["filterType"]: f for f in entry["filters"]}["LOT_SIZE"]
        assert Decimal(price["minPrice"]) <= Decimal(price["tickSize"]) * 1 < Decimal(price["maxPrice"])
        assert Decimal(lot["minQty"]) <= Decimal(lot["stepSize"]) < Decimal(lot["maxQty"])
        assert Decimal(price["maxPrice"]) % Decimal(price["tickSize"]) == 0


def test_the_book_agrees_with_the_filters(api):
    """Every price a snapshot prints is on the tick grid, every quantity on the lot grid."""
    info = {s["symbol"]: {f["filterType"]: f for f in s["filters"]} for s in get(api, "/api/v3/exchangeInfo").body["symbols"]}
    for symbol in SYMBOLS:
        tick = Decimal(info[symbol]["PRICE_FILTER"]["tickSize"])
        step = Decimal(info[symbol]["LOT_SIZE"]["stepSize"])
        book = get(api, "/api/v3/depth", symbol=symbol, limit="50").body
        for price, qty in book["bids"] + book["asks"]:
            assert Decimal(price) % tick == 0 and Decimal(qty) % step == 0


def test_exchange_info_for_some_symbols(api):
    assert [s["symbol"] for s in get(api, "/api/v3/exchangeInfo", symbol="ETHUSDT").body["symbols"]] == ["ETHUSDT"]
    chosen = get(api, "/api/v3/exchangeInfo", symbols='["SHIBUSDT","BTCUSDT"]').body["symbols"]
    assert [s["symbol"] for s in chosen] == ["SHIBUSDT", "BTCUSDT"]
    refused = get(api, "/api/v3/exchangeInfo", symbols='["BTCUSDT","NOPEUSDT"]')
    assert (refused.status, refused.body) == (400, GOLDEN_ERROR)
    assert get(api, "/api/v3/exchangeInfo", symbols="BTCUSDT").body["code"] == -1135


def test_depth_time_and_book_ticker_have_binance_shapes(api):
    depth = get(api, "/api/v3/depth", symbol="BTCUSDT", limit="5").body
    assert shape(depth) == shape(GOLDEN_DEPTH) and len(depth["bids"]) == len(depth["asks"]) == 5
    assert shape(get(api, "/api/v3/time").body) == shape(GOLDEN_TIME)
    assert get(api, "/api/v3/ping").body == {}
    one = get(api, "/api/v3/ticker/bookTicker", symbol="ETHUSDT").body
    assert shape(one) == shape(GOLDEN_BOOK_TICKER) and one["symbol"] == "ETHUSDT"
    assert (one["bidPrice"], one["bidQty"]) == tuple(depth_top(api, "ETHUSDT")["bids"][0])
    assert (one["askPrice"], one["askQty"]) == tuple(depth_top(api, "ETHUSDT")["asks"][0])
    assert Decimal(one["bidPrice"]) < Decimal(one["askPrice"])
    every = get(api, "/api/v3/ticker/bookTicker").body
    assert shape(every) == shape(GOLDEN_BOOK_TICKERS) and [t["symbol"] for t in every] == SYMBOLS
    some = get(api, "/api/v3/ticker/bookTicker", symbols='["SHIBUSDT","ETHUSDT"]').body
    assert [t["symbol"] for t in some] == ["SHIBUSDT", "ETHUSDT"]


def depth_top(api: RestApi, symbol: str) -> dict:
    return get(api, "/api/v3/depth", symbol=symbol, limit="1").body


def test_diff_payload_has_the_documented_shape():
    event = BookEvent("BTCUSDT", 10, 12, [("65000.00000000", "1.00000000")], [("65000.01000000", "0.00000000")])
    assert shape(diff_payload(event, 1672515782136)) == shape(GOLDEN_DEPTH_UPDATE)


def test_errors_have_binance_shape_and_codes(api):
    for query in ({"symbol": "NOPEUSDT"}, {"symbol": "BTCUSDT", "limit": "abc"}, {}, {"symbol": "BTCUSDT", "limit": "0"}):
        result = get(api, "/api/v3/depth", **query)
        assert result.status == 400 and shape(result.body) == shape(GOLDEN_ERROR), query
    assert get(api, "/api/v3/depth", symbol="NOPEUSDT").body == GOLDEN_ERROR
    assert get(api, "/api/v3/depth").body["code"] == -1102  # mandatory parameter missing
    assert get(api, "/api/v3/depth", symbol="BTCUSDT", limit="abc").body["code"] == -1100
    assert get(api, "/api/v3/ticker/bookTicker", symbol="NOPEUSDT").body == GOLDEN_ERROR
    assert get(api, "/api/v3/ticker/bookTicker", symbol="BTCUSDT", symbols='["ETHUSDT"]').body["code"] == -1128
    assert get(api, "/api/v3/nope").status == 404
    assert api.handle("POST", "/api/v3/depth", {"symbol": "BTCUSDT"}, "10.0.0.1").status == 404


# --- depth limits and weights -------------------------------------------------------------
@pytest.mark.parametrize(("limit", "weight"), [(1, 5), (100, 5), (101, 25), (500, 25), (501, 50), (1000, 50),
                                               (1001, 250), (5000, 250)])
def test_depth_weights_follow_the_docs(limit, weight):
    assert depth_weight(limit) == weight


def test_depth_limit_defaults_to_100_and_caps_at_5000():
    assert parse_depth_limit(None) == 100 and parse_depth_limit("") == 100
    assert parse_depth_limit("7") == 7 and parse_depth_limit("5000") == 5000
    assert parse_depth_limit("6000") == 5000  # "If limit > 5000, only 5000 entries will be returned."
    for bad in ("0", "-1", "1.5", "abc"):
        with pytest.raises(RestError):
            parse_depth_limit(bad)


def test_depth_above_5000_is_served_as_5000_at_weight_250(api):
    result = get(api, "/api/v3/depth", symbol="BTCUSDT", limit="6000")
    assert result.status == 200 and result.body == api.market["BTCUSDT"].snapshot(5000)
    assert result.headers["X-MBX-USED-WEIGHT-1M"] == "250"


# --- request weight ----------------------------------------------------------------------
def test_every_answer_carries_the_used_weight_and_it_adds_up(api):
    steps = [("/api/v3/ping", {}, 1), ("/api/v3/time", {}, 1), ("/api/v3/exchangeInfo", {}, 20),
             ("/api/v3/depth", {"symbol": "BTCUSDT"}, 5), ("/api/v3/depth", {"symbol": "BTCUSDT", "limit": "500"}, 25),
             ("/api/v3/depth", {"symbol": "BTCUSDT", "limit": "1000"}, 50),
             ("/api/v3/depth", {"symbol": "BTCUSDT", "limit": "5000"}, 250),
             ("/api/v3/ticker/bookTicker", {"symbol": "BTCUSDT"}, 2), ("/api/v3/ticker/bookTicker", {}, 4),
             ("/api/v3/depth", {"symbol": "NOPEUSDT"}, 5)]  # refused requests weigh too
    used = 0
    for path, query, weight in steps:
        used += weight
        headers = get(api, path, **query).headers
        assert headers["X-MBX-USED-WEIGHT-1M"] == headers["X-MBX-USED-WEIGHT"] == str(used), path
        assert "Retry-After" not in headers
    assert get(api, "/api/v3/ping", ip="10.0.0.2").headers["X-MBX-USED-WEIGHT-1M"] == "1"  # per IP


def test_past_the_limit_429_with_binance_body_and_retry_after(clock):
    api = RestApi(Market(SYMBOLS, seed=7, levels=20), WeightLimiter(30), clock)
    assert get(api, "/api/v3/exchangeInfo").status == 200  # 20
    assert get(api, "/api/v3/depth", symbol="BTCUSDT").status == 200  # 25
    assert get(api, "/api/v3/depth", symbol="BTCUSDT").status == 200  # 30: at the limit, not past it
    limited = get(api, "/api/v3/ping")  # 31
    assert limited.status == 429
    assert shape(limited.body) == shape(GOLDEN_TOO_MANY) and limited.body["code"] == -1003
    assert limited.body["msg"] == GOLDEN_TOO_MANY["msg"] % (30, "1 MINUTE")
    assert limited.headers["Retry-After"] == "20"  # 40 s into the minute: 20 s until the window resets
    assert limited.headers["X-MBX-USED-WEIGHT-1M"] == "31"
    clock.now += 19.5
    assert get(api, "/api/v3/ping").headers["Retry-After"] == "1"
    clock.now += 0.5  # a new minute: a new window
    fresh = get(api, "/api/v3/ping")
    assert fresh.status == 200 and fresh.headers["X-MBX-USED-WEIGHT-1M"] == "1"
    assert get(api, "/api/v3/ping", ip="10.0.0.9").status == 200


def test_the_limit_shows_in_exchange_info_and_must_be_positive(clock):
    api = RestApi(Market(SYMBOLS, seed=7, levels=20), WeightLimiter(100), clock)
    assert get(api, "/api/v3/exchangeInfo").body["rateLimits"][0]["limit"] == 100
    with pytest.raises(ValueError):
        WeightLimiter(0)


# --- symbols, stream names, TLS options --------------------------------------------------------
def test_symbols_split_into_base_and_quote():
    assert split_symbol("BTCUSDT") == ("BTC", "USDT")
    assert split_symbol("ETHBTC") == ("ETH", "BTC")
    assert split_symbol("BTCFDUSD") == ("BTC", "FDUSD")
    assert split_symbol("SYM001USDT") == ("SYM001", "USDT")


def test_1000ms_is_the_default_speed_spelled_out():
    known = {"BTCUSDT"}
    for name in ("btcusdt@depth", "btcusdt@depth@1000ms", "btcusdt@depth5", "btcusdt@depth20@1000ms"):
        assert not parse_stream(name, known).fast, name
    for name in ("btcusdt@depth@100ms", "btcusdt@depth10@100ms"):
        assert parse_stream(name, known).fast, name
    assert parse_stream("btcusdt@depth@1000ms", known).levels is None
    assert parse_stream("btcusdt@depth20@1000ms", known).levels == 20
    combined, specs = parse_ws_path("/stream?streams=btcusdt@depth@1000ms/btcusdt@depth", known)
    assert combined and [s.name for s in specs] == ["btcusdt@depth@1000ms", "btcusdt@depth"]
    for bad in ("btcusdt@depth@500ms", "btcusdt@depth@250ms", "btcusdt@depth15", "btcusdt@depth@1000"):
        with pytest.raises(ProtocolError):
            parse_stream(bad, known)


def test_tls_options_are_one_or_the_other(tmp_path):
    import ssl

    assert resolve(None, None, None) is None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    assert resolve(context, None, None) is context
    with pytest.raises(ValueError):
        resolve(context, tmp_path / "cert.pem", None)
    with pytest.raises(ValueError):
        resolve(None, None, tmp_path / "key.pem")
