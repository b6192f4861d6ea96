"""Real-time mode's way to Redis: Spark -> a relay topic -> this relay -> SignalStore.

Spark's real-time trigger streams records through long-running tasks, but from Python
its only low-latency sink is Kafka: a Python `ForeachWriter` receives rows in pickled
batches that grow to hundreds of rows and are flushed at the batch end, i.e. after the
checkpoint interval (measured: p50 ≈ 3 s with a 5 s interval). So the query writes the
computed rows as JSON to a relay topic, partition for partition with the book topic (the
same per-symbol order), and this thread in the job's driver process consumes them and
writes them with the same `SignalSink` as the micro-batch mode. A relay poll plays the
role of a micro-batch partition: newest book per symbol, OFI chain, one pipelined write.

Each record carries its update id and whether it is a dead letter in Kafka headers, so
the relay parses the JSON of only the rows it writes (the newest book per symbol, the one
before it, dead letters), not of every superseded book.

Offsets are committed only after a write succeeded; a failed write is retried from the
same offsets, and replays are harmless (write-if-newer).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from quantcore.backoff import Backoff
from quantcore.errors import PlatformError
from quantcore.log import get_logger
from quantcore.clients import admin_client
from quantcore.topics import create_topic
from quantcore.settings import ComputeSettings, KafkaSettings, RedisSettings
from streaming.spark.compute_rows import COMPUTED_COLUMNS
from streaming.spark.consumer_thread import ConsumerThread
from streaming.spark.redis_writer import SignalSink, WriteStats, sink_for

RELAY_RETENTION_MS = 3_600_000  # derived data, only needed until the relay has written it
UPDATE_ID_HEADER = "update_id"
DEAD_HEADER = "dead"
WRITE_RETRY_INITIAL_S, WRITE_RETRY_MAX_S = 0.2, 5.0  # Redis back within a second is written within ~0.2 s


def relay_records(computed: DataFrame) -> DataFrame:
    """The Kafka sink's columns: the computed row as JSON, into the same partition number,
    with its update id and dead-letter flag as headers."""
    key = F.coalesce(F.nullif(F.col("symbol"), F.lit("")), F.col("key"))
    value = F.to_json(F.struct(*COMPUTED_COLUMNS))

    def header(name: str, value: Column) -> Column:
        return F.struct(F.lit(name).alias("key"), value.cast("string").cast("binary").alias("value"))

    headers = F.array(header(UPDATE_ID_HEADER, F.coalesce(F.col("update_id"), F.lit(0))),
                      header(DEAD_HEADER, F.col("reason").isNotNull().cast("int")))
    return computed.select(key.alias("key"), value.alias("value"), headers.alias("headers"),
                           F.col("source_partition").alias("partition"))


def ensure_relay_topic(kafka: KafkaSettings, compute: ComputeSettings) -> str:
    """Create the relay topic with as many partitions as the book topic (idempotent)."""
    admin = admin_client(kafka)
    topics = admin.list_topics(timeout=10).topics
    topic = compute.relay_topic
    book = topics.get(kafka.book_topic)
    partitions = len(book.partitions) if book is not None else kafka.partitions
    if topic in topics:
        if len(topics[topic].partitions) < partitions:
            raise PlatformError(f"relay topic {topic} has fewer partitions than {kafka.book_topic} ({partitions})",
                                f"delete {topic} (it holds derived data only); the stream recreates it")
        return topic
    create_topic(kafka, topic, partitions, config={"retention.ms": str(RELAY_RETENTION_MS)})
    return topic


def parse_row(value: bytes) -> dict:
    """A relay record back into a computed row (`to_json` omits nulls, base64s bytes)."""
    data = json.loads(value)
    row = {name: data.get(name) for name in COMPUTED_COLUMNS}
    if row["payload"] is not None:
        row["payload"] = base64.b64decode(row["payload"])
    return row


class RelayRow(Mapping):
    """A relay record as a computed row: the key, update id and dead flag come from the
    record's key and headers; the JSON is parsed on the first access to anything else."""

    __slots__ = ("symbol", "update_id", "dead", "_value", "_row")

    def __init__(self, key: bytes | None, headers: list[tuple[str, bytes]] | None, value: bytes) -> None:
        found = dict(headers or ())
        self.symbol = key.decode() if key else ""
        self.update_id = int(found.get(UPDATE_ID_HEADER, b"0"))
        self.dead = found.get(DEAD_HEADER, b"1") != b"0"
        self._value = value
        self._row: dict | None = None

    def __getitem__(self, name: str) -> Any:
        if name == "update_id":
            return self.update_id
        if name == "symbol" and not self.dead:
            return self.symbol
        if name == "reason" and not self.dead:
            return None
        if self._row is None:
            self._row = parse_row(self._value)
        return self._row[name]

    def __iter__(self) -> Iterator[str]:
        return iter(COMPUTED_COLUMNS)

    def __len__(self) -> int:
        return len(COMPUTED_COLUMNS)


