"""Keeps the local services up: whatever `quantcore up` started and has since died (broker,
Redis, simulator, Dagster code server, webserver, daemon) is started again after the
restart policy's backoff (`restart_policy.py`).

It runs inside the foreground `quantcore up` (between start-up and Ctrl-C) or, after
`quantcore up --detach`, as its own managed process (`quantcore supervise`, pid file
`supervisor`). Each service's restart count and last exit reason are written next to its
pid file (`<run>/<name>.restarts.json`) for `quantcore status`. `quantcore down` first
leaves a marker (`<run>/down.requested`) so that no watchdog restarts what it stops.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from quantcore.errors import PlatformError
from quantcore_platform.services.process import ManagedProcess, exit_status
from quantcore_platform.services.restart_policy import RestartState, describe_exit

DOWN_MARKER = "down.requested"
CHECK_INTERVAL_S = 0.5


def restarts_file(process: ManagedProcess) -> Path:
    return process.pid_file.with_name(f"{process.name}.restarts.json")


def _pid_of(component) -> int | None:
    record = component.process.record()
    return record.pid if record else None


def read_restarts(process: ManagedProcess) -> dict:
    try:
        return json.loads(restarts_file(process).read_text())
    except (OSError, ValueError):
        return {"restarts": 0, "last_exit": None}


def down_requested(run_dir: Path) -> bool:
    return (run_dir / DOWN_MARKER).exists()


def request_down(run_dir: Path) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / DOWN_MARKER).touch()


def clear_down_request(run_dir: Path) -> None:
    (run_dir / DOWN_MARKER).unlink(missing_ok=True)


class Watchdog:
    """`check()` once per interval: restart what died, when its backoff allows."""

    def __init__(self, components: list, run_dir: Path, report: Callable[[str], None],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.components = components  # started, managed components (platform.Component)
        self.run_dir = run_dir
        self.report = report
        self.clock = clock
        self.states = {c.name: RestartState(**_counts(read_restarts(c.process))) for c in components}
        self._pids = {c.name: _pid_of(c) for c in components}
        now = clock()
        for state in self.states.values():
            state.running(now)

    def check(self) -> None:
        now = self.clock()
        for component in self.components:
            state = self.states[component.name]
            if state.due_at is None:
                if component.process.running() is None:
                    self._died(component, state, now)
            elif state.due(now):
                self._restart(component, state)

    def _died(self, component, state: RestartState, now: float) -> None:
        pid = self._pids.get(component.name)
        reason = describe_exit(exit_status(pid)) if pid else "not running"
        delay = state.died(now, reason) - now
        self._save(component, state)
        self.report(f"{component.name}: {reason}; restarting in {delay:.1f}s (restart {state.restarts + 1})")

    def _restart(self, component, state: RestartState) -> None:
        component.process.pid_file.unlink(missing_ok=True)  # stale: its process is gone
        started = self.clock()
        try:
            component.start()
        except PlatformError as exc:
            problem, now = exc.problem.splitlines()[0], self.clock()
            delay = state.start_failed(now, problem) - now
            self._save(component, state)
            self.report(f"{component.name}: restart failed ({problem}); next try in {delay:.1f}s")
            return
        now = self.clock()
        state.started(now)
        self._pids[component.name] = _pid_of(component)
        self._save(component, state)
        self.report(f"{component.name}: restarted in {now - started:.1f}s "
                    f"(restart {state.restarts}; it had {state.last_exit})")

    def _save(self, component, state: RestartState) -> None:
        restarts_file(component.process).write_text(json.dumps(state.as_dict()))

    def run(self, should_stop: Callable[[], bool]) -> str:
        """Check until `should_stop()` or `quantcore down` asks; returns why it ended."""
        while not should_stop():
            if down_requested(self.run_dir):
                return "quantcore down"
            self.check()
            time.sleep(CHECK_INTERVAL_S)
        return "stop requested"


def _counts(saved: dict) -> dict:
    return {"restarts": int(saved.get("restarts", 0)), "last_exit": saved.get("last_exit")}
