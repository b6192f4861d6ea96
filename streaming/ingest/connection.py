"""One WebSocket connection of a shard, kept open forever.

- Failures (refused, dropped, keepalive timeout) reconnect after a capped, jittered
  exponential backoff; the local books notice any missed events by their update ids.
- Before the exchange's 24 h cut-off the connection hands over: a successor is opened,
  both run side by side for `ingest.handover_overlap_s` (the successor's frames are held),
  then the old one closes and the held frames are replayed. Events seen twice are
  dropped by their update ids, so the Kafka stream has no gap and no duplicate.
- Server pings are answered by websockets itself; our own pings detect a stalled server.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from quantcore.log import get_logger
from quantcore.settings import IngestSettings
from quantcore.timeutil import now_us
from quantcore.backoff import backoff_delay
from streaming.ingest.counters import IngestCounters
from streaming.ingest.endpoints import SUBSCRIBE_PACE_S, ConnectionPlan

CONNECTION_ERRORS = (OSError, TimeoutError, WebSocketException)
STABLE_AFTER_S = 30.0  # a connection that lived this long resets the backoff
HANDOVER_RETRY_S = 60.0  # a successor that fails to open is retried this much later

FrameHandler = Callable[[str | bytes, int], None]


class StreamConnection:
    def __init__(self, plan: ConnectionPlan, *, on_frame: FrameHandler, counters: IngestCounters,
                 ingest: IngestSettings, stop: asyncio.Event, name: str) -> None:
        self.plan = plan
        self._on_frame = on_frame
        self._counters = counters
        self._ingest = ingest
        self._stop = stop
        self._ws: ClientConnection | None = None
        self._deadline = 0.0  # monotonic time of the next proactive handover
        self._log = get_logger("ingest.ws", connection=name, streams=len(plan.streams))

    async def run(self) -> None:
        """Receive until `stop` is set, reconnecting as needed."""
        attempt = 0
        while not self._stop.is_set():
            opened_at = None
            try:
                if self._ws is None:
                    self._ws = await self._open()
                    if self._stop.is_set():  # stopped while connecting: close() saw no socket
                        break
                opened_at = time.monotonic()
                self._ws = await self._pump(self._ws)
            except CONNECTION_ERRORS as exc:
                self._log.warning("connection lost", error=f"{type(exc).__name__}: {exc}")
                self._ws = None
            if self._ws is not None:  # handed over to a successor
                attempt = 0
                continue
            if self._stop.is_set():
                break
            if opened_at is not None and time.monotonic() - opened_at >= STABLE_AFTER_S:
                attempt = 0
            delay = backoff_delay(attempt, self._ingest.reconnect_base_s, self._ingest.reconnect_max_s)
            attempt += 1
            self._counters.reconnects += 1
            self._log.info("reconnecting", delay_s=round(delay, 2), attempt=attempt)
            try:
                await asyncio.wait_for(self._stop.wait(), delay)
            except TimeoutError:
                pass
        await self.close()

    async def close(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            await ws.close()

    async def _open(self) -> ClientConnection:
        ingest = self._ingest
        ws = await connect(self.plan.url, ping_interval=ingest.ping_interval_s,
                           ping_timeout=ingest.ping_timeout_s, max_queue=1024, max_size=2**22,
                           compression=None, open_timeout=10, close_timeout=2)
        for i, message in enumerate(self.plan.subscribe):
            if i:
                await asyncio.sleep(SUBSCRIBE_PACE_S)  # stay under 5 incoming messages/s
            await ws.send(message)
        self._deadline = time.monotonic() + ingest.max_connection_age_s
        self._log.info("connected", url=self.plan.url[:120])
        return ws

    async def _pump(self, ws: ClientConnection) -> ClientConnection | None:
        """Feed frames to the pipeline; returns the successor after a handover, None when closed."""
        on_frame = self._on_frame
        loop_deadline = asyncio.get_running_loop().time() + (self._deadline - time.monotonic())
        try:
            async with asyncio.timeout_at(loop_deadline):
                async for message in ws:
                    on_frame(message, now_us())
        except TimeoutError:
            if self._stop.is_set():
                return None
            return await self._handover(ws)
        return None  # closed cleanly: by us (stop) or by the server

    async def _handover(self, old: ClientConnection) -> ClientConnection:
        self._log.info("connection age limit: handing over to a new connection")
        try:
            new = await self._open()
        except CONNECTION_ERRORS as exc:
            self._log.warning("successor failed to open; keeping the current connection", error=str(exc))
            self._deadline = time.monotonic() + HANDOVER_RETRY_S
            return old
        held: list[tuple[str | bytes, int]] = []

        async def hold() -> None:
            async for message in new:
                held.append((message, now_us()))

        holder = asyncio.create_task(hold())
        try:
            async with asyncio.timeout(self._ingest.handover_overlap_s):
                async for message in old:
                    self._on_frame(message, now_us())
        except TimeoutError:
            pass
        except CONNECTION_ERRORS:
            pass  # the old one died during the overlap: the successor has the rest
        holder.cancel()  # recv() is cancellation-safe: nothing is lost
        await asyncio.gather(holder, return_exceptions=True)
        await old.close()
        for message, received_us in held:
            self._on_frame(message, received_us)
        self._counters.handovers += 1
        self._log.info("handover done", replayed=len(held))
        return new


class ConnectionSet:
    """The WebSocket connections of one process (a shard, the recorder): one task each,
    started together, closed together, a crashed task reported (its owner's `failure`)."""

    def __init__(self, plans: list[ConnectionPlan], *, on_frame: FrameHandler, counters: IngestCounters,
                 ingest: IngestSettings, name: str) -> None:
        self._stop = asyncio.Event()
        self.connections = [StreamConnection(plan, on_frame=on_frame, counters=counters, ingest=ingest,
                                             stop=self._stop, name=f"{name}/{i}") for i, plan in enumerate(plans)]
        self._tasks: list[asyncio.Task] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(c.run(), name=f"ws-{i}") for i, c in enumerate(self.connections)]

    def crashed(self) -> BaseException | None:
        for task in self._tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                return task.exception()
        return None

    async def close(self) -> None:
        self._stop.set()
        await asyncio.gather(*(c.close() for c in self.connections), return_exceptions=True)
        await asyncio.gather(*self._tasks, return_exceptions=True)
