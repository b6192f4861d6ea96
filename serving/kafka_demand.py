"""The Kafka feed runs only while someone subscribes to books or trades.

Every serve process reading every book and trade from Kafka cost the seed's platform about
0.15 of a core for nobody, while the usual client subscribes to signals only (from Redis).
Measured on one platform, 45 s windows, a feed off then on (one books and trades client, so
one of the two serve processes reading), twice: serve 0.070 -> 0.126 and 0.066 -> 0.139
cores, the broker answering its fetches 0.257 -> 0.282 and 0.216 -> 0.306.

So the feed starts when the first `SubscribeBooks` or `SubscribeTrades` client registers, and
stops `serve.kafka_idle_stop_s` after the last one left. A first client waits for the feed:
books for the snapshot (the newest book of each symbol in the lookback window, as at a server
start), trades from the moment it asked (the feed starts the trade partitions at that time,
so nothing printed after the subscription is missed). When the feed stops, the books' state
goes with it: the next client waits for a fresh snapshot instead of getting stale books.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time

from quantcore.log import get_logger
from quantcore.settings import KafkaSettings
from serving.hub import Hub
from serving.kafka_feed import KafkaFeed

log = get_logger("serving.kafka_demand")


def idle_check_interval(idle_stop_s: float) -> float:
    """How often to look for an idle feed: a fraction of the idle time, within [0.05, 5] s."""
    return min(5.0, max(0.05, idle_stop_s / 4))


class KafkaFeedOnDemand:
    def __init__(self, kafka: KafkaSettings, books: Hub, trades: Hub, *, book_lookback_s: float,
                 idle_stop_s: float, loop: asyncio.AbstractEventLoop) -> None:
        self.books, self.trades, self.idle_stop_s = books, trades, idle_stop_s
        self._new_feed = functools.partial(KafkaFeed, kafka, books, trades, book_lookback_s=book_lookback_s, loop=loop)
        self.feed: KafkaFeed | None = None
        self.thread: threading.Thread | None = None
        self.starts = 0
        self._errors_before = 0  # librdkafka errors of the feeds stopped before this one
        self._idle_since: float | None = None
        books.on_register = trades.on_register = self.wanted

    @property
    def running(self) -> bool:
        return self.feed is not None and not self.feed.stopped

    @property
    def errors(self) -> int:
        return self._errors_before + (self.feed.errors if self.feed is not None else 0)

    def wanted(self) -> None:
        """A client subscribed to books or trades (on the loop): start the feed if it is not running."""
        self._idle_since = None
        if self.running:
            return
        self.feed = self._new_feed(trades_since_ms=int(time.time() * 1000))
        self.thread = self.feed.start()
        self.starts += 1
        log.info("reading books and trades from Kafka: a client subscribed", starts=self.starts)

    def stop(self) -> None:
        """Stop the feed (its thread ends within a poll) and forget what it read."""
        if not self.running:
            return
        self.feed.stop()
        self._errors_before += self.feed.errors
        self.feed = None
        self.books.loaded = self.trades.loaded = False
        self.books.state = {}
        log.info("stopped reading books and trades from Kafka: no client for a while", idle_s=self.idle_stop_s)

    def failure(self) -> str | None:
        if self.running and self.thread is not None and not self.thread.is_alive():
            return "the Kafka feed thread ended"
        return None

    def idle_check(self, now: float) -> None:
        """Stop the feed once no book or trade client has been there for `idle_stop_s`."""
        if not self.running or self.books.subscribers or self.trades.subscribers:
            self._idle_since = None
            return
        if self._idle_since is None:
            self._idle_since = now
        elif now - self._idle_since >= self.idle_stop_s:
            self.stop()

    async def run_idle_stopper(self) -> None:
        interval = idle_check_interval(self.idle_stop_s)
        while True:
            await asyncio.sleep(interval)
            self.idle_check(time.monotonic())
