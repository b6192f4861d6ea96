"""The REST edge of diff mode: `GET /api/v3/depth` snapshots for the local books.

Requests are deduplicated per symbol, limited in concurrency (REST weight limits), and
retried with backoff until the pipeline accepts one (a snapshot can be too old for the
buffered events, or unreachable for a while). Rate-limit answers (429/418) are honoured.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiohttp

from quantcore.log import get_logger
from quantcore.backoff import backoff_delay
from streaming.ingest.counters import IngestCounters

CONCURRENCY = 4
RETRY_BASE_S, RETRY_MAX_S = 0.25, 10.0
TIMEOUT_S = 10.0


class SnapshotUnavailable(Exception):
    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class SnapshotFetcher:
    def __init__(self, rest_base: str, limit: int, counters: IngestCounters) -> None:
        self._url = f"{rest_base}/api/v3/depth"
        self._limit = limit
        self._counters = counters
        self._deliver: Callable[[str, bytes], bool] = lambda symbol, body: True
        self._in_flight: set[str] = set()
        self._tasks: set[asyncio.Task] = set()
        self._gate = asyncio.Semaphore(CONCURRENCY)
        self._session: aiohttp.ClientSession | None = None
        self._log = get_logger("ingest.rest")

    def deliver_to(self, on_snapshot: Callable[[str, bytes], bool]) -> None:
        """Where snapshots go; it returns False when it needs another one."""
        self._deliver = on_snapshot

    def request(self, symbol: str) -> None:
        """Fetch a snapshot of `symbol` soon (called on the event loop; never blocks)."""
        if symbol in self._in_flight:
            return
        self._in_flight.add(symbol)
        task = asyncio.get_running_loop().create_task(self._fetch_until_accepted(symbol))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _fetch_until_accepted(self, symbol: str) -> None:
        attempt = 0
        while True:
            retry_after = None
            try:
                async with self._gate:
                    body = await self._get(symbol)
                self._in_flight.discard(symbol)  # a resync while replaying may ask again
                if self._deliver(symbol, body):
                    return
                self._in_flight.add(symbol)
            except (aiohttp.ClientError, TimeoutError, SnapshotUnavailable) as exc:
                self._counters.snapshot_retries += 1
                retry_after = getattr(exc, "retry_after_s", None)
                self._log.warning("snapshot failed", symbol=symbol, error=f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(retry_after or backoff_delay(attempt, RETRY_BASE_S, RETRY_MAX_S))
            attempt += 1

    async def _get(self, symbol: str) -> bytes:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_S))
        params = {"symbol": symbol, "limit": str(self._limit)}
        async with self._session.get(self._url, params=params) as response:
            body = await response.read()
            if response.status in (418, 429):
                raise SnapshotUnavailable(f"rate limited ({response.status})",
                                          float(response.headers.get("Retry-After", "5")))
            if response.status != 200:
                raise SnapshotUnavailable(f"HTTP {response.status}: {body[:200]!r}")
            return body

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
