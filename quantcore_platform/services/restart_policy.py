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


def describe_exit(status: int | None) -> str:
    """`killed by SIGKILL`, `exited with code 1`, or why it is unknown."""
    if status is None:
        return "exited (status unknown: started by another quantcore process)"
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            return f"killed by {signal.Signals(number).name}"
        except ValueError:
            return f"killed by signal {number}"
    if os.WIFEXITED(status):
        return f"exited with code {os.WEXITSTATUS(status)}"
    return f"ended (wait status {status})"


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
        self.restarts += 1
        self.due_at = None
        self.up_since = now

    def due(self, now: float) -> bool:
        return self.due_at is not None and now >= self.due_at

    def as_dict(self) -> dict:
        return {"restarts": self.restarts, "last_exit": self.last_exit}
