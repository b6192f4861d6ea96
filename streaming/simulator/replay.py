"""`quantcore simulator --replay FILE [--speed N]`: a recorded session served back through
the same protocol, frame for frame.

The replay clock starts when the first client subscribes (so an ingest started against it
sees the session from its first frame), then every recorded frame goes out at its
recorded offset divided by `speed`, byte for byte as recorded, to the clients subscribed
to its stream (combined clients get the recorded `{"stream","data"}` text itself, raw
clients its `data`). Only the recorded streams can be subscribed; anything else is
refused with the list of what the file holds.

REST answers come from the file too: `GET /api/v3/depth?symbol=S` is the latest snapshot
of S recorded at or before the replay position, or, if that one was served already, the
next one recorded (an ingest asks for a snapshot when the frames show it needs one, which
is just before the recorder fetched it: the k-th request gets at least the k-th
snapshot), cut to `limit` when fewer levels are asked for; any other recorded request (e.g. exchangeInfo) is
answered with its recorded body when path and query match; `/api/v3/time` and `ping`
answer at the replay position; everything else is 404 "not in the recording". Requests
are charged Binance's weights like the simulator's. When the file ends, connections stay
open and `status()` says `finished`.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from bisect import bisect_right
from pathlib import Path

from streaming.recording.format import RestAnswer, WsFrame, read_entries, read_header
from streaming.simulator.endpoint import ExchangeEndpoint
from streaming.simulator.protocol import ProtocolError, parse_stream
from streaming.simulator.rate_limits import BINANCE_SPOT_WEIGHT_PER_MINUTE
from streaming.simulator.rest import RawJson, RestError, RestResult, parse_depth_limit, request_weight
from streaming.simulator.tls import resolve as resolve_tls

DEPTH = "/api/v3/depth"
_PREFIX = '{"stream":"'
_DATA = '","data":'
YIELD_EVERY = 256  # frames sent between two yields to the event loop when behind schedule


def split_recorded(frame: str) -> tuple[str, str]:
    """(stream, data text) of a recorded combined frame, without re-encoding the data."""
    if frame.startswith(_PREFIX):
        end = frame.find(_DATA, len(_PREFIX))
        if end > 0 and frame.endswith("}"):
            return frame[len(_PREFIX):end], frame[end + len(_DATA):-1]
    message = json.loads(frame)  # a frame spelled differently: parse it the slow way
    return message["stream"], json.dumps(message["data"], separators=(",", ":"))


class ReplayServer(ExchangeEndpoint):
    """Serves the recording at `path`, `speed` times faster than it was recorded."""

    name = "replay"

    def __init__(self, path: str | Path, *, speed: float = 1.0, host: str = "127.0.0.1", port: int = 0,
                 ping_interval_s: float | None = 20.0, ping_timeout_s: float | None = 60.0,
                 weight_limit_per_minute: int = BINANCE_SPOT_WEIGHT_PER_MINUTE,
                 ssl_context: ssl.SSLContext | None = None, certfile: str | Path | None = None,
                 keyfile: str | Path | None = None) -> None:
        if not speed > 0:
            raise ValueError(f"replay speed must be > 0, got {speed}")
        self.path = Path(path)
        self.header = read_header(self.path)
        super().__init__(self.header.symbols, host=host, port=port, ping_interval_s=ping_interval_s,
                         ping_timeout_s=ping_timeout_s, weight_limit_per_minute=weight_limit_per_minute,
                         ssl_context=resolve_tls(ssl_context, certfile, keyfile))
        self.speed = speed
        self.streams = frozenset(self.header.streams)
        self.finished = False
        self.frames_sent = 0
        self.position_us = self.header.started_us  # recording time of the last frame served
        self._snapshots: dict[str, list[RestAnswer]] = {}
        self._answers: dict[tuple[str, tuple], RestAnswer] = {}
        self._next_snapshot: dict[str, int] = {}  # per symbol: the first snapshot not served yet
        self._index_rest()
        self._subscribed = asyncio.Event()

    def _index_rest(self) -> None:
        for entry in read_entries(self.path):
            if not isinstance(entry, RestAnswer):
                continue
            if entry.path == DEPTH and entry.status == 200:
                self._snapshots.setdefault(entry.query.get("symbol", "").upper(), []).append(entry)
            else:
                self._answers.setdefault((entry.path, tuple(sorted(entry.query.items()))), entry)

    # --- the endpoint's hooks ---------------------------------------------------------------
    def _check_stream(self, name: str) -> str:
        canonical = parse_stream(name, self._known).name
        if canonical not in self.streams:
            recorded = ", ".join(sorted(self.streams)[:8]) + (", ..." if len(self.streams) > 8 else "")
            raise ProtocolError(f"Invalid request: stream {name!r} is not in the recording (it holds {recorded})")
        return canonical

    def _on_subscribed(self) -> None:
        self._subscribed.set()

    def status(self) -> dict:
        return {**super().status(), "replay": str(self.path), "speed": self.speed, "finished": self.finished,
                "frames_sent": self.frames_sent, "position_us": self.position_us}

    def _rest(self, method: str, path: str, query: dict[str, str], ip: str) -> RestResult:
        charge = self.limiter.charge(ip, request_weight(path, query), time.time())
        if charge.limited:
            return RestResult(429, self.limiter.error_body(), charge.headers())
        try:
            status, body = self._answer(method, path, query)
        except RestError as error:
            status, body = error.status, {"code": error.code, "msg": error.msg}
        return RestResult(status, body, charge.headers())

    def _answer(self, method: str, path: str, query: dict[str, str]) -> tuple[int, object]:
        if method != "GET":
            raise RestError(404, -1, f"no route {method} {path}")
        if path == "/api/v3/ping":
            return 200, {}
        if path == "/api/v3/time":
            return 200, {"serverTime": self.position_us // 1000}
        if path == DEPTH:
            return 200, self._snapshot(query)
        recorded = self._answers.get((path, tuple(sorted(query.items()))))
        if recorded is None:
            raise RestError(404, -1, f"{path}?{_query_text(query)} is not in the recording")
        return recorded.status, RawJson(recorded.body)

    def _snapshot(self, query: dict[str, str]) -> object:
        symbol = (query.get("symbol") or "").upper()
        if not symbol:
            raise RestError(400, -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
        if symbol not in self._known:
            raise RestError(400, -1121, "Invalid symbol.")
        snapshots = self._snapshots.get(symbol)
        if not snapshots:
            raise RestError(404, -1, f"no {symbol} snapshot in the recording")
        times = [s.t_us for s in snapshots]
        latest = max(0, bisect_right(times, self.position_us) - 1)
        index = min(max(latest, self._next_snapshot.get(symbol, 0)), len(snapshots) - 1)
        self._next_snapshot[symbol] = index + 1
        chosen = snapshots[index]
        limit = parse_depth_limit(query.get("limit"))
        if limit >= int(chosen.query.get("limit", "0") or 0):
            return RawJson(chosen.body)  # as recorded, byte for byte
        book = json.loads(chosen.body)
        return {"lastUpdateId": book["lastUpdateId"], "bids": book["bids"][:limit], "asks": book["asks"][:limit]}

    # --- the feed ------------------------------------------------------------------------------
    async def _run_feed(self) -> None:
        await self._subscribed.wait()
        loop = asyncio.get_running_loop()
        started = loop.time()
        first_us: int | None = None
        since_yield = 0
        for entry in read_entries(self.path):
            if not isinstance(entry, WsFrame):
                continue
            first_us = entry.t_us if first_us is None else first_us
            delay = started + (entry.t_us - first_us) / 1e6 / self.speed - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
                since_yield = 0
            elif (since_yield := since_yield + 1) >= YIELD_EVERY:  # behind: still let clients breathe
                await asyncio.sleep(0)
                since_yield = 0
            self.position_us = entry.t_us
            self._send_recorded(entry.frame)
            self._cut_off_slow_clients()
        self.finished = True
        self._log.info("replay finished", frames=self.frames_sent, file=str(self.path))

    def _send_recorded(self, frame: str | bytes) -> None:
        if isinstance(frame, bytes):
            return  # Binance sends text; a binary frame in a recording has no stream to go to
        try:
            stream, data = split_recorded(frame)
        except (ValueError, KeyError, TypeError):
            stream, data = "", ""  # a control reply or a malformed frame as recorded: nobody subscribed to it
        if self._send_as(stream, data, frame=frame):
            self.events_sent += 1
        self.frames_sent += 1


def _query_text(query: dict[str, str]) -> str:
    return "&".join(f"{k}={v}" for k, v in sorted(query.items()))
