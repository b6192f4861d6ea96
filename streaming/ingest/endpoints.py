"""Where a shard connects and how its streams are spread over connections (pure)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from quantcore.settings import IngestSettings, MarketSettings, SimulatorSettings, Source

MAX_STREAMS_PER_CONNECTION = 1024  # Binance's limit
MAX_URL_STREAMS = 200  # beyond this the URL gets long: subscribe with messages instead
SUBSCRIBE_BATCH = 200  # streams per SUBSCRIBE message
SUBSCRIBE_PACE_S = 0.3  # <= 4 messages/s: Binance drops a connection above 5 incoming/s


def exchange_urls(market: MarketSettings, simulator: SimulatorSettings, ingest: IngestSettings) -> tuple[str, str]:
    """(WebSocket base, REST base) of the configured source: the same code for both."""
    if market.source == Source.binance:
        return ingest.binance_ws_url.rstrip("/"), ingest.binance_rest_url.rstrip("/")
    address = f"{simulator.host}:{simulator.port}"
    if simulator.tls:
        return f"wss://{address}", f"https://{address}"
    return f"ws://{address}", f"http://{address}"


@dataclass(frozen=True)
class ConnectionPlan:
    url: str
    streams: list[str]
    subscribe: list[str] = field(default_factory=list)  # SUBSCRIBE messages to send after connecting


def plan_connections(ws_base: str, streams: list[str],
                     per_connection: int = MAX_STREAMS_PER_CONNECTION) -> list[ConnectionPlan]:
    """Split streams over connections of at most `per_connection` (<= 1024) streams each."""
    per_connection = min(per_connection, MAX_STREAMS_PER_CONNECTION)
    plans = []
    for start in range(0, len(streams), per_connection):
        chunk = streams[start:start + per_connection]
        if len(chunk) <= MAX_URL_STREAMS:
            plans.append(ConnectionPlan(f"{ws_base}/stream?streams={'/'.join(chunk)}", chunk))
        else:
            messages = [json.dumps({"method": "SUBSCRIBE", "params": chunk[i:i + SUBSCRIBE_BATCH], "id": n + 1})
                        for n, i in enumerate(range(0, len(chunk), SUBSCRIBE_BATCH))]
            plans.append(ConnectionPlan(f"{ws_base}/stream", chunk, messages))
    return plans
