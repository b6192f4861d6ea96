"""One lifecycle for every long-running process of the platform.

A *service* is anything with `start`, `counters`, `failure` and `stop` (sync or async
methods, see `Service`). `run_service` is the one runner every process uses (the simulator,
an ingest shard, the shard runner, compute, serve): it

1. dies with its parent (Linux parent-death signal), so no process of ours outlives the
   supervisor that started it;
2. starts the service (an async `start` that waits, such as a standby waiting for its turn,
   is cancelled by a signal or `stop`, and the service is stopped without running);
3. turns SIGINT/SIGTERM (main thread only) or the caller's `stop` event into a graceful stop;
4. reports a heartbeat with the service's counters to Redis every `interval_s` (best effort:
   a Redis outage never stops the service);
5. polls `failure()` and, when it says why the service cannot go on, stops it and raises
   `ServiceFailed` (the process exits non-zero and its supervisor restarts it);
6. stops the service, then sends a last heartbeat with the final counters.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import inspect
import signal
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from quantcore.clients import redis_client
from quantcore.errors import PlatformError
from quantcore.heartbeats import HeartbeatReporter
from quantcore.log import get_logger
from quantcore.settings import HeartbeatSettings, RedisSettings

PR_SET_PDEATHSIG = 1

try:  # resolved at import: nothing to load in a forked child before exec
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux
    _prctl = None


class ServiceFailed(PlatformError):
    """The service reported a failure it cannot recover from (its supervisor restarts it)."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem, "read the log above; its supervisor restarts it")


class Service(Protocol):
    """What the runner needs of a long-running process. Each method may be sync or async.

    Optional: `outlives_parent = True` on a platform service (the simulator) that must keep
    running after the command that started it returns (`quantcore up --detach`); without it
    the process gets a parent-death signal, so a stream or shard never outlives its supervisor.
    """

    component: str  # heartbeat component (`qc:hb:{component}:{instance}`)
    instance: str

    def start(self) -> Any: ...
    def counters(self) -> Mapping[str, int | float | str]: ...
    def failure(self) -> str | None: ...
    def stop(self) -> Any: ...


@dataclass(frozen=True)
class Heartbeat:
    """Where and how often the runner reports (None: no heartbeat, e.g. the simulator)."""

    redis: RedisSettings
    settings: HeartbeatSettings


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Ask the kernel to send `sig` to this process when its parent dies. Also usable as a
    `preexec_fn`, between fork and exec."""
    if _prctl is not None:
        _prctl(PR_SET_PDEATHSIG, sig)


CANCEL_RETRY_S = 0.5


async def cancel_and_wait(tasks: list[asyncio.Task], retry_s: float = CANCEL_RETRY_S) -> None:
    """Cancel a service's background tasks and wait until every one has ended.

    A cancel can be swallowed by a library: serve's Redis feed, stopped right after it
    started, lost its cancel somewhere in redis-py while connecting and subscribing (in
    about one start in ten; redis/redis-py#2551 and #2028 are this family), went on into its
    read loop, and the stop waited for it forever. A task still running after `retry_s` is therefore cancelled again. An
    exception a task ended with (not a cancel) is raised, as awaiting it would.
    """
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=retry_s)
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()


async def _call(method, *args):
    result = method(*args)
    return await result if inspect.isawaitable(result) else result


async def _start(service: Service, stopping: asyncio.Event, stop: threading.Event | None, poll_s: float) -> bool:
    """Start `service`; False if a signal or `stop` came first (the start is cancelled)."""
    starting = asyncio.ensure_future(_call(service.start))
    while not starting.done():
        if stopping.is_set() or (stop is not None and stop.is_set()):
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
            return False
        await asyncio.wait({starting}, timeout=min(poll_s, 0.2))
    starting.result()  # start's own exception, if any
    return True


def run_service(service: Service, heartbeat: Heartbeat | None = None, stop: threading.Event | None = None,
                poll_s: float = 0.5) -> None:
    """Run `service` until a signal, `stop`, or its failure (see the module doc). Blocks;
    owns an event loop of its own (async services run on it)."""
    asyncio.run(run_service_async(service, heartbeat, stop, poll_s))


async def run_service_async(service: Service, heartbeat: Heartbeat | None = None,
                            stop: threading.Event | None = None, poll_s: float = 0.5) -> None:
    """`run_service` on the running loop (for callers that already have one)."""
    log = get_logger("lifecycle", component=service.component, instance=service.instance)
    stopping = asyncio.Event()
    main_thread = threading.current_thread() is threading.main_thread()
    if main_thread:
        if not getattr(service, "outlives_parent", False):
            die_with_parent()  # a stream or shard goes when its supervisor goes
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping.set)
    if not await _start(service, stopping, stop, poll_s):
        log.info("stopped before it started")
        await _call(service.stop)
        return
    reporter = _reporter(service, heartbeat)
    problem = None
    try:
        while not stopping.is_set() and not (stop is not None and stop.is_set()):
            if (problem := await _call(service.failure)) is not None:
                break
            try:
                await asyncio.wait_for(stopping.wait(), poll_s)
            except TimeoutError:
                pass
        log.info("stopping", reason=problem or "stop requested")
    finally:
        try:
            await _call(service.stop)
        finally:
            if reporter is not None:
                reporter.stop()
                reporter.report_now()  # the final counters
            if main_thread:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    asyncio.get_running_loop().remove_signal_handler(sig)
    if problem is not None:
        raise ServiceFailed(f"{service.component} failed: {problem}")


def _reporter(service: Service, heartbeat: Heartbeat | None) -> HeartbeatReporter | None:
    if heartbeat is None:
        return None
    client = redis_client(heartbeat.redis, socket_timeout=2, socket_connect_timeout=2)
    return HeartbeatReporter(client, service.component, service.instance, service.counters,
                             heartbeat.settings.interval_s, heartbeat.settings.stale_s).start()
