"""Heartbeats and counters of every stream process, kept in Redis for health checks.

Each process instance owns a hash `qc:hb:{component}:{instance}` with `ts_us` (when it
last reported) and its counters. The hash expires if the process stops reporting, and a
sensor treats a heartbeat older than `heartbeat_stale_s` as a dead stream.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping

import redis

from quantcore.log import get_logger
from quantcore.timeutil import now_us

HEARTBEAT_PREFIX = "qc:hb:"

Counters = Mapping[str, int | float | str]


def heartbeat_key(component: str, instance: str) -> str:
    return f"{HEARTBEAT_PREFIX}{component}:{instance}"


def beat(client: redis.Redis, component: str, instance: str, counters: Counters, ttl_s: float) -> None:
    key = heartbeat_key(component, instance)
    fields = {name: json.dumps(value) for name, value in counters.items()}
    pipe = client.pipeline(transaction=True)
    pipe.hset(key, mapping={"ts_us": now_us(), **fields})
    pipe.pexpire(key, int(ttl_s * 1000))
    pipe.execute()


def read_heartbeats(client: redis.Redis, component: str | None = None) -> dict[str, dict]:
    """{"component:instance": {"ts_us": int, counter: value, ...}} for live heartbeats."""
    pattern = f"{HEARTBEAT_PREFIX}{component or '*'}:*"
    found = {}
    for key in client.scan_iter(match=pattern, count=500):
        raw = client.hgetall(key)
        if raw:
            name = key.decode().removeprefix(HEARTBEAT_PREFIX)
            found[name] = {k.decode(): json.loads(v) for k, v in raw.items()}
    return found


class HeartbeatReporter:
    """A daemon thread that reports `counters()` every `interval_s` until stopped."""

    def __init__(self, client: redis.Redis, component: str, instance: str,
                 counters: Callable[[], Counters], interval_s: float, stale_s: float) -> None:
        self._args = (client, component, instance)
        self._counters = counters
        self._interval = interval_s
        self._ttl = stale_s * 4
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{component}", daemon=True)
        self._log = get_logger("heartbeat", component=component, instance=instance)

    def start(self) -> "HeartbeatReporter":
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.report_now()
            self._stop.wait(self._interval)

    def report_now(self) -> None:
        try:
            beat(*self._args, self._counters(), self._ttl)
        except redis.RedisError as exc:  # Redis down: keep streaming, report later
            self._log.warning("heartbeat failed", error=str(exc))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
