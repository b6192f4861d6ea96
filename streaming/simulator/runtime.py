"""Running the simulator: in the foreground (`quantcore simulator`) or in a background
thread of the caller's process (tests, benchmarks) with a handle to inject faults."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from quantcore.errors import PlatformError
from quantcore.lifecycle import run_service
from quantcore.settings import Settings
from streaming.simulator.faults import Fault
from streaming.simulator.endpoint import ExchangeEndpoint
from streaming.simulator.replay import ReplayServer
from streaming.simulator.server import SimulatorServer


# what a replay takes of the overrides (the market's own: symbols, rate, seed, levels, come from the file)
REPLAY_OPTIONS = frozenset({"host", "port", "ping_interval_s", "ping_timeout_s", "weight_limit_per_minute",
                            "ssl_context", "certfile", "keyfile"})


def build_server(settings: Settings, **overrides: Any) -> ExchangeEndpoint:
    """The exchange `settings` configure: the market model (market symbols; simulator host,
    port, rate, seed, pings, levels, weight limit, TLS), or, with `simulator.replay_file`
    (or the `replay=` override), that recording served at `replay_speed`."""
    sim = settings.simulator
    common: dict[str, Any] = {
        "host": sim.host, "port": sim.port, "ping_interval_s": sim.ping_interval_s,
        "weight_limit_per_minute": sim.weight_limit_per_minute, "certfile": sim.tls_certfile,
        "keyfile": sim.tls_keyfile,
    }
    replay = overrides.pop("replay", None) or sim.replay_file
    speed = overrides.pop("speed", None) or sim.replay_speed
    if replay:
        common.update({k: v for k, v in overrides.items() if v is not None and k in REPLAY_OPTIONS})
        try:
            return ReplayServer(replay, speed=speed, **common)
        except ValueError as exc:
            raise PlatformError(f"cannot replay {replay}: {exc}", "pass --speed > 0") from None
    options = {**common, "symbols": settings.market.symbols, "rate_hz": sim.rate_hz, "seed": sim.seed,
               "levels": sim.levels}
    options.update({k: v for k, v in overrides.items() if v is not None})
    return SimulatorServer(options.pop("symbols"), **options)


class SimulatorHandle:
    """A simulator running on its own event loop in a daemon thread."""

    def __init__(self, server: ExchangeEndpoint) -> None:
        self.server = server
        self._loop = asyncio.new_event_loop()
        self._stopped = asyncio.Event()
        self._ready: Future = Future()
        self._thread = threading.Thread(target=self._run, name="simulator", daemon=True)

    def start(self, timeout: float = 10.0) -> "SimulatorHandle":
        self._thread.start()
        self._ready.result(timeout)  # re-raises a start-up failure (e.g. port in use)
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main())
        finally:
            self._loop.close()

    async def _main(self) -> None:
        try:
            await listen(self.server)
        except PlatformError as exc:
            self._ready.set_exception(exc)
            return
        self._ready.set_result(None)
        await self._stopped.wait()
        await self.server.stop()

    def _call(self, function, *args, **kwargs):
        """Run `function` on the simulator's loop and return its result."""
        async def call():
            return function(*args, **kwargs)
        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(timeout=10)

    @property
    def ws_url(self) -> str:
        return self.server.ws_url

    @property
    def rest_url(self) -> str:
        return self.server.rest_url

    @property
    def port(self) -> int:
        return self.server.port

    def inject(self, fault: Fault | str, symbol: str | None = None, count: int = 1, seconds: float = 5.0) -> None:
        self._call(self.server.inject, fault, symbol, count, seconds)

    def inject_gap(self, symbol: str, count: int = 1) -> None:
        self.inject(Fault.gap, symbol, count)

    def inject_crossed(self, symbol: str, count: int = 1) -> None:
        self.inject(Fault.crossed, symbol, count)

    def inject_malformed(self, symbol: str, count: int = 1) -> None:
        self.inject(Fault.malformed, symbol, count)

    def drop_connections(self, symbol: str | None = None) -> None:
        self.inject(Fault.drop, symbol)

    def stall(self, seconds: float) -> None:
        """Stop reading client data (so pings get no pong) for `seconds`."""
        self.inject(Fault.stall, seconds=seconds)

    def status(self) -> dict:
        return self._call(self.server.status)

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stopped.set)
            self._thread.join(timeout=10)

    def __enter__(self) -> "SimulatorHandle":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_simulator(settings: Settings, **overrides: Any) -> SimulatorHandle:
    """Start a simulator in a background thread; overrides: symbols, port, rate_hz, seed,
    levels, ping_interval_s, ping_timeout_s, host, weight_limit_per_minute, ssl_context,
    replay (a recording) and speed (port 0 picks a free port)."""
    return SimulatorHandle(build_server(settings, **overrides)).start()


async def listen(server: ExchangeEndpoint) -> None:
    """Start serving; a port in use is a PlatformError with the fix."""
    try:
        await server.start()
    except OSError as exc:
        raise PlatformError(f"the simulator cannot listen on {server.host}:{server.port}: {exc.strerror}",
                            "stop the process using that port or set QUANTCORE_SIMULATOR_PORT") from None


class SimulatorProcess:
    """The simulator as a service of the platform's lifecycle (no heartbeat: nothing
    supervises it through Redis; `quantcore up` watches its REST ping)."""

    component = "simulator"
    # a platform service started detached by `quantcore up`, which may exit (`--detach`)
    outlives_parent = True

    def __init__(self, server: ExchangeEndpoint, on_ready: Callable[[ExchangeEndpoint], None]) -> None:
        self.server = server
        self.on_ready = on_ready
        self.instance = f"{server.host}:{server.port}"

    async def start(self) -> None:
        await listen(self.server)
        self.on_ready(self.server)

    def counters(self) -> dict:
        return {}

    def failure(self) -> None:
        return None

    async def stop(self) -> None:
        await self.server.stop()


def run_simulator(settings: Settings, on_ready=lambda server: None, **overrides: Any) -> None:
    """Serve in the foreground until SIGINT/SIGTERM (what `quantcore simulator` runs)."""
    run_service(SimulatorProcess(build_server(settings, **overrides), on_ready))