class RealtimeRelay(ConsumerThread):
    """A daemon thread: relay topic -> SignalSink, until `stop()`. Consumes with `kafka`;
    without a `sink`, writes with the process's sink for `redis` and `kafka`."""

    role = "relay consumer"

    def __init__(self, kafka: KafkaSettings, redis: RedisSettings, topic: str, group_id: str,
                 sink: SignalSink | None = None, max_records: int = 20_000) -> None:
        self.kafka = kafka
        self.redis = redis
        self.topic = topic
        self.group_id = group_id
        self.sink = sink
        self.max_records = max_records
        self.stats = WriteStats()
        self._init_thread("compute-relay")
        self._log = get_logger("compute.relay", topic=topic)

    def _consumer(self):
        from confluent_kafka import Consumer

        config = {
            **self.kafka.client_config(),
            "group.id": self.group_id,
            # Static membership (KIP-345): a relay restarted after a kill -9 takes over the dead
            # one's partitions at once. As a dynamic member it waited for the dead member's
            # session to time out (45 s) before the rebalance gave it any partition: that wait
            # was the whole of the compute stream's 45 s heal time.
            "group.instance.id": f"{self.group_id}-relay",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": True,
            "enable.auto.offset.store": False,  # stored after a successful write only
            "auto.commit.interval.ms": 1000,
            "log_level": 3,
        }
        consumer = Consumer(config)
        consumer.subscribe([self.topic])
        return consumer

    def _next_records(self, consumer) -> list:
        """Block for the first record (low latency), then drain what is already fetched."""
        first = consumer.poll(0.1)
        if first is None:
            return []
        return [first, *consumer.consume(self.max_records - 1, timeout=0)]

    def _run(self) -> None:
        try:
            self.sink = self.sink or sink_for(self.redis, self.kafka, remember=True)  # the symbols' one writer
            consumer = self._consumer()
        except Exception as exc:  # noqa: BLE001 - reported through `error`, start() raises
            self.error = str(exc)
            return
        self._ready.set()
        try:
            while not self._stop.is_set():
                records = [r for r in self._next_records(consumer) if self._usable(r)]
                if records:
                    self._write(consumer, records)
        finally:
            consumer.close()  # commits the stored offsets

    def _usable(self, record) -> bool:
        if record.error() is not None:
            self._log.warning("relay consumer error", error=str(record.error()))
            return False
        return True

    def _write(self, consumer, records: list) -> None:
        """Write until it succeeds: the records stay in hand and their offsets uncommitted, so
        a Redis outage delays them, and write-if-newer makes the retries harmless."""
        backoff = Backoff(WRITE_RETRY_INITIAL_S, WRITE_RETRY_MAX_S)
        while not self._stop.is_set():
            try:
                rows = (RelayRow(r.key(), r.headers(), r.value()) for r in records)
                self.stats.add(self.sink.write(rows))
                self.error = None
                consumer.store_offsets(offsets=_next_offsets(records))
                return
            except Exception as exc:  # noqa: BLE001 - Redis/Kafka down: keep the records, retry
                self.error = str(exc)
                delay = backoff.next()
                self._log.warning("relay write failed, retrying", error=str(exc), records=len(records),
                                  retry_in_s=round(delay, 2))
                self._stop.wait(delay)


def _next_offsets(records: list) -> list:
    """Per partition, the offset after the last record written (what a commit stores)."""
    from confluent_kafka import TopicPartition

    last: dict[tuple[str, int], int] = {}
    for record in records:
        last[(record.topic(), record.partition())] = record.offset()
    return [TopicPartition(topic, partition, offset + 1) for (topic, partition), offset in last.items()]


def relay_group(query_name: str, relay_topic: str) -> str:
    """One consumer group per query and relay topic: its static member id (below) then names
    one relay only. Shared across topics, a closed static member of another topic's relay
    stays in the group until its session times out, and holds up this relay's assignment."""
    return f"quantcore-{query_name}-{relay_topic}"
