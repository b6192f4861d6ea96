"""Payload bytes of one 30-symbol update: the seed's JSON (numbers in strings) vs our
typed protobuf MarketUpdate, both carrying the same signals and pipeline timestamps."""

from __future__ import annotations

import json
import random

from quantcore import wire
from quantcore.settings import DEFAULT_SYMBOLS

SIGNALS = ("obi_1", "obi_5", "obi_10", "obi_20", "obi_weighted", "mid", "spread", "spread_bps", "weighted_mid", "ofi")
TIMES = ("exchange_event_us", "ingest_us", "kafka_append_us", "compute_us", "publish_us")


def sample_updates(symbols: list[str], seed: int = 1) -> list[wire.SignalUpdate]:
    rng = random.Random(seed)
    updates = []
    for i, symbol in enumerate(symbols):
        mid = rng.uniform(0.1, 60_000)
        update = wire.SignalUpdate(symbol=symbol, update_id=70_000_000_000 + i, exchange="binance",
                                    mode=wire.BookMode.BOOK_MODE_LOCAL_BOOK)
        for name in SIGNALS:
            setattr(update.signals, name, round(rng.uniform(-1, 1) if name.startswith("obi") else mid, 6))
        for offset, name in enumerate(TIMES):
            setattr(update.times, name, 1_795_500_000_000_000 + offset * 1_000)
        updates.append(update)
    return updates


def as_seed_json(updates: list[wire.SignalUpdate]) -> bytes:
    """The seed's shape: one object per symbol, every value a string."""
    rows = []
    for u in updates:
        row = {"symbol": u.symbol, "update_id": str(u.update_id)}
        row.update({name: str(getattr(u.signals, name)) for name in SIGNALS})
        row.update({name: str(getattr(u.times, name)) for name in TIMES})
        rows.append(row)
    return json.dumps({"type": "update", "signals": rows}, separators=(",", ":")).encode()


def payload_sizes(symbols: int = 30) -> dict[str, float]:
    updates = sample_updates(list(DEFAULT_SYMBOLS[:symbols]))
    message = wire.MarketUpdate(kind=wire.MarketUpdate.UPDATE, updates=updates, server_send_us=1_795_500_000_005_000)
    protobuf_bytes = len(message.SerializeToString())
    json_bytes = len(as_seed_json(updates))
    return {"symbols": symbols, "protobuf_bytes": protobuf_bytes, "json_bytes": json_bytes,
            "json_vs_protobuf": round(json_bytes / protobuf_bytes, 2)}
