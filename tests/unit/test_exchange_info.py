"""Tick sizes from exchangeInfo: the pure parse against Binance's documented answer
(rest-api.md "Exchange information", filters.md PRICE_FILTER: tests/unit/test_simulator_rest.py's
golden copy), its errors, the simulator's answer, and the fetch of an unreachable exchange."""

from __future__ import annotations

import copy
import time

import pytest

from quantcore_platform.services.process import free_port
from streaming.ingest.exchange_info import (
    ExchangeInfoError,
    ExchangeUnreachable,
    fetch_exchange_info,
    tick_sizes,
)
from streaming.simulator.model import Market
from streaming.simulator.rate_limits import WeightLimiter
from streaming.simulator.rest import RestApi
from streaming.spark.microprice_tables import tick_size
from tests.unit.test_simulator_rest import GOLDEN_EXCHANGE_INFO


def golden_with_filters(*filters: dict) -> dict:
    """Binance's example answer (one symbol, ETHBTC) with these filters instead of its own."""
    info = copy.deepcopy(GOLDEN_EXCHANGE_INFO)
    info["symbols"][0]["filters"] = list(filters)
    return info


def test_the_tick_is_the_price_filters_tick_size():
    assert tick_sizes(GOLDEN_EXCHANGE_INFO, ["ETHBTC"]) == {"ETHBTC": 0.000001}
    assert tick_sizes(GOLDEN_EXCHANGE_INFO, []) == {}


def test_a_symbol_the_exchange_does_not_list_is_an_error_naming_it():
    with pytest.raises(ExchangeInfoError, match="does not list BTCUSDT"):
        tick_sizes(GOLDEN_EXCHANGE_INFO, ["ETHBTC", "BTCUSDT"])
    with pytest.raises(ExchangeInfoError, match="does not list ETHBTC"):
        tick_sizes({"symbols": []}, ["ETHBTC"])


def test_a_symbol_without_a_price_filter_is_an_error():
    lot_size_only = golden_with_filters(GOLDEN_EXCHANGE_INFO["symbols"][0]["filters"][1])
    with pytest.raises(ExchangeInfoError, match="ETHBTC has no PRICE_FILTER"):
        tick_sizes(lot_size_only, ["ETHBTC"])


@pytest.mark.parametrize("tick", ["0.00000000", "", "abc", None, "NaN", "-0.01"])
def test_a_tick_size_that_is_no_positive_decimal_is_an_error(tick):
    """filters.md: tickSize 0 disables the rule, which leaves no tick to count spreads in."""
    price_filter = {"filterType": "PRICE_FILTER", "minPrice": "0", "maxPrice": "0", "tickSize": tick}
    with pytest.raises(ExchangeInfoError, match="ETHBTC PRICE_FILTER has tickSize"):
        tick_sizes(golden_with_filters(price_filter), ["ETHBTC"])


def test_the_simulators_answer_gives_its_instruments_ticks():
    """Why falling back to the simulator's instruments is honest: they are what it serves."""
    symbols = ["BTCUSDT", "SHIBUSDT", "SYM001USDT"]
    api = RestApi(Market(symbols, seed=7, levels=50), WeightLimiter(6000), lambda: 1_700_000_000.0)
    info = api.handle("GET", "/api/v3/exchangeInfo", {}, "10.0.0.1").body
    assert tick_sizes(info, symbols) == {symbol: tick_size(symbol) for symbol in symbols}
    assert tick_sizes(info, ["BTCUSDT"]) == {"BTCUSDT": 0.01}


def test_an_unreachable_exchange_is_reported_with_its_url():
    base = f"http://127.0.0.1:{free_port()}"  # nothing listens: refused at once
    started = time.monotonic()
    with pytest.raises(ExchangeUnreachable, match=f"GET {base}/api/v3/exchangeInfo"):
        fetch_exchange_info(base, timeout_s=2.0)
    assert time.monotonic() - started < 2.0
