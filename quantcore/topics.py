"""The platform's Kafka topics and the one function that creates a topic.

Book, trade and dead-letter topics stamp records with the broker's append time (the
Kafka-append hop of the latency decomposition). Creating is idempotent: a topic that
already exists (created by another process meanwhile) is fine.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from confluent_kafka import Producer
from confluent_kafka.admin import NewTopic

from quantcore.clients import admin_client
from quantcore.errors import PlatformError
from quantcore.settings import KafkaSettings

APPEND_TIME = {"message.timestamp.type": "LogAppendTime"}
# Records stamped by their producer, kept forever (replays of days in the past).
CREATE_TIME = {"message.timestamp.type": "CreateTime", "retention.ms": "-1",
               "message.timestamp.before.max.ms": str(2**63 - 1)}
DEAD_LETTER_PARTITIONS = 3


def create_topic(settings: KafkaSettings, name: str, partitions: int, config: dict[str, str] | None = None,
                 replication: int | None = None) -> bool:
    """Create `name` unless it exists; True if this call created it."""
    replicas = replication or settings.topic_replication
    insync = settings.insync_replicas
    durability = {"min.insync.replicas": str(min(insync, replicas) if replicas > 0 else insync)} if insync else {}
    topic = NewTopic(name, partitions, replicas, config={**durability, **(APPEND_TIME if config is None else config)})
    admin = admin_client(settings)  # kept alive until the future resolves
    future = admin.create_topics([topic], operation_timeout=30)[name]
    try:
        future.result()
    except Exception as exc:  # noqa: BLE001 - the admin API reports everything as KafkaException
        if "TOPIC_ALREADY_EXISTS" in str(exc):
            return False
        raise PlatformError(f"could not create Kafka topic {name}: {exc}",
                            "check the broker log and its free disk") from None
    return True


def ensure_topics(settings: KafkaSettings) -> list[str]:
    """Create the book, trade and dead-letter topics if missing (idempotent). Returns those
    created. The trade topic exists even while the ingest's trades are off, so turning them
    on needs no step; it is shaped like the book topic (keyed by symbol too)."""
    existing = admin_client(settings).list_topics(timeout=10).topics
    wanted = [(settings.book_topic, settings.partitions), (settings.trade_topic, settings.partitions),
              (settings.dead_letter_topic, DEAD_LETTER_PARTITIONS)]
    return [name for name, partitions in wanted
            if name not in existing and create_topic(settings, name, partitions)]


@contextmanager
def temporary_topic(settings: KafkaSettings, prefix: str, partitions: int | None = None,
                    config: dict[str, str] | None = None) -> Iterator[str]:
    """A throwaway topic (tests and benchmarks never pollute the real ones), deleted after."""
    name = f"{prefix}.{uuid.uuid4().hex[:10]}"
    create_topic(settings, name, partitions or settings.partitions, config)
    try:
        yield name
    finally:
        delete_topics(settings, [name])


def delete_topics(settings: KafkaSettings, names: list[str]) -> None:
    """Delete these topics and wait for the broker's answer (missing ones are fine)."""
    admin = admin_client(settings)
    for future in admin.delete_topics(names, operation_timeout=30).values():
        try:
            future.result()
        except Exception as exc:  # noqa: BLE001
            if "UNKNOWN_TOPIC" not in str(exc):
                raise


def produce_all(settings: KafkaSettings, topic: str, records: Iterable[tuple[bytes, bytes, int | None]],
                partition_of: Callable[[bytes], int] | None = None, flush_timeout_s: float = 120.0) -> int:
    """Send (key, value, timestamp_ms or None) records as fast as librdkafka batches them,
    wait until every one is acknowledged (idempotent producer: no duplicates), and raise on
    any delivery error. Returns the count. For loading topics in tests and benchmarks."""
    producer = Producer({**settings.client_config(), "linger.ms": 20, "batch.size": 1_000_000,
                         "queue.buffering.max.messages": 1_000_000, "compression.type": "lz4",
                         "enable.idempotence": True})
    errors: list[str] = []

    def delivered(error, _message) -> None:
        if error is not None:
            errors.append(str(error))

    sent = 0
    for key, value, ts_ms in records:
        extra: dict = {} if partition_of is None else {"partition": partition_of(key)}
        if ts_ms is not None:
            extra["timestamp"] = ts_ms
        while True:
            try:
                producer.produce(topic, value=value, key=key, on_delivery=delivered, **extra)
                break
            except BufferError:  # local queue full: let deliveries drain
                producer.poll(0.05)
        sent += 1
        if sent % 10_000 == 0:
            producer.poll(0)
    remaining = producer.flush(flush_timeout_s)
    if remaining or errors:
        raise PlatformError(f"{topic}: {remaining} records undelivered, errors: {errors[:3]}",
                            "check the broker log")
    return sent
