"""The Kafka edge of a shard: book records keyed by symbol, trade records (when the shard
reads trades) keyed by symbol on their own topic, dead letters beside them.

Idempotent producer with `acks=all` (no duplicates or reordering on retries), lz4/zstd
compression, 1 ms of linger (`ingest.linger_ms`), Java's murmur2 partitioner (so every client agrees on
a symbol's partition) and a bounded local queue: when it is full, `publish` waits for
deliveries until there is room, which pushes back on the WebSocket reader. While the
broker is away the queue holds what the shard made (the heartbeat's `kafka_pending`), up
to `producer_queue_max` records and `delivery_timeout_s` each, and delivers it in order
once the broker is back. A background
thread serves delivery reports as they arrive, so failures are counted at once and an
acknowledgement is seen when it happens (not at the next poll).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from quantcore.errors import PlatformError
from quantcore.log import get_logger
from quantcore.settings import IngestSettings, KafkaSettings, TradeStreams
from streaming.ingest.counters import IngestCounters

READY_CHECKS = 3  # consecutive healthy metadata answers before producing
READY_INTERVAL_S = 0.2
REPORT_WAIT_S = 0.1  # the report thread blocks this long per poll (wakes at once on a report)
FULL_QUEUE_WAIT_S = 0.01


def producer_config(kafka: KafkaSettings, ingest: IngestSettings, *, report_successes: bool) -> dict:
    return {
        **kafka.client_config(),
        "enable.idempotence": True,
        "acks": "all",
        "compression.type": ingest.compression,
        "linger.ms": ingest.linger_ms,
        "queue.buffering.max.messages": ingest.producer_queue_max,
        "queue.buffering.max.kbytes": 256 * 1024,
        "message.timeout.ms": int(ingest.delivery_timeout_s * 1000),
        "partitioner": "murmur2_random",
        "delivery.report.only.error": not report_successes,
    }


class KafkaSink:
    """Implements the pipeline's `Sink` on a confluent-kafka producer."""

    def __init__(self, kafka: KafkaSettings, ingest: IngestSettings, counters: IngestCounters, *,
                 book_topic: str | None = None, dead_letter_topic: str | None = None,
                 trade_topic: str | None = None, on_ack: Callable[[Message], None] | None = None) -> None:
        self.book_topic = book_topic or kafka.book_topic
        self.dead_letter_topic = dead_letter_topic or kafka.dead_letter_topic
        # one producer for both record kinds: the same acks=all, idempotence and queue bound
        reads_trades = TradeStreams(ingest.trades) is not TradeStreams.off
        self.trade_topic = (trade_topic or kafka.trade_topic) if reads_trades else None
        self._counters = counters
        self._on_ack = on_ack
        config = producer_config(kafka, ingest, report_successes=on_ack is not None)
        self._producer = Producer({**config, "on_delivery": self._delivered, "error_cb": self._client_error})
        self._log = get_logger("ingest.kafka", topic=self.book_topic)
        self._closed = threading.Event()
        self._reports = threading.Thread(target=self._serve_reports, name="kafka-delivery-reports", daemon=True)
        self._reports.start()

    def wait_until_ready(self, timeout_s: float = 60.0) -> None:
        """Block until every topic it writes exists with a leader for every partition, several
        times in a row. Producing into a topic whose metadata is still settling (just created)
        can make librdkafka restart its idempotence sequence and lose the first records
        while reporting them delivered; a missing topic is an operator error, said so."""
        deadline = time.monotonic() + timeout_s
        healthy = 0
        problem = "no answer from Kafka"
        while healthy < READY_CHECKS:
            if time.monotonic() > deadline:
                books_only = " or QUANTCORE_INGEST_TRADES=off for books only" if self.trade_topic else ""
                raise PlatformError(f"Kafka is not ready for ingest: {problem}",
                                    "`quantcore up` starts Kafka and creates the topics (or check "
                                    f"QUANTCORE_KAFKA_BOOTSTRAP and the topic names{books_only})")
            problem = self._topic_problem(min(5.0, max(0.5, deadline - time.monotonic())))
            healthy = healthy + 1 if problem is None else 0
            time.sleep(READY_INTERVAL_S)

    def _topic_problem(self, timeout_s: float) -> str | None:
        for topic in (self.book_topic, self.dead_letter_topic, *([self.trade_topic] if self.trade_topic else [])):
            try:
                metadata = self._producer.list_topics(topic, timeout=timeout_s).topics.get(topic)
            except KafkaException as exc:
                return f"metadata request failed ({exc})"
            if metadata is None or metadata.error is not None or not metadata.partitions:
                return f"topic {topic} does not exist" + (f" ({metadata.error})" if metadata and metadata.error else "")
            if any(p.leader < 0 or p.error is not None for p in metadata.partitions.values()):
                return f"topic {topic} has partitions without a leader"
        return None

    def publish(self, symbol: str, value: bytes) -> None:
        self._produce(self.book_topic, symbol, value)

    def publish_trade(self, symbol: str, value: bytes) -> None:
        if self.trade_topic is None:  # a bug of the caller: the pipeline reads no trades then
            raise RuntimeError("a trade record reached a producer made with ingest.trades off")
        self._produce(self.trade_topic, symbol, value)

    def dead_letter(self, symbol: str, value: bytes) -> None:
        self._produce(self.dead_letter_topic, symbol or None, value)

    def _produce(self, topic: str, key: str | None, value: bytes) -> None:
        producer = self._producer
        while True:
            try:
                producer.produce(topic, value, key)
                break
            except BufferError:  # the bounded queue is full: wait for deliveries
                self._counters.queue_full += 1
                producer.poll(FULL_QUEUE_WAIT_S)

    def _serve_reports(self) -> None:
        while not self._closed.is_set():
            self._producer.poll(REPORT_WAIT_S)

    def pending(self) -> int:
        return len(self._producer)

    def flush(self, timeout_s: float = 30.0) -> int:
        """Deliver everything queued; returns how many messages are still undelivered."""
        remaining = self._producer.flush(timeout_s)
        if remaining:
            self._log.error("messages not delivered", undelivered=remaining)
        return remaining

    def close(self, timeout_s: float = 30.0) -> int:
        """Flush, then stop serving reports; returns how many messages were not delivered."""
        remaining = self.flush(timeout_s)
        if remaining:  # give up on them (Kafka unreachable): each gets a failed, counted report
            self._producer.purge()
            self._producer.flush(1)
        self._closed.set()
        self._reports.join(timeout=5)
        self._producer.close()  # release the client now, not when a reference cycle is collected
        return remaining

    def _delivered(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            count = self._counters.delivery_errors = self._counters.delivery_errors + 1
            if count <= 10 or count % 1000 == 0:
                self._log.error("delivery failed", error=str(error), total=count)
        elif self._on_ack is not None:
            self._on_ack(message)

    def _client_error(self, error: KafkaError) -> None:
        self._log.warning("kafka client error", error=str(error))
