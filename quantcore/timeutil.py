"""Time on the platform: integer microseconds since the epoch, UTC, everywhere; days are UTC."""

import time
from datetime import UTC, date, datetime, timedelta

MS_PER_DAY = 86_400_000
US_PER_DAY = MS_PER_DAY * 1000


def now_us() -> int:
    return time.time_ns() // 1_000


def day_start_ms(day: date) -> int:
    """Milliseconds since the epoch at 00:00 UTC of `day`."""
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def day_of_ms(timestamp_ms: int) -> date:
    """The UTC day a millisecond timestamp falls in."""
    return date(1970, 1, 1) + timedelta(days=timestamp_ms // MS_PER_DAY)
