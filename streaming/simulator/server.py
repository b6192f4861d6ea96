"""The simulated exchange's I/O: one port serves the WebSocket streams and the REST API.

WebSocket requests are upgraded (combined `/stream?streams=` and raw `/ws/...`); plain
HTTP requests are answered in websockets' `process_request` hook: Binance's public
market-data routes (`streaming.simulator.rest`: `GET /api/v3/ping`, `/time`,
`/exchangeInfo`, `/depth`, `/ticker/bookTicker`), each charged to the caller's IP against a
request-weight limit per minute (`weight_limit_per_minute`, 6000 as on Binance spot; past it
HTTP 429, error -1003 and `Retry-After`), plus the simulator's own `GET /_status` and
`POST /_faults?kind=gap|crossed|malformed|drop|stall&symbol=&count=&seconds=`, which weigh
nothing. Every HTTP answer carries `X-MBX-USED-WEIGHT-1M` and `X-MBX-USED-WEIGHT`.

TLS: given `ssl_context=` (or `certfile=`/`keyfile=`), the one port speaks TLS only, so it
serves `wss://` and `https://` and `ws_url`/`rest_url` say so; a plain `ws://` or
`http://` client on that port fails its handshake (the server reads its request as a bad
TLS record and closes the connection). There is no second, plain port: run a second
simulator without TLS for plain clients.

One ticker advances the symbols round-robin at `rate_hz` events per symbol per second
and broadcasts each event to the streams that want it: `@100ms` streams get every event,
the 1000 ms streams (`@depth`, `@depth<N>`, and the same names spelled with `@1000ms`)
get one merged diff / one top-N per second. REST snapshots are served from the same model
on the same event loop, so a snapshot's `lastUpdateId` always lines up with the diffs
already sent.
"""

from __future__ import annotations

import asyncio
import http
import json
import ssl
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from quantcore.log import get_logger
from streaming.simulator.faults import Fault, FaultPlan, crossed_partial, malformed_diff, malformed_partial
from streaming.simulator.model import BookEvent, Market
from streaming.simulator.protocol import (
    MAX_INCOMING_PER_SECOND,
    MAX_STREAMS_PER_CONNECTION,
    PARTIAL_DEPTHS,
    SLOW_SUFFIX,
    ProtocolError,
    agg_trade_payload,
    combined_frame,
    diff_payload,
    dumps,
    error_message,
    merge_events,
    parse_control,
    parse_stream,
    parse_ws_path,
    partial_payload,
    result_message,
    trade_payload,
)
from streaming.simulator.rate_limits import BINANCE_SPOT_WEIGHT_PER_MINUTE, WeightLimiter
from streaming.simulator.rest import RestApi, RestResult
from streaming.simulator.tls import resolve as resolve_tls

SLOW_CLIENT_BYTES = 64 * 1024 * 1024  # a client this far behind is cut off, as Binance does
MAX_CATCH_UP_S = 0.5  # after a stall, skip rather than burst more than this much backlog


@dataclass(eq=False)
class _Client:
    connection: ServerConnection
    combined: bool
    streams: set[str] = field(default_factory=set)
    recent: deque[float] = field(default_factory=deque)  # arrival times of incoming messages

    def over_rate_limit(self, now: float) -> bool:
        while self.recent and now - self.recent[0] >= 1.0:
            self.recent.popleft()
        self.recent.append(now)
        return len(self.recent) > MAX_INCOMING_PER_SECOND


@dataclass(frozen=True)
class _StreamNames:
    """The stream names of one symbol, built once (the ticker uses them per event)."""

    fast_diff: str
    slow_diff: str
    fast_partial: dict[int, str]
    slow_partial: dict[int, str]
    trade: str
    agg_trade: str

    @classmethod
    def of(cls, symbol: str) -> "_StreamNames":
        s = symbol.lower()
        return cls(f"{s}@depth@100ms", f"{s}@depth", {n: f"{s}@depth{n}@100ms" for n in PARTIAL_DEPTHS},
                   {n: f"{s}@depth{n}" for n in PARTIAL_DEPTHS}, f"{s}@trade", f"{s}@aggTrade")


