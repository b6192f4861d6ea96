"""`quantcore record`: capture a session of any source (the live exchange or the simulator)
to a recording file, through the ingest's own edges.

The recorder is an ingest shard whose output is the file: the same connection plan and
`StreamConnection` (reconnects, keepalive), the same `SnapshotFetcher`, and a
`ShardPipeline` on the diff streams that decides when a REST snapshot is needed (first
sync, resync after a gap), so the file holds exactly the snapshots an ingest of that
session fetched. Every WebSocket frame and every REST answer is written with its receive
time. The pipeline's records go to `sink` (none by default; tests keep them: they are what
the ingest made of the live session, to compare with the ingest of its replay).

Besides the diff streams (always), `extra` adds stream kinds to capture unprocessed
(`trade`, `aggTrade`, `depth20@100ms`, ...), and `GET /api/v3/exchangeInfo` is recorded once
at start, because standard clients load it before anything else.
"""

from __future__ import annotations

import threading
from pathlib import Path

import aiohttp

from quantcore.lifecycle import run_service
from quantcore.log import get_logger
from quantcore.settings import Settings, Source
from quantcore.timeutil import now_us
from streaming.ingest.connection import ConnectionSet
from streaming.ingest.counters import IngestCounters
from streaming.ingest.endpoints import exchange_urls, plan_connections
from streaming.ingest.exchange_info import EXCHANGE_INFO
from streaming.ingest.pipeline import DIFF, ShardPipeline, Sink
from streaming.ingest.records import Provenance
from streaming.ingest.snapshots import SnapshotFetcher
from streaming.recording.format import Header, RecordingWriter, RestAnswer

EXTRA_STREAM_KINDS = ("trade", "aggTrade", "depth5@100ms", "depth10@100ms", "depth20@100ms",
                      "depth5", "depth10", "depth20")


class NoSink:
    """The pipeline's records are not needed when only recording."""

    def publish(self, symbol: str, value: bytes, *_ids_and_time: int) -> None:
        pass

    def dead_letter(self, symbol: str, value: bytes) -> None:
        pass


def check_extra(extra: list[str]) -> list[str]:
    unknown = [kind for kind in extra if kind not in EXTRA_STREAM_KINDS]
    if unknown:
        raise ValueError(f"unknown stream kind(s) {', '.join(unknown)}: choose from {', '.join(EXTRA_STREAM_KINDS)}")
    return list(dict.fromkeys(extra))


class SessionRecorder:
    """Records `symbols` of the configured source to `path` (a service of the lifecycle)."""

    component = "recorder"

    def __init__(self, settings: Settings, path: Path, *, extra: list[str] = (), sink: Sink | None = None) -> None:
        self.market, self.ingest, self.simulator = settings.market, settings.ingest, settings.simulator
        self.path = Path(path)
        self.instance = self.path.name
        self.extra = check_extra(list(extra))
        self.stats = IngestCounters()
        self._sink = sink or NoSink()
        self._writer: RecordingWriter | None = None
        self._fetcher: SnapshotFetcher | None = None
        self._connections: ConnectionSet | None = None
        self._diff_prefixes: tuple[str, ...] = ()
        self._pipeline: ShardPipeline | None = None
        self._log = get_logger("recorder", file=str(self.path))

    async def start(self) -> None:
        symbols = [s.upper() for s in self.market.symbols]
        ws_base, rest_base = exchange_urls(self.market, self.simulator, self.ingest)
        source = Source(self.market.source)
        provenance = Provenance.of(source, self.simulator.seed)
        fetcher = SnapshotFetcher(rest_base, self.ingest.snapshot_limit, self.stats)
        pipeline = ShardPipeline(shard_id=0, symbols=symbols, mode=DIFF, depth=self.market.depth, sink=self._sink,
                                 provenance=provenance, counters=self.stats, request_snapshot=fetcher.request)
        fetcher.deliver_to(self._on_snapshot)
        streams = [*pipeline.streams, *(f"{s.lower()}@{kind}" for kind in self.extra for s in symbols)]
        self._writer = RecordingWriter(self.path, Header(
            source=source.value, symbols=symbols, streams=streams, ws_base=ws_base, rest_base=rest_base,
            started_us=now_us(), simulator_seed=self.simulator.seed if source is Source.simulator else None))
        await self._record_exchange_info(rest_base, symbols)
        self._pipeline, self._fetcher = pipeline, fetcher
        self._diff_prefixes = tuple(f'{{"stream":"{name}"' for name in pipeline.streams)
        plans = plan_connections(ws_base, streams, self.ingest.streams_per_connection)
        self._connections = ConnectionSet(plans, on_frame=self._on_frame, counters=self.stats, ingest=self.ingest,
                                          name="recorder")
        self._connections.start()
        self._log.info("recording", symbols=len(symbols), streams=len(streams), source=source.value)

    def _on_frame(self, raw: str | bytes, received_us: int) -> None:
        self._writer.frame(raw, received_us)
        if not isinstance(raw, str) or raw.startswith(self._diff_prefixes) or not raw.startswith('{"stream"'):
            self._pipeline.on_frame(raw, received_us)  # diff frames, control replies, oddities

    def _on_snapshot(self, symbol: str, body: bytes) -> bool:
        text = body.decode("utf-8", "replace")
        self._writer.rest(RestAnswer(now_us(), "/api/v3/depth",
                                     {"symbol": symbol, "limit": str(self.ingest.snapshot_limit)}, 200, text))
        return self._pipeline.on_snapshot(symbol, body)

    async def _record_exchange_info(self, rest_base: str, symbols: list[str]) -> None:
        query = {"symbols": "[" + ",".join(f'"{s}"' for s in symbols) + "]"}
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
                async with session.get(rest_base + EXCHANGE_INFO, params=query) as response:
                    body = await response.text()
                    self._writer.rest(RestAnswer(now_us(), EXCHANGE_INFO, query, response.status, body))
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._log.warning("exchangeInfo not recorded", error=f"{type(exc).__name__}: {exc}")

    def counters(self) -> dict:
        written = self._writer
        return {**self.stats.as_report(), "frames_written": written.frames if written else 0,
                "rest_written": written.rest_answers if written else 0}

    def failure(self) -> str | None:
        crash = self._connections.crashed() if self._connections else None
        return None if crash is None else f"recorder connection task crashed: {crash!r}"

    async def stop(self) -> None:
        if self._connections:
            await self._connections.close()
        if self._fetcher:
            await self._fetcher.close()
        if self._writer:
            self._writer.close()
        self._log.info("recording closed", **self.counters())


def record_session(settings: Settings, path: Path, *, seconds: float | None = None, extra: list[str] = (),
                   sink: Sink | None = None, stop: threading.Event | None = None) -> dict:
    """Record until SIGINT/SIGTERM, `stop`, or `seconds` have passed; returns the counters
    (what `quantcore record` runs, and tests in a thread)."""
    stop = stop or threading.Event()
    timer = threading.Timer(seconds, stop.set) if seconds else None
    recorder = SessionRecorder(settings, path, extra=extra, sink=sink)
    if timer:
        timer.daemon = True
        timer.start()
    try:
        run_service(recorder, None, stop)
    finally:
        if timer:
            timer.cancel()
    return recorder.counters()
