"""When the hub fans out: at once for a few subscribers, after a burst has arrived for many.

A burst written by compute (30 updates in one pipelined batch) reaches the server in 2-3
socket reads about 0.4 ms apart: Redis runs the batch's scripts ~16 KiB of input at a
time and flushes subscribers in between. A fan-out round costs ~50 µs of grpc.aio per
subscriber, so at 100 subscribers fanning out the first read at once costs a second round
(twice the messages) and puts the rest of the burst behind 5 ms of writes. With many
subscribers the hub therefore waits until the feed has been quiet for `quiet_s` (at most
`max_wait_s` after the first pending change); below `min_subscribers` a round is cheaper
than the wait and it fans out on the next loop turn as before.

Pure timing logic (times in seconds of the loop's clock), unit-tested alone.
"""

from __future__ import annotations

QUIET_S = 0.0006  # longer than the gap between two reads of one burst (~0.4 ms measured)
MAX_WAIT_S = 0.002  # a feed that never pauses still fans out this often
MIN_SUBSCRIBERS = 10  # 10 x ~50 µs per subscriber: a round costs about the quiet wait


class Coalescer:
    def __init__(self, quiet_s: float = QUIET_S, max_wait_s: float = MAX_WAIT_S,
                 min_subscribers: int = MIN_SUBSCRIBERS) -> None:
        if not 0 <= quiet_s <= max_wait_s:
            raise ValueError(f"coalescing needs 0 <= quiet_s <= max_wait_s, got {quiet_s} and {max_wait_s}")
        self.quiet_s = quiet_s
        self.max_wait_s = max_wait_s
        self.min_subscribers = min_subscribers
        self._first: float | None = None  # arrival of the oldest change not yet fanned out
        self._last = 0.0

    def waits(self, subscribers: int) -> bool:
        """True if a fan-out to this many subscribers should wait for the rest of a burst."""
        return self.quiet_s > 0 and subscribers >= self.min_subscribers

    def arrived(self, now: float) -> None:
        self._last = now
        if self._first is None:
            self._first = now

    def due(self) -> float:
        """When the pending batch should be fanned out (loop time)."""
        first = self._last if self._first is None else self._first
        return min(self._last + self.quiet_s, first + self.max_wait_s)

    def flushed(self) -> None:
        """The pending batch was fanned out: the next arrival starts a new one."""
        self._first = None