class SimulatorServer:
    """A Binance-protocol exchange for `symbols`, deterministic under `seed`."""

    def __init__(self, symbols: list[str], *, host: str = "127.0.0.1", port: int = 0, rate_hz: float = 10.0,
                 seed: int = 7, levels: int = 100, ping_interval_s: float | None = 20.0,
                 ping_timeout_s: float | None = 60.0,
                 weight_limit_per_minute: int = BINANCE_SPOT_WEIGHT_PER_MINUTE,
                 ssl_context: ssl.SSLContext | None = None, certfile: str | Path | None = None,
                 keyfile: str | Path | None = None) -> None:
        self.market = Market(symbols, seed, levels)
        self.symbols = self.market.symbols
        self.host, self.port = host, port
        self.rate_hz = rate_hz
        self.ping_interval_s, self.ping_timeout_s = ping_interval_s, ping_timeout_s
        self.faults = FaultPlan()
        self.events_sent = 0
        self.ssl_context = resolve_tls(ssl_context, certfile, keyfile)
        self.limiter = WeightLimiter(weight_limit_per_minute)
        self.rest = RestApi(self.market, self.limiter, time.time)
        self._known = frozenset(self.symbols)
        self._names = {s: _StreamNames.of(s) for s in self.symbols}
        # each 1000 ms stream is also served under its explicit `@1000ms` name
        self._aliases = {name: name + SLOW_SUFFIX for names in self._names.values()
                         for name in (names.slow_diff, *names.slow_partial.values())}
        self._subs: dict[str, set[_Client]] = {}
        self._clients: set[_Client] = set()
        self._pending_slow: dict[str, BookEvent] = {}
        self._server: Server | None = None
        self._ticker: asyncio.Task | None = None
        self._log = get_logger("simulator")

    # --- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        self._server = await serve(
            self._serve_socket, self.host, self.port, process_request=self._process_request,
            ping_interval=self.ping_interval_s, ping_timeout=self.ping_timeout_s, max_size=2**20,
            compression=None,  # Binance does not negotiate permessage-deflate
            ssl=self.ssl_context,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ticker = asyncio.create_task(self._run_ticker(), name="simulator-ticker")
        self._log.info("simulator listening", url=self.ws_url, symbols=len(self.symbols), rate_hz=self.rate_hz)

    async def stop(self) -> None:
        if self._ticker:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
        if self._server:
            self._server.close()
            await self._server.wait_closed()

    @property
    def tls(self) -> bool:
        return self.ssl_context is not None

    @property
    def ws_url(self) -> str:
        return f"{'wss' if self.tls else 'ws'}://{self.host}:{self.port}"

    @property
    def rest_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    # --- faults (call on the server's event loop) -----------------------------------------
    def inject(self, fault: Fault | str, symbol: str | None = None, count: int = 1, seconds: float = 5.0) -> None:
        fault = Fault(fault)
        if fault is Fault.drop:
            for client in list(self._clients):
                if symbol is None or any(s.startswith(symbol.lower() + "@") for s in client.streams):
                    client.connection.transport.abort()
            self.faults.injected[fault.value] += 1
        elif fault is Fault.stall:
            self._stall(seconds)
            self.faults.injected[fault.value] += 1
        else:
            if symbol is None or symbol.upper() not in self._known:
                raise ProtocolError(f"fault {fault.value} needs a known symbol, got {symbol!r}")
            self.faults.add(fault, symbol.upper(), count)
        self._log.info("fault injected", fault=fault.value, symbol=symbol, count=count)

    def _stall(self, seconds: float) -> None:
        """Stop reading from every client: their pings get no pong until it ends."""
        transports = [c.connection.transport for c in self._clients]
        for transport in transports:
            transport.pause_reading()

        def resume() -> None:
            for transport in transports:
                if not transport.is_closing():
                    transport.resume_reading()

        asyncio.get_running_loop().call_later(seconds, resume)

    def status(self) -> dict:
        return {
            "symbols": len(self.symbols), "connections": len(self._clients), "rate_hz": self.rate_hz,
            "events_sent": self.events_sent, "subscriptions": sum(len(c.streams) for c in self._clients),
            "faults_injected": dict(self.faults.injected), "tls": self.tls,
            "weight_limit_per_minute": self.limiter.limit,
            "update_ids": {s: self.market[s].last_update_id for s in self.symbols},
        }

    # --- WebSocket connections -------------------------------------------------------------
    async def _serve_socket(self, connection: ServerConnection) -> None:
        combined, specs = parse_ws_path(connection.request.path, self._known)
        client = _Client(connection, combined)
        self._clients.add(client)
        self._subscribe(client, [spec.name for spec in specs])
        try:
            async for message in connection:
                if client.over_rate_limit(time.monotonic()):
                    await connection.close(1008, "Too many requests")
                    break
                await connection.send(self._control(client, message))
        except ConnectionClosed:
            pass
        finally:
            self._clients.discard(client)
            self._unsubscribe(client, list(client.streams))

    def _control(self, client: _Client, message: str | bytes) -> str:
        try:
            control = parse_control(message)
        except ProtocolError as exc:
            return error_message(None, str(exc), code=3 if "JSON" in str(exc) else 2)
        try:
            if control.method == "SUBSCRIBE":
                names = [parse_stream(str(p), self._known).name for p in control.params]
                if len(client.streams | set(names)) > MAX_STREAMS_PER_CONNECTION:
                    raise ProtocolError(f"Invalid request: more than {MAX_STREAMS_PER_CONNECTION} streams")
                self._subscribe(client, names)
            elif control.method == "UNSUBSCRIBE":
                self._unsubscribe(client, [str(p) for p in control.params])
            elif control.method == "LIST_SUBSCRIPTIONS":
                return result_message(control.id, sorted(client.streams))
            elif control.method == "SET_PROPERTY":
                params = control.params
                if len(params) != 2 or params[0] != "combined" or not isinstance(params[1], bool):
                    raise ProtocolError("Invalid request: SET_PROPERTY takes ['combined', true|false]")
                client.combined = params[1]
            elif control.method == "GET_PROPERTY":
                if control.params != ["combined"]:
                    return error_message(control.id, "Unknown property", code=0)
                return result_message(control.id, client.combined)
        except ProtocolError as exc:
            return error_message(control.id, str(exc))
        return result_message(control.id)

    def _subscribe(self, client: _Client, names: list[str]) -> None:
        for name in names:
            client.streams.add(name)
            self._subs.setdefault(name, set()).add(client)

    def _unsubscribe(self, client: _Client, names: list[str]) -> None:
        for name in names:
            client.streams.discard(name)
            subscribers = self._subs.get(name)
            if subscribers is not None:
                subscribers.discard(client)
                if not subscribers:
                    del self._subs[name]

    # --- plain HTTP on the same port ---------------------------------------------------------
    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            try:
                parse_ws_path(request.path, self._known)
            except ProtocolError as exc:
                return _json(connection, 400, {"code": -1100, "msg": str(exc)})
            return None
        url = urlsplit(request.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        ip = _client_ip(connection)
        if self.rest.handles(url.path):
            result = self.rest.handle(request.method, url.path, query, ip)
            return _json(connection, result.status, result.body, result.headers)
        route = (request.method, url.path)
        if route == ("GET", "/_status"):
            result = RestResult(200, self.status())
        elif route == ("POST", "/_faults"):
            result = self._faults_route(query)
        else:
            result = RestResult(404, {"code": -1, "msg": f"no route {request.method} {url.path}"})
        used = str(self.limiter.used(ip, time.time()))  # the simulator's own routes weigh nothing
        return _json(connection, result.status, result.body, {"X-MBX-USED-WEIGHT-1M": used, "X-MBX-USED-WEIGHT": used})

    def _faults_route(self, query: dict[str, str]) -> RestResult:
        try:
            self.inject(query.get("kind", ""), query.get("symbol"), int(query.get("count", "1")),
                        float(query.get("seconds", "5")))
        except (ValueError, ProtocolError) as exc:
            kinds = ", ".join(f.value for f in Fault)
            return RestResult(400, {"code": -1100, "msg": f"{exc} (kinds: {kinds})"})
        return RestResult(200, {"ok": True, "faults_injected": dict(self.faults.injected)})

    # --- the ticker ---------------------------------------------------------------------------
    async def _run_ticker(self) -> None:
        loop = asyncio.get_running_loop()
        steps_per_s = self.rate_hz * len(self.symbols)
        max_burst = max(1, int(steps_per_s * MAX_CATCH_UP_S))
        start = loop.time()
        done = 0
        next_slow = start + 1.0
        while True:
            now = loop.time()
            due = int((now - start) * steps_per_s) + 1 - done
            if due > max_burst:  # the loop was blocked: skip, don't burst
                done += due - max_burst
                due = max_burst
            if due > 0:
                now_ms = time.time_ns() // 1_000_000
                for i in range(done, done + due):
                    self._step(self.symbols[i % len(self.symbols)], now_ms)
                done += due
                self._cut_off_slow_clients()
            if now >= next_slow:
                self._flush_slow_streams(time.time_ns() // 1_000_000)
                next_slow = max(next_slow + 1.0, now + 0.5)
            await asyncio.sleep(max(0.0, start + done / steps_per_s - loop.time()))

    def _step(self, symbol: str, now_ms: int) -> None:
        model = self.market[symbol]
        names = self._names[symbol]
        fault = self.faults.take_event_fault(symbol)
        if fault is Fault.gap:
            lost = model.step()  # generated, never sent on the depth streams
            self._pending_slow.pop(symbol, None)  # the slow stream must show the gap too
            self._send_trades(names, lost, now_ms)  # the trade streams are not the ones that lost it
            return
        if fault is Fault.crossed:
            self._flush_slow_diff(symbol, now_ms)
            event = model.crossed_event()
            data = dumps(diff_payload(event, now_ms))
            for name in (names.fast_diff, names.slow_diff):
                self._send(name, data)
            for n in PARTIAL_DEPTHS:
                for name in (names.fast_partial[n], names.slow_partial[n]):
                    if self._wanted(name):
                        self._send(name, crossed_partial(model, n))
            return
        event = model.step()
        self._send_trades(names, event, now_ms)
        if names.fast_diff in self._subs:
            self._send(names.fast_diff, dumps(diff_payload(event, now_ms)))
        if self._wanted(names.slow_diff):
            pending = self._pending_slow.get(symbol)
            self._pending_slow[symbol] = merge_events(pending, event) if pending else event
        for n, name in names.fast_partial.items():
            if self._wanted(name):
                bids, asks = model.top(n)
                self._send(name, dumps(partial_payload(model.last_update_id, bids, asks)))
        if (count := self.faults.take_malformed(symbol)) > 0:
            self._send_malformed(symbol, count, now_ms)

    def _send_trades(self, names: _StreamNames, event: BookEvent, now_ms: int) -> None:
        """Each print of the step, in trade-id order, before the diff that shows its fill."""
        if not event.trades:
            return
        if names.trade in self._subs:
            for trade in event.trades:
                self._send(names.trade, dumps(trade_payload(trade, now_ms)))
        if names.agg_trade in self._subs:
            for trade in event.trades:
                self._send(names.agg_trade, dumps(agg_trade_payload(trade, now_ms)))

    def _send_malformed(self, symbol: str, count: int, now_ms: int) -> None:
        model, names = self.market[symbol], self._names[symbol]
        for _ in range(count):
            variant = self.faults.next_variant()
            for name in (names.fast_diff, names.slow_diff):
                if self._wanted(name):
                    self._send(name, malformed_diff(model, now_ms, variant))
            for n in PARTIAL_DEPTHS:
                for name in (names.fast_partial[n], names.slow_partial[n]):
                    if self._wanted(name):
                        self._send(name, malformed_partial(model, n, variant))

    def _flush_slow_streams(self, now_ms: int) -> None:
        for symbol in self.symbols:
            names = self._names[symbol]
            self._flush_slow_diff(symbol, now_ms)
            for n, name in names.slow_partial.items():
                if self._wanted(name):
                    model = self.market[symbol]
                    bids, asks = model.top(n)
                    self._send(name, dumps(partial_payload(model.last_update_id, bids, asks)))

    def _flush_slow_diff(self, symbol: str, now_ms: int) -> None:
        pending = self._pending_slow.pop(symbol, None)
        if pending is not None:
            self._send(self._names[symbol].slow_diff, dumps(diff_payload(pending, now_ms)))

    def _wanted(self, stream: str) -> bool:
        """Has `stream` (or its `@1000ms` spelling) any subscriber?"""
        alias = self._aliases.get(stream)
        return stream in self._subs or (alias is not None and alias in self._subs)

    def _send(self, stream: str, data_json: str) -> None:
        sent = self._send_as(stream, data_json)
        alias = self._aliases.get(stream)
        if alias is not None:
            sent = self._send_as(alias, data_json) or sent
        if sent:
            self.events_sent += 1

    def _send_as(self, stream: str, data_json: str) -> bool:
        subscribers = self._subs.get(stream)
        if not subscribers:
            return False
        combined = [c.connection for c in subscribers if c.combined]
        raw = [c.connection for c in subscribers if not c.combined]
        if combined:
            broadcast(combined, combined_frame(stream, data_json))
        if raw:
            broadcast(raw, data_json)
        return True

    def _cut_off_slow_clients(self) -> None:
        for client in list(self._clients):
            transport = client.connection.transport
            if transport.get_write_buffer_size() > SLOW_CLIENT_BYTES:
                self._log.warning("dropping a slow client", streams=len(client.streams))
                transport.abort()


def _client_ip(connection: ServerConnection) -> str:
    address = connection.remote_address
    return str(address[0]) if address else "unknown"


def _json(connection: ServerConnection, status: int, body: object, extra: dict[str, str] | None = None) -> Response:
    response = connection.respond(http.HTTPStatus(status), json.dumps(body, separators=(",", ":")))
    headers: Headers = response.headers
    del headers["Content-Type"]
    headers["Content-Type"] = "application/json;charset=UTF-8"
    for name, value in (extra or {}).items():
        headers[name] = value
    return response
