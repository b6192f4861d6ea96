"""A trading client watching the platform while something is killed: one gRPC subscription to
every symbol, through the client library (it reconnects with backoff, as a user's would),
recording each update it shows."""

from __future__ import annotations

import asyncio
import threading
import time

from quantcore.settings import Settings
from quantcore_platform.chaos.verdict import ClientUpdate
from serving.client import MarketDataClient

FRESH_S = 3.0  # a symbol counts as updating when its last update is this recent
STEADY_LATENCY_S = 0.5


class ClientObserver:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.updates: list[ClientUpdate] = []  # appended by the observer's thread only
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._watch()), name="chaos-client", daemon=True)

    def __enter__(self) -> "ClientObserver":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    async def _watch(self) -> None:
        async with MarketDataClient.from_settings(self._settings, backoff_initial_s=0.05, backoff_max_s=1.0,
                                                  log_reconnects=False) as client:
            reading = asyncio.create_task(self._read(client))
            while not self._stop.is_set() and not reading.done():
                await asyncio.sleep(0.1)
            reading.cancel()

    async def _read(self, client: MarketDataClient) -> None:
        async for message in client.subscribe():
            received = time.time()
            self.updates.extend(ClientUpdate(u.symbol, u.update_id, received, u.times.exchange_event_us / 1e6)
                                for u in message.updates)

    def watching_s(self) -> float:
        """Seconds since the first update arrived (0 before it)."""
        return time.time() - self.updates[0].received_s if self.updates else 0.0

    def since(self, index: int) -> list[ClientUpdate]:
        return self.updates[index:len(self.updates)]

    def steady(self, symbols: list[str]) -> bool:
        """Every symbol updated within FRESH_S, none of those updates later than STEADY_LATENCY_S
        after its exchange event: the last kill's after-effects (a restarted JVM taking the
        cores, a backlog draining) are over, so the next kill is measured on its own."""
        horizon = time.time() - FRESH_S
        seen: set[str] = set()
        for update in reversed(self.updates[-20_000:]):
            if update.received_s < horizon:
                break
            if update.received_s - update.event_s > STEADY_LATENCY_S:
                return False
            seen.add(update.symbol)
        return set(symbols) <= seen
