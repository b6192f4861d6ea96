"""The trade-flow writer: a thread of the compute process's active driver that consumes the
trade topic and writes each trade's window values (trade_flow.py) to Redis.

Not Spark: a trade needs no heavy decoding, Spark 4.2's real-time trigger keeps no state,
and a symbol's trades all sit in one partition of the trade topic (the key is the symbol),
so one in-order consumer per process keeps every symbol's windows exactly. The values are
evaluated at each trade, not at book times, so they do not depend on how the book and trade
partitions happen to interleave: the replay gives the same (trade_replay.py).

The consumer `assign`s every partition of the trade topic (no group, no commits). Where it
starts: each partition's progress in Redis (the Kafka time of the last record the previous
writer saw; none: now), at most MAX_CATCHUP_S back, minus the longest window and a margin
(WARMUP_MARGIN_S: Kafka timestamps trail trade times). The records before that resume point
only warm the windows up, and a trade already in Redis (trade id not above the stored one)
is not published again, so after a restart the windows are exact at once and nothing is
published twice. Partitions added to the topic while it runs are picked up at the next start.

Delivery: per poll, dead letters (bad records, with their reason, to the dead-letter topic)
then one pipelined Redis write of the flows and the progress; a failure is retried with
the same batch until it succeeds (write-if-newer makes the retry harmless). An unexpected
error ends the thread: `alive` turns false and `error` says why (the compute process
reports it as a failure of the stream).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from quantcore.backoff import Backoff
from quantcore.log import get_logger
from quantcore.settings import KafkaSettings, RedisSettings
from quantcore.timeutil import now_us
from streaming.spark.consumer_thread import ConsumerThread
from streaming.spark.trade_flow import WINDOWS_US, Batch, TradeFlowProcessor, TradeFlowState, TradeFlowStore

BATCH = 5000  # records per poll at most: one Redis round trip each
POLL_S = 0.1
MAX_CATCHUP_S = 600  # a restart publishes at most this far back
WARMUP_MARGIN_S = 10  # read this much more than the longest window before the resume point
TOPIC_WAIT_S = 1.0  # how often a missing trade topic is looked for again
RETRY_INITIAL_S, RETRY_MAX_S = 0.2, 5.0


def start_offsets_ms(partitions: list[int], progress: dict[int, int], now_ms: int,
                     windows_us=WINDOWS_US) -> tuple[dict[int, int], dict[int, int]]:
    """({partition: resume point}, {partition: Kafka time to start reading at}), in ms."""
    resume = {p: max(min(progress.get(p, now_ms), now_ms), now_ms - MAX_CATCHUP_S * 1000) for p in partitions}
    back_ms = max(windows_us) // 1000 + WARMUP_MARGIN_S * 1000
    return resume, {p: ms - back_ms for p, ms in resume.items()}


class TradeFlowWriter(ConsumerThread):
    """A daemon thread: trade topic -> TradeFlowProcessor -> Redis, until `stop()`."""

    role = "trade-flow writer"

    def __init__(self, kafka: KafkaSettings, redis: RedisSettings, topic: str | None = None,
                 windows_us=WINDOWS_US, store: TradeFlowStore | None = None,
                 send_dead_letters: Callable[[list], int] | None = None) -> None:
        self.kafka, self.redis = kafka, redis
        self.topic = topic or kafka.trade_topic
        self.windows_us = tuple(windows_us)
        self.store = store
        self.send_dead_letters = send_dead_letters
        self.processor = TradeFlowProcessor(TradeFlowState(self.windows_us))
        self.published = 0
        self.assigned = threading.Event()  # set once the partitions are assigned (the topic exists)
        self._init_thread("compute-trade-flow")
        self._log = get_logger("compute.trade_flow", topic=self.topic)

    def counters(self) -> dict[str, int]:
        return {**self.processor.stats.as_dict(), "trade_flow_published": self.published}

    def _run(self) -> None:
        from confluent_kafka import Consumer

        try:
            if self.store is None:
                from quantcore.clients import redis_client

                self.store = TradeFlowStore(redis_client(self.redis), self.topic)
            if self.send_dead_letters is None:
                from streaming.spark.dead_letters import DeadLetterProducer

                self.send_dead_letters = DeadLetterProducer(self.kafka).send
            consumer = Consumer({**self.kafka.client_config(), "group.id": f"quantcore-trade-flow-{self.topic}",
                                 "enable.auto.commit": False, "enable.auto.offset.store": False,
                                 "auto.offset.reset": "latest", "log_level": 3})
        except Exception as exc:  # noqa: BLE001 - reported through `error`; start() raises
            self.error = str(exc)
            return
        self._ready.set()
        try:
            if self._assign(consumer):
                while not self._stop.is_set():
                    records = [r for r in consumer.consume(BATCH, timeout=POLL_S) if self._usable(r)]
                    if records:
                        self._deliver(self.processor.process(records))
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            self._log.error("trade-flow writer failed", error=self.error)
            raise
        finally:
            consumer.close()

    def _assign(self, consumer) -> bool:
        """Warm start (see the module doc); waits for the topic. False when stopped first."""
        from confluent_kafka import OFFSET_END, TopicPartition

        while not self._stop.is_set():
            metadata = consumer.list_topics(self.topic, timeout=10).topics.get(self.topic)
            if metadata is not None and metadata.error is None and metadata.partitions:
                break
            self._log.info("waiting for the trade topic")
            self._stop.wait(TOPIC_WAIT_S)
        else:
            return False
        partitions = sorted(metadata.partitions)
        resume, start = start_offsets_ms(partitions, self.store.progress(), now_us() // 1000, self.windows_us)
        found = self._offsets_for_times(consumer, [TopicPartition(self.topic, p, start[p]) for p in partitions])
        if found is None:
            return False
        self.processor.published = self.store.trade_ids()
        self.processor.resume_ms = resume
        consumer.assign([TopicPartition(self.topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_END)
                         for tp in found])
        self._log.info("trade-flow writer assigned", partitions=len(partitions),
                       symbols_published=len(self.processor.published))
        self.assigned.set()
        return True

    def _offsets_for_times(self, consumer, wanted: list) -> list | None:
        """Kafka's offsets for the start times, asked again while the partitions have no
        leader yet (a topic created moments ago: NOT_LEADER_FOR_PARTITION); None when stopped."""
        from confluent_kafka import KafkaError, KafkaException

        not_ready = {KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE,
                     KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._TIMED_OUT}
        while not self._stop.is_set():
            try:
                return consumer.offsets_for_times(wanted, timeout=10)
            except KafkaException as exc:
                error = exc.args[0]
                if error.code() not in not_ready and not error.retriable():
                    raise
                self._log.info("trade topic not ready", error=error.str())
                self._stop.wait(TOPIC_WAIT_S)
        return None

    def _usable(self, record) -> bool:
        if record.error() is not None:
            self._log.warning("trade consumer error", error=str(record.error()))
            return False
        return True

    def _deliver(self, batch: Batch) -> None:
        if batch.dead_letters:
            self._retry(lambda: self.send_dead_letters(batch.dead_letters), "dead letters")
        self._retry(lambda: self._write(batch), "redis write")

    def _write(self, batch: Batch) -> None:
        self.published += self.store.write(batch.flows, batch.progress)

    def _retry(self, action: Callable[[], object], what: str) -> None:
        backoff = Backoff(RETRY_INITIAL_S, RETRY_MAX_S)
        while not self._stop.is_set():
            try:
                action()
                self.error = None
                return
            except Exception as exc:  # noqa: BLE001 - Redis/Kafka down: keep the batch, retry
                self.error = str(exc)
                delay = backoff.next()
                self._log.warning("trade-flow delivery failed, retrying", what=what, error=str(exc),
                                  retry_in_s=round(delay, 2))
                self._stop.wait(delay)
