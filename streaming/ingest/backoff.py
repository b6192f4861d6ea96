"""Retry delays: capped exponential backoff with jitter (pure)."""

from __future__ import annotations

import random


def backoff_delay(attempt: int, base_s: float, cap_s: float, rng: random.Random | None = None) -> float:
    """Delay before retry number `attempt` (0-based): half of min(cap, base * 2^attempt) fixed,
    the other half random, so many clients that failed together do not retry together."""
    ceiling = min(cap_s, base_s * 2 ** min(attempt, 32))
    return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)
