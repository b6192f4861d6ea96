"""Books and trades for `SubscribeBooks` / `SubscribeTrades`, read straight from Kafka.

Why Kafka and not Redis: books and trades need no computation. Redis holds what the compute
stream *computed* (the newest signals per symbol); the raw books and trades are already in
Kafka, in order per symbol (keyed by symbol), with the broker's append time. Copying them
through compute into Redis would add a hop and a second copy for nothing.

One confluent-kafka consumer per serve process, in a thread of its own (the client blocks),
`assign`ed to every partition of the book and trade topics: no consumer group (every server
process reads everything; nothing to rebalance) and no commits (the position means nothing
after a restart). Records reach the event loop in batches (`call_soon_threadsafe`) and are
offered to the books or trades hub.

At start (and so at every restart: this is all the state there is):

- Books: every book record is a whole book (top `market.depth` levels: a partial snapshot in
  `BOOK_MODE_PARTIAL_SNAPSHOT` mode, the locally maintained book in `BOOK_MODE_LOCAL_BOOK`
  mode), so the newest record of a symbol is its current book. Each book partition is read
  from `serve.book_lookback_s` ago (`offsets_for_times`) up to its end as of the start; the
  newest record per symbol becomes the books hub's snapshot, and only then do subscribers get
  their first message (like the Redis snapshot). A symbol with no book in that window gets
  none until its next book. Then every new record is an update.
- Trades: from `trades_since_ms` (the moment the first client asked, see
  `serving.kafka_demand`), else from the end. A trade stream has no snapshot; trades printed
  while a server was down are not replayed to its clients (they see the jump in `trade_id`).

Nothing a stopped feed read reaches the hubs afterwards: its batches are dropped on the loop.

librdkafka reconnects to the brokers by itself and the assignment keeps its position, so a
Kafka restart is a pause, not a resnapshot. If the topics cannot be read at start (Kafka down,
topic missing) the feed retries with backoff; book subscribers wait for their snapshot.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Consumer, KafkaError, KafkaException, TopicPartition

from quantcore.backoff import Backoff
from quantcore.log import get_logger
from quantcore.settings import KafkaSettings
from serving.hub import Hub

log = get_logger("serving.kafka_feed")

POLL_S = 0.1  # a stop is noticed within this long
BATCH = 2000  # records handed to the loop at most at once
METADATA_TIMEOUT_S = 1.0


class KafkaFeed:
    def __init__(self, kafka: KafkaSettings, books: Hub, trades: Hub, *, book_lookback_s: float,
                 loop: asyncio.AbstractEventLoop, trades_since_ms: int | None = None) -> None:
        self.kafka = kafka
        self.books = books
        self.trades = trades
        self.book_lookback_s = book_lookback_s
        self.trades_since_ms = trades_since_ms
        self.loop = loop
        self._stop = threading.Event()
        self.errors = 0  # librdkafka errors reported (broker down, ...)
        self.restarts = 0

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def start(self) -> threading.Thread:
        """Run in a daemon thread. A server's stop does not wait for it: it ends within a poll
        (or a metadata timeout while Kafka is down) and then only closes its consumer."""
        thread = threading.Thread(target=self.run, name="kafka-feed", daemon=True)
        thread.start()
        return thread

    def _to_loop(self, callback, *args) -> None:
        try:
            self.loop.call_soon_threadsafe(self._unless_stopped, callback, args)
        except RuntimeError:  # the loop is closed: the server is gone
            self._stop.set()

    def _unless_stopped(self, callback, args: tuple) -> None:
        """On the loop, where `stop()` is called: a stopped feed's last batch never lands."""
        if not self._stop.is_set():
            callback(*args)

    def run(self) -> None:
        """Until `stop()`: read, and on a failure to set up (Kafka down at start) retry with backoff."""
        backoff = Backoff(initial=0.1, cap=2.0)
        while not self._stop.is_set():
            consumer = self._consumer()
            try:
                self._follow(consumer)
                return
            except KafkaException as exc:
                self.restarts += 1
                if self.restarts in (1, 10) or self.restarts % 100 == 0:
                    log.warning("cannot read the book and trade topics yet; retrying",
                                error=str(exc), attempts=self.restarts)
            finally:
                consumer.close()
            self._stop.wait(backoff.next())

    def _consumer(self) -> Consumer:
        def on_error(error: KafkaError) -> None:
            self.errors += 1
            if self.errors in (1, 10, 100) or self.errors % 1000 == 0:
                log.warning("Kafka client error (it reconnects by itself)", error=error.str(), total=self.errors)

        return Consumer({**self.kafka.client_config(), "group.id": f"quantcore-serve-{uuid.uuid4().hex}",
                         "enable.auto.commit": False, "auto.offset.reset": "latest", "log_level": 0,
                         "error_cb": on_error, "fetch.wait.max.ms": 100})

    def _partitions(self, consumer: Consumer, topic: str) -> list[int]:
        metadata = consumer.list_topics(topic, timeout=METADATA_TIMEOUT_S).topics.get(topic)
        if metadata is None or metadata.error is not None or not metadata.partitions:
            raise KafkaException(KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART, f"topic {topic} cannot be read"))
        return sorted(metadata.partitions)

    def _follow(self, consumer: Consumer) -> None:
        book_topic, trade_topic = self.kafka.book_topic, self.kafka.trade_topic
        book_partitions = self._partitions(consumer, book_topic)
        trade_partitions = self._partitions(consumer, trade_topic)
        since_ms = int((time.time() - self.book_lookback_s) * 1000)
        starts = consumer.offsets_for_times([TopicPartition(book_topic, p, since_ms) for p in book_partitions],
                                            timeout=METADATA_TIMEOUT_S)
        ends = _ends(consumer, book_topic, book_partitions)
        # (offsets_for_times gives a negative offset where nothing was written since the time)
        catching_up = {s.partition for s in starts if 0 <= s.offset < ends[s.partition]}
        # Explicit end offsets, not OFFSET_END (resolved later, when fetching starts): what is
        # written once this returns is read, which a caller waiting for `loaded` relies on.
        trade_starts = _ends(consumer, trade_topic, trade_partitions)
        if self.trades_since_ms is not None:  # (negative: nothing written since then, so the end)
            since = consumer.offsets_for_times([TopicPartition(trade_topic, p, self.trades_since_ms)
                                                for p in trade_partitions], timeout=METADATA_TIMEOUT_S)
            trade_starts.update({t.partition: t.offset for t in since if t.offset >= 0})
        consumer.assign([TopicPartition(book_topic, s.partition, s.offset if s.partition in catching_up
                                        else ends[s.partition]) for s in starts]
                        + [TopicPartition(trade_topic, p, offset) for p, offset in trade_starts.items()])
        self._to_loop(setattr, self.trades, "loaded", True)  # trades from here on reach subscribers
        log.info("reading books and trades from Kafka", book_topic=book_topic, trade_topic=trade_topic,
                 book_lookback_s=self.book_lookback_s, book_partitions_to_read=len(catching_up))
        snapshot: dict[str, bytes] | None = {}
        append_us: dict[str, int] = {}
        while not self._stop.is_set():
            if snapshot is not None and not catching_up:
                self._to_loop(self.books.replace_state, snapshot, append_us)
                log.info("books snapshot read from Kafka", symbols=len(snapshot))
                snapshot = None
            first = consumer.poll(POLL_S)
            if first is None:
                continue
            batch = []
            for message in (first, *consumer.consume(BATCH, timeout=0)):
                if message.error() is not None:
                    if message.error().code() != KafkaError._PARTITION_EOF:
                        self.errors += 1
                    continue
                if message.value() is None:
                    continue
                kind, ms = message.timestamp()
                appended = 0 if kind == TIMESTAMP_NOT_AVAILABLE else ms * 1000
                if message.topic() == trade_topic:
                    batch.append((self.trades, message.value(), appended))
                elif snapshot is None:
                    batch.append((self.books, message.value(), appended))
                else:  # still finding the newest book per symbol: newer records replace older ones
                    key = (message.key() or b"").decode(errors="replace") or f"{message.partition()}@{message.offset()}"
                    snapshot[key], append_us[key] = message.value(), appended
                    if message.offset() >= ends.get(message.partition(), 0) - 1:
                        catching_up.discard(message.partition())
            if batch:
                self._to_loop(_deliver, batch)


def _ends(consumer: Consumer, topic: str, partitions: list[int]) -> dict[int, int]:
    """{partition: high watermark}: the offset of the next record written. Raises (the feed
    retries) while a partition has none yet: a topic just created, a leader being elected."""
    ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=METADATA_TIMEOUT_S)[1]
            for p in partitions}
    unknown = sorted(p for p, offset in ends.items() if offset < 0)
    if unknown:
        raise KafkaException(KafkaError(KafkaError.LEADER_NOT_AVAILABLE,
                                        f"{topic}: no end offset yet for partitions {unknown[:5]}"))
    return ends


def _deliver(batch: list[tuple[Hub, bytes, int]]) -> None:
    """On the event loop: offer a batch of records, in the order Kafka gave them."""
    for hub, payload, appended in batch:
        hub.offer(payload, appended)
