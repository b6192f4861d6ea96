"""Trade flows whose values derive from their arguments, as the trade-flow writer stores them."""

from __future__ import annotations

from quantcore import wire

WINDOWS_MS = (1_000, 10_000, 60_000)
BASE_TIME_US = 1_700_000_000_000_000


def trade_flow(symbol: str, trade_id: int, *, vwap: float = 100.0, tfi: float = 0.5) -> wire.TradeFlow:
    """A TradeFlow at trade `trade_id` (1 ms apart): window i counts trade_id * (i + 1) trades,
    its vwap is `vwap + i` and its tfi `tfi / (i + 1)`."""
    flow = wire.TradeFlow(exchange="binance", symbol=symbol, trade_id=trade_id,
                          trade_time_us=BASE_TIME_US + trade_id * 1_000)
    for i, window_ms in enumerate(WINDOWS_MS):
        flow.windows.add(window_ms=window_ms, trade_count=trade_id * (i + 1), vwap=vwap + i, tfi=tfi / (i + 1))
    flow.times.ingest_time_us = flow.trade_time_us + 500
    flow.times.kafka_timestamp_us = flow.trade_time_us + 1_000
    flow.times.compute_time_us = flow.trade_time_us + 2_000
    return flow


def published(symbol: str, trade_id: int, **values) -> bytes:
    """What the writer publishes for that flow (publish time = 1 ms per trade id)."""
    flow = trade_flow(symbol, trade_id, **values)
    flow.times.publish_us = 1_000 * trade_id
    return flow.SerializeToString()
