"""When a dead local service is restarted, and how its end is described (pure).

A service that dies is restarted after the platform's one backoff (`quantcore.backoff`):
~0.5 s, then doubling to 30 s for a service that keeps dying; one that stayed up for
`stable_after_s` starts again from the short delay. Restarts are counted; the last exit
reason is kept for `quantcore status`.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass, field

from quantcore.backoff import Backoff

INITIAL_DELAY_S, MAX_DELAY_S = 0.5, 30.0
STABLE_AFTER_S = 60.0
CONFIG_ERROR_EXIT = 2  # the CLI's exit code for a PlatformError / ConfigError (one line, the fix)


def describe_exit(status: int | None) -> str:
    """A `waitpid` status in words: `killed by SIGKILL`, `exited with code 1`, or why it is unknown."""
    if status is None:
        return "exited (status unknown: started by another quantcore process)"
    return describe_returncode(os.waitstatus_to_exitcode(status))


def describe_returncode(code: int) -> str:
    """`Popen.returncode` in words (negative: the signal that killed it)."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


@dataclass
class RestartState:
    """One service's restart bookkeeping."""

    restarts: int = 0
    last_exit: str | None = None
    due_at: float | None = None  # when the next start is attempted (None: running)
    up_since: float | None = None
    backoff: Backoff = field(default_factory=lambda: Backoff(INITIAL_DELAY_S, MAX_DELAY_S))

    def died(self, now: float, reason: str) -> float:
        """Record a death; returns when to start it again."""
        if self.up_since is not None and now - self.up_since >= STABLE_AFTER_S:
            self.backoff.reset()
        self.last_exit = reason
        self.up_since = None
        self.due_at = now + self.backoff.next()
        return self.due_at

    def start_failed(self, now: float, reason: str) -> float:
        self.last_exit = f"restart failed: {reason}"
        self.due_at = now + self.backoff.next()
        return self.due_at

    def started(self, now: float) -> None:
        """A restart: counted, and running from `now`."""
        self.restarts += 1
        self.running(now)

    def running(self, now: float) -> None:
        self.due_at = None
        self.up_since = now

    def due(self, now: float) -> bool:
        return self.due_at is not None and now >= self.due_at

    def as_dict(self) -> dict:
        return {"restarts": self.restarts, "last_exit": self.last_exit}


@dataclass
class InPlaceRestarts:
    """A stream's own supervisor (the Dagster op) restarts its process at once, with the
    backoff, at most `max_restarts` times in `window_s`; beyond that, or for a
    configuration error (exit 2: it would fail the same way again), it gives up and the
    run fails, leaving the decision to the health sensor."""

    max_restarts: int = 5
    window_s: float = 600.0
    state: RestartState = field(default_factory=RestartState)
    times: list[float] = field(default_factory=list)

    def after_exit(self, now: float, code: int) -> float | None:
        """Seconds to wait before starting it again, or None to give up."""
        self.times = [t for t in self.times if now - t < self.window_s]
        if code == CONFIG_ERROR_EXIT or len(self.times) >= self.max_restarts:
            return None
        self.times.append(now)
        return self.state.died(now, describe_returncode(code)) - now

    def started(self, now: float) -> None:
        """Any start, the first included (its uptime decides whether the backoff resets)."""
        self.state.running(now)
