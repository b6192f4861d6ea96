"""The I/O half of a Binance-protocol exchange: one port, WebSocket streams and REST.

`ExchangeEndpoint` owns everything that does not depend on where the market comes from:
the listener (optionally TLS), the clients and their subscriptions (combined
`/stream?streams=` and raw `/ws/...` endpoints, SUBSCRIBE / UNSUBSCRIBE /
LIST_SUBSCRIPTIONS / SET_PROPERTY / GET_PROPERTY control messages, Binance's 5 incoming
messages per second), the fan-out of each frame to its subscribers, cutting off slow
clients, the connection faults (`drop`, `stall`), and plain HTTP on the same port
(`GET /_status`, `POST /_faults`, every other route handed to the subclass).

Two feeds subclass it: `SimulatorServer` (the seeded market model, `server.py`) and
`ReplayServer` (a recorded session, `replay.py`). A subclass provides the feed
coroutine (`_run_feed`), which stream names it serves (`_check_stream`), its REST routes
(`_rest`), the faults it supports beyond the connection ones (`_inject_feed_fault`) and
its `status()`.

TLS: given an `ssl.SSLContext`, the one port speaks TLS only (`wss://`, `https://`); a
plain client on it fails its handshake. There is no second, plain port.
"""

from __future__ import annotations

import asyncio
import http
import json
import ssl
import time
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from quantcore.log import get_logger
from streaming.simulator.faults import Fault, FaultPlan
from streaming.simulator.protocol import (
    MAX_INCOMING_PER_SECOND,
    MAX_STREAMS_PER_CONNECTION,
    ProtocolError,
    combined_frame,
    error_message,
    parse_control,
    parse_ws_path,
    result_message,
)
from streaming.simulator.rate_limits import WeightLimiter
from streaming.simulator.rest import RawJson, RestResult

SLOW_CLIENT_BYTES = 64 * 1024 * 1024  # a client this far behind is cut off, as Binance does


@dataclass(eq=False)
class Client:
    connection: ServerConnection
    combined: bool
    streams: set[str] = field(default_factory=set)
    recent: deque[float] = field(default_factory=deque)  # arrival times of incoming messages

    def over_rate_limit(self, now: float) -> bool:
        while self.recent and now - self.recent[0] >= 1.0:
            self.recent.popleft()
        self.recent.append(now)
        return len(self.recent) > MAX_INCOMING_PER_SECOND


