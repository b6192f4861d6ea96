"""The shard runner: n shard processes, each restarted with backoff when it dies.

`quantcore stream ingest --shards n` (no --shard-id) runs this. Each child is
`python -m streaming.ingest.shard --shard-id i --shards n`, configured by the runner's
settings through the QUANTCORE_* variables of just the sections a shard uses.
SIGINT/SIGTERM (or `stop`) stop every child gracefully (they flush Kafka), then return.
Children get SIGTERM if the runner itself is killed (Linux parent-death signal).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from quantcore.backoff import backoff_delay
from quantcore.lifecycle import Heartbeat, die_with_parent, run_service
from quantcore.log import get_logger
from quantcore.settings import Settings

STABLE_AFTER_S = 60.0  # a child that ran this long restarts from the shortest delay again
STOP_TIMEOUT_S = 40.0  # graceful stop (flush) before SIGKILL
POLL_S = 0.2
SHARD_SECTIONS = ("kafka", "redis", "market", "ingest", "simulator", "heartbeat")  # what a shard reads


def shard_command(shard_id: int, shards: int) -> list[str]:
    return [sys.executable, "-m", "streaming.ingest.shard", "--shard-id", str(shard_id), "--shards", str(shards)]


@dataclass
class _Child:
    shard_id: int
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    restart_at: float = 0.0
    failures: int = 0  # consecutive short-lived runs (backoff exponent)
    restarts: int = 0


class ShardRunner:
    def __init__(self, settings: Settings, shards: int | None = None) -> None:
        self.shards = shards or settings.ingest.shards
        self.settings = settings.override(shards=self.shards).validate("ingest")  # fail here, not in n children
        self.children = [_Child(i) for i in range(self.shards)]
        self._env = self.settings.child_env(*SHARD_SECTIONS)
        self._log = get_logger("ingest.runner", shards=self.shards)

    # --- the service protocol (quantcore.lifecycle) ---------------------------------------
    component, instance = "ingest-runner", "runner"

    def start(self) -> None:
        for child in self.children:
            self._spawn(child)

    def failure(self) -> None:
        """Polled by the lifecycle: restart the children that died (the runner itself never fails)."""
        self._supervise()

    def counters(self) -> dict[str, int]:
        return self.report()

    def stop(self) -> None:
        self._stop_all()

    def run(self, stop: threading.Event | None = None) -> int:
        run_service(self, Heartbeat(self.settings.redis, self.settings.heartbeat), stop, poll_s=POLL_S)
        return 0

    def report(self) -> dict[str, int]:
        counters: dict[str, int] = {"pid": os.getpid(), "restarts": sum(c.restarts for c in self.children)}
        for child in self.children:
            process = child.process  # read once: the main thread may replace it meanwhile
            counters[f"shard-{child.shard_id}_pid"] = process.pid if process else 0
        return counters

    def _spawn(self, child: _Child) -> None:
        child.process = subprocess.Popen(shard_command(child.shard_id, self.shards), env=self._env,
                                         stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
        child.started_at = time.monotonic()
        self._log.info("shard started", shard=child.shard_id, pid=child.process.pid)

    def _supervise(self) -> None:
        now = time.monotonic()
        for child in self.children:
            if child.process is not None and (code := child.process.poll()) is not None:
                lived = now - child.started_at
                child.failures = 0 if lived >= STABLE_AFTER_S else child.failures + 1
                ingest = self.settings.ingest
                delay = backoff_delay(max(0, child.failures - 1), ingest.restart_backoff_s,
                                      ingest.restart_backoff_max_s)
                child.process, child.restart_at = None, now + delay
                child.restarts += 1
                self._log.warning("shard exited; restarting", shard=child.shard_id, exit_code=code,
                                  lived_s=round(lived, 1), restart_in_s=round(delay, 2))
            if child.process is None and now >= child.restart_at:
                self._spawn(child)

    def _stop_all(self) -> None:
        running = [c.process for c in self.children if c.process is not None and c.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._log.error("shard did not stop in time; killing it", pid=process.pid)
                process.kill()
                process.wait()
        self._log.info("all shards stopped")


def run_shard_processes(settings: Settings, shards: int | None = None, stop: threading.Event | None = None) -> int:
    """Run `shards` shard processes under supervision until stopped; returns the exit code."""
    return ShardRunner(settings, shards).run(stop)
