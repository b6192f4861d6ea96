"""Helpers shared by the serving tests and benchmarks (no test framework needed)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from quantcore.wire import BookMode, SignalUpdate


def signal_update(symbol: str, update_id: int, *, obi: float = 0.25, mid: float = 100.0,
                  exchange_event_us: int = 1_700_000_000_000_000) -> SignalUpdate:
    """A fully populated SignalUpdate whose values derive from its arguments (so tests can check them)."""
    update = SignalUpdate(symbol=symbol, update_id=update_id, exchange="binance", mode=BookMode.BOOK_MODE_LOCAL_BOOK)
    s = update.signals
    s.obi_1, s.obi_5, s.obi_10, s.obi_20 = obi, obi / 2, obi / 4, obi / 8
    s.obi_weighted = obi / 3
    s.best_bid, s.best_ask = mid - 0.5, mid + 0.5
    s.mid, s.spread = mid, 1.0
    s.spread_bps = 1.0 / mid * 10_000
    s.weighted_mid = mid + 0.5 * obi
    t = update.times
    t.exchange_event_us = exchange_event_us
    t.ingest_us, t.kafka_append_us, t.compute_us = exchange_event_us + 1_000, exchange_event_us + 2_000, exchange_event_us + 3_000
    return update


async def wait_for(predicate: Callable[[], bool], timeout: float, what: str = "condition",
                   interval: float = 0.01) -> None:
    """Poll until `predicate()` holds (raises TimeoutError naming `what` otherwise)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached within {timeout:g}s")
        await asyncio.sleep(interval)
