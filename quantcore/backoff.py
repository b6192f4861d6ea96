"""The platform's one retry delay: capped exponential backoff with jitter (pure).

Every reconnect and restart (ingest connections, the shard runner, the serve process's
Redis feed, the client library, the health sensor's restarts) waits `backoff_delay`.
"""

from __future__ import annotations

import random


def backoff_delay(attempt: int, base_s: float, cap_s: float, rng: random.Random | None = None) -> float:
    """Delay before retry number `attempt` (0-based): half of min(cap, base * 2^attempt) fixed,
    the other half random, so many clients that failed together do not retry together."""
    ceiling = min(cap_s, base_s * 2 ** min(attempt, 32))
    return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)


class Backoff:
    """Stateful `backoff_delay`: `next()` gives ~initial, ~2x, ~4x ... capped at `cap`;
    `reset()` after a success."""

    def __init__(self, initial: float, cap: float, rng: random.Random | None = None) -> None:
        if not 0 < initial <= cap:
            raise ValueError(f"backoff needs 0 < initial <= cap, got {initial} and {cap}")
        self.initial = initial
        self.cap = cap
        self._rng = rng or random.Random()
        self.attempts = 0

    def next(self) -> float:
        delay = backoff_delay(self.attempts, self.initial, self.cap, self._rng)
        self.attempts += 1
        return delay

    def reset(self) -> None:
        self.attempts = 0
