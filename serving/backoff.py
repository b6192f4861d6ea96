"""Exponential backoff with jitter, for reconnecting to Redis (server) and to the server (client)."""

from __future__ import annotations

import random


class Backoff:
    """`next()` gives initial, ~2x, ~4x ... capped at `cap`; `reset()` after a success.

    Jitter (a random 50-100% of the step) keeps many clients that lost the same server
    from reconnecting in lockstep.
    """

    def __init__(self, initial: float, cap: float, factor: float = 2.0, rng: random.Random | None = None) -> None:
        if not 0 < initial <= cap:
            raise ValueError(f"backoff needs 0 < initial <= cap, got {initial} and {cap}")
        self.initial = initial
        self.cap = cap
        self.factor = factor
        self._rng = rng or random.Random()
        self._step = initial
        self.attempts = 0

    def next(self) -> float:
        delay = self._step * (0.5 + self._rng.random() / 2)
        self._step = min(self.cap, self._step * self.factor)
        self.attempts += 1
        return delay

    def reset(self) -> None:
        self._step = self.initial
        self.attempts = 0
