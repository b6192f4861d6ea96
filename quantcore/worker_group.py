"""A group of worker processes, each restarted with the platform's backoff when it dies.

The ingest shard runner (n shards) and the serve runner (n gRPC servers sharing a port)
are each one `WorkerGroup`. The group is itself a lifecycle service (`quantcore.lifecycle`):
`run_service` polls `failure()`, which restarts the dead; SIGINT/SIGTERM (or `stop`) stop
every worker gracefully, then it returns. Workers get SIGTERM if the group's process itself
is killed (Linux parent-death signal), so none outlives it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from quantcore.backoff import backoff_delay
from quantcore.lifecycle import Heartbeat, die_with_parent, run_service
from quantcore.log import get_logger

STABLE_AFTER_S = 60.0  # a worker that ran this long restarts from the shortest delay again
STOP_TIMEOUT_S = 40.0  # graceful stop (a shard flushes Kafka, a server drains) before SIGKILL
POLL_S = 0.2


@dataclass
class Worker:
    label: str  # `shard-1`, `serve-0`: its key in the group's heartbeat (`<label>_pid`)
    command: list[str]
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    restart_at: float = 0.0
    failures: int = 0  # consecutive short-lived runs (backoff exponent)
    restarts: int = 0
    waits_for: Callable[[], bool] | None = None  # at the group's start: spawn once this is true


class WorkerGroup:
    """`commands` by label, run with `env`; `component` names the group's heartbeat."""

    instance = "runner"

    def __init__(self, component: str, commands: Mapping[str, list[str]], env: dict[str, str], *,
                 backoff_s: float, backoff_max_s: float, start_when: Mapping[str, Callable[[], bool]] | None = None,
                 start_when_max_s: float = 120.0) -> None:
        """`start_when`: workers that start (the first time) only once their condition holds, or
        after `start_when_max_s` anyway; e.g. a standby that would only slow the active's start."""
        self.component = component
        self.workers = [Worker(label, command, waits_for=(start_when or {}).get(label))
                        for label, command in commands.items()]
        self._start_when_max_s = start_when_max_s
        self._env = env
        self._backoff = (backoff_s, backoff_max_s)
        self._log = get_logger(component, workers=len(self.workers))

    # --- the service protocol (quantcore.lifecycle) ---------------------------------------
    def start(self) -> None:
        for worker in self.workers:
            if worker.waits_for is None:
                self._spawn(worker)
            else:
                worker.restart_at = time.monotonic() + self._start_when_max_s

    def failure(self) -> None:
        """Polled by the lifecycle: restart the workers that died (the group itself never fails)."""
        self._supervise()

    def counters(self) -> dict[str, int]:
        counters: dict[str, int] = {"pid": os.getpid(), "restarts": sum(w.restarts for w in self.workers)}
        for worker in self.workers:
            process = worker.process  # read once: the main thread may replace it meanwhile
            counters[f"{worker.label}_pid"] = process.pid if process else 0
        return counters

    def stop(self) -> None:
        running = [w.process for w in self.workers if w.process is not None and w.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._log.error("worker did not stop in time; killing it", pid=process.pid)
                process.kill()
                process.wait()
        self._log.info("all workers stopped")

    def run(self, heartbeat: Heartbeat, stop: threading.Event | None = None) -> int:
        run_service(self, heartbeat, stop, poll_s=POLL_S)
        return 0

    # --- supervision ----------------------------------------------------------------------
    def _spawn(self, worker: Worker) -> None:
        worker.process = subprocess.Popen(worker.command, env=self._env, stdin=subprocess.DEVNULL,
                                          preexec_fn=die_with_parent)
        worker.started_at = time.monotonic()
        self._log.info("worker started", worker=worker.label, pid=worker.process.pid)

    def _supervise(self) -> None:
        now = time.monotonic()
        for worker in self.workers:
            if worker.process is not None and (code := worker.process.poll()) is not None:
                lived = now - worker.started_at
                worker.failures = 0 if lived >= STABLE_AFTER_S else worker.failures + 1
                delay = backoff_delay(max(0, worker.failures - 1), *self._backoff)
                worker.process, worker.restart_at = None, now + delay
                worker.restarts += 1
                self._log.warning("worker exited; restarting", worker=worker.label, exit_code=code,
                                  lived_s=round(lived, 1), restart_in_s=round(delay, 2))
            if worker.process is None and worker.waits_for is not None and worker.waits_for():
                worker.restart_at = now  # its condition came true before the deadline
            if worker.process is None and now >= worker.restart_at:
                worker.waits_for = None  # only the first start waits
                self._spawn(worker)
