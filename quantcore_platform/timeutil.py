"""Time on the platform: integer microseconds since the epoch, UTC, everywhere."""

import time


def now_us() -> int:
    return time.time_ns() // 1_000
