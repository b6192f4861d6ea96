"""The exchange's trading rules from `GET /api/v3/exchangeInfo`: each symbol's tick size.

Binance spot (binance-spot-api-docs, rest-api.md "Exchange information" and filters.md
"PRICE_FILTER"): the answer's `symbols[]` entries each carry `filters[]`; the one with
`"filterType": "PRICE_FILTER"` has `tickSize`, a decimal string such as "0.01000000", the
step every price moves by ("disabled on tickSize == 0", which leaves no tick to measure a
spread in: an error here). The simulator serves the same document from its instruments
(streaming/simulator/rest.py).

`tick_sizes` is the pure parse; `fetch_exchange_info` the thin GET from a REST base, the
one the ingest's snapshots use (`endpoints.exchange_urls`). Without query parameters the
answer lists every symbol (weight 20 either way): a symbol the exchange no longer lists is
then one clear error of its own instead of a refused request (-1121) for all of them.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from quantcore.errors import PlatformError

EXCHANGE_INFO = "/api/v3/exchangeInfo"
PRICE_FILTER = "PRICE_FILTER"
TIMEOUT_S = 10.0


class ExchangeInfoError(PlatformError):
    """exchangeInfo lacks what is needed of a symbol: its entry, its PRICE_FILTER or a usable tickSize."""


class ExchangeUnreachable(Exception):
    """No exchangeInfo document: no connection, an HTTP error status or a body that is not JSON."""


def tick_sizes(info: Mapping[str, Any], symbols: Iterable[str]) -> dict[str, float]:
    """{symbol: tick size} of `symbols` from an exchangeInfo answer (the PRICE_FILTER's tickSize)."""
    entries = {entry.get("symbol"): entry for entry in info.get("symbols") or []}
    return {symbol: price_tick(symbol, entries.get(symbol)) for symbol in symbols}


def price_tick(symbol: str, entry: Mapping[str, Any] | None) -> float:
    """The tickSize of one `symbols[]` entry, checked: listed, with a PRICE_FILTER, a decimal > 0."""
    if entry is None:
        raise ExchangeInfoError(f"exchangeInfo does not list {symbol}",
                                "check the symbol's spelling, or whether the exchange delisted it")
    price_filter = next((f for f in entry.get("filters") or [] if f.get("filterType") == PRICE_FILTER), None)
    if price_filter is None:
        raise ExchangeInfoError(f"exchangeInfo's {symbol} has no {PRICE_FILTER} filter, hence no tickSize")
    text = price_filter.get("tickSize")
    try:
        tick = Decimal(text)
    except (InvalidOperation, TypeError):
        tick = None
    if tick is None or not tick.is_finite() or tick <= 0:
        raise ExchangeInfoError(f"exchangeInfo's {symbol} {PRICE_FILTER} has tickSize {text!r}, not a decimal > 0")
    return float(tick)


def fetch_exchange_info(rest_base: str, timeout_s: float = TIMEOUT_S) -> dict[str, Any]:
    """GET `rest_base`/api/v3/exchangeInfo (http or https; a private CA through SSL_CERT_FILE,
    as the ingest's connections: the context is made per call, so it reads the variable then)."""
    url = rest_base.rstrip("/") + EXCHANGE_INFO
    try:
        with urllib.request.urlopen(url, timeout=timeout_s, context=ssl.create_default_context()) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        raise ExchangeUnreachable(f"GET {url}: HTTP {error.code} {error.read()[:200]!r}") from None
    except (OSError, ValueError) as error:  # URLError, timeouts and refused connections are OSErrors
        cause = error.reason if isinstance(error, urllib.error.URLError) else error
        raise ExchangeUnreachable(f"GET {url}: {type(cause).__name__}: {cause}") from None
