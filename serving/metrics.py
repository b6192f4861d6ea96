"""Counters of the serve process and push latency over a window, for the heartbeat.

Updated on the event loop, read by the heartbeat thread: plain ints and a list swapped
whole (atomic under the GIL), so the reader never sees a half-written value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

MAX_WINDOW_SAMPLES = 100_000  # bounded memory between two heartbeats


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of an already sorted sequence; NaN if empty."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


class ServeMetrics:
    def __init__(self) -> None:
        self.clients = 0
        self.messages_sent = 0  # MarketUpdate messages written to clients
        self.updates_sent = 0  # SignalUpdates inside them
        self.updates_received = 0  # accepted from Redis
        self.stale_ignored = 0  # not newer than what the hub holds (e.g. after a resnapshot)
        self.malformed = 0  # channel messages that are not a SignalUpdate of our universe
        self.conflated = 0
        self.drops = 0  # subscribers dropped for lagging
        self.rejected = 0  # streams refused: over serve.max_streams
        self.redis_up = False
        self.redis_reconnects = 0
        self._push_latency_us: list[int] = []

    def record_push(self, updates: int, latency_us: int) -> None:
        self.messages_sent += 1
        self.updates_sent += updates
        if len(self._push_latency_us) < MAX_WINDOW_SAMPLES:
            self._push_latency_us.append(latency_us)

    def take_latency_window(self) -> list[int]:
        window, self._push_latency_us = self._push_latency_us, []
        return window

    def snapshot(self) -> dict[str, int | float]:
        """Counters plus push latency (Redis publish -> server send) since the last call."""
        window = sorted(self.take_latency_window())
        ms = lambda q: round(percentile(window, q) / 1000, 3) if window else -1.0  # noqa: E731
        return {
            "clients": self.clients, "messages_sent": self.messages_sent, "updates_sent": self.updates_sent,
            "updates_received": self.updates_received, "stale_ignored": self.stale_ignored,
            "malformed": self.malformed, "conflated": self.conflated, "drops": self.drops,
            "rejected": self.rejected, "redis_up": int(self.redis_up), "redis_reconnects": self.redis_reconnects,
            "push_samples": len(window), "push_p50_ms": ms(50), "push_p99_ms": ms(99),
        }

    def stream_snapshot(self, stream: str) -> dict[str, int | float]:
        """The counters of a Kafka stream's hub (books, trades), prefixed with its name; push
        latency is Kafka append -> server send there."""
        return {f"{stream}_{name}": value for name, value in self.snapshot().items()
                if not name.startswith("redis_")}