class ExchangeEndpoint:
    """Clients, subscriptions and HTTP of one listening port; subclasses feed the frames."""

    name = "exchange"

    def __init__(self, symbols: list[str], *, host: str, port: int, ping_interval_s: float | None,
                 ping_timeout_s: float | None, weight_limit_per_minute: int,
                 ssl_context: ssl.SSLContext | None) -> None:
        self.symbols = symbols
        self.host, self.port = host, port
        self.ping_interval_s, self.ping_timeout_s = ping_interval_s, ping_timeout_s
        self.ssl_context = ssl_context
        self.limiter = WeightLimiter(weight_limit_per_minute)
        self.faults = FaultPlan()
        self.events_sent = 0
        self._known = frozenset(symbols)
        self._subs: dict[str, set[Client]] = {}
        self._clients: set[Client] = set()
        self._server: Server | None = None
        self._feed: asyncio.Task | None = None
        self._log = get_logger(self.name)

    # --- what a feed provides ----------------------------------------------------------
    async def _run_feed(self) -> None:
        raise NotImplementedError

    def _check_stream(self, name: str) -> str:
        """The canonical name of a stream a client asks for; ProtocolError if not served."""
        raise NotImplementedError

    def _rest(self, method: str, path: str, query: dict[str, str], ip: str) -> RestResult | None:
        """The answer to a `/api/...` request, or None for "no such route"."""
        return None

    def _inject_feed_fault(self, fault: Fault, symbol: str | None, count: int) -> None:
        raise ProtocolError(f"fault {fault.value} is not supported by the {self.name}")

    def status(self) -> dict:
        return {"symbols": len(self.symbols), "connections": len(self._clients), "events_sent": self.events_sent,
                "subscriptions": sum(len(c.streams) for c in self._clients), "tls": self.tls,
                "faults_injected": dict(self.faults.injected), "weight_limit_per_minute": self.limiter.limit}

    # --- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        self._server = await serve(
            self._serve_socket, self.host, self.port, process_request=self._process_request,
            ping_interval=self.ping_interval_s, ping_timeout=self.ping_timeout_s, max_size=2**20,
            compression=None,  # Binance does not negotiate permessage-deflate
            ssl=self.ssl_context,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._feed = asyncio.create_task(self._run_feed(), name=f"{self.name}-feed")
        self._log.info(f"{self.name} listening", url=self.ws_url, symbols=len(self.symbols))

    async def stop(self) -> None:
        if self._feed:
            self._feed.cancel()
            await asyncio.gather(self._feed, return_exceptions=True)
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
            self._inject_feed_fault(fault, symbol, count)
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

    # --- WebSocket connections -------------------------------------------------------------
    def _parse_path(self, path: str) -> tuple[bool, list[str]]:
        combined, specs = parse_ws_path(path, self._known)
        return combined, [self._check_stream(spec.name) for spec in specs]

    async def _serve_socket(self, connection: ServerConnection) -> None:
        combined, names = self._parse_path(connection.request.path)
        client = Client(connection, combined)
        self._clients.add(client)
        self._subscribe(client, names)
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

    def _control(self, client: Client, message: str | bytes) -> str:
        try:
            control = parse_control(message)
        except ProtocolError as exc:
            return error_message(None, str(exc), code=3 if "JSON" in str(exc) else 2)
        try:
            if control.method == "SUBSCRIBE":
                names = [self._check_stream(str(p)) for p in control.params]
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

    def _subscribe(self, client: Client, names: list[str]) -> None:
        for name in names:
            client.streams.add(name)
            self._subs.setdefault(name, set()).add(client)
        if names:
            self._on_subscribed()

    def _on_subscribed(self) -> None:
        """A client subscribed to something (the replay feed starts its clock here)."""

    def _unsubscribe(self, client: Client, names: list[str]) -> None:
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
                self._parse_path(request.path)
            except ProtocolError as exc:
                return _json(connection, 400, {"code": -1100, "msg": str(exc)})
            return None
        url = urlsplit(request.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        ip = _client_ip(connection)
        if url.path.startswith("/api/"):
            result = self._rest(request.method, url.path, query, ip)
            if result is None:
                result = RestResult(404, {"code": -1, "msg": f"no route {request.method} {url.path}"},
                                    self.limiter.charge(ip, 1, time.time()).headers())
            return _json(connection, result.status, result.body, result.headers)
        route = (request.method, url.path)
        if route == ("GET", "/_status"):
            result = RestResult(200, self.status())
        elif route == ("POST", "/_faults"):
            result = self._faults_route(query)
        else:
            result = RestResult(404, {"code": -1, "msg": f"no route {request.method} {url.path}"})
        used = str(self.limiter.used(ip, time.time()))  # the endpoint's own routes weigh nothing
        return _json(connection, result.status, result.body, {"X-MBX-USED-WEIGHT-1M": used, "X-MBX-USED-WEIGHT": used})

    def _faults_route(self, query: dict[str, str]) -> RestResult:
        try:
            self.inject(query.get("kind", ""), query.get("symbol"), int(query.get("count", "1")),
                        float(query.get("seconds", "5")))
        except (ValueError, ProtocolError) as exc:
            kinds = ", ".join(f.value for f in Fault)
            return RestResult(400, {"code": -1100, "msg": f"{exc} (kinds: {kinds})"})
        return RestResult(200, {"ok": True, "faults_injected": dict(self.faults.injected)})

    # --- fan-out ------------------------------------------------------------------------------
    def _send_as(self, stream: str, data_json: str, frame: str | None = None) -> bool:
        """Send one payload on `stream`: combined clients get the `{"stream","data"}` frame
        (`frame` when already built, e.g. recorded), raw clients the bare payload."""
        subscribers = self._subs.get(stream)
        if not subscribers:
            return False
        combined = [c.connection for c in subscribers if c.combined]
        raw = [c.connection for c in subscribers if not c.combined]
        if combined:
            broadcast(combined, frame if frame is not None else combined_frame(stream, data_json))
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
    text = body if isinstance(body, RawJson) else json.dumps(body, separators=(",", ":"))
    response = connection.respond(http.HTTPStatus(status), text)
    headers: Headers = response.headers
    del headers["Content-Type"]
    headers["Content-Type"] = "application/json;charset=UTF-8"
    for name, value in (extra or {}).items():
        headers[name] = value
    return response
