"""The serving hub's test universe, the Redis payloads it is offered and its messages, decoded."""

from __future__ import annotations

from quantcore.samples import signal_update
from quantcore.wire import MarketUpdate

UNIVERSE = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]


def payload(symbol: str, update_id: int, obi: float = 0.1) -> bytes:
    """What the compute stream publishes for one book (publish time = 1 ms per update id)."""
    update = signal_update(symbol, update_id, obi=obi)
    update.times.publish_us = 1_000 * update_id
    return update.SerializeToString()


def decoded(raw: bytes) -> tuple[int, list[tuple[str, int]]]:
    """A hub message as (kind, [(symbol, update_id), ...])."""
    message = MarketUpdate.FromString(raw)
    return message.kind, [(u.symbol, u.update_id) for u in message.updates]
