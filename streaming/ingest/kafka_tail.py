"""The last update id Kafka holds per symbol: where a shard taking over a group continues.

Reads the book topic from a point in time (the start of what the standby kept, and a
margin) up to the end of every partition, without joining a consumer group, and decodes
only the records of the wanted symbols.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from quantcore import wire
from quantcore.errors import PlatformError
from quantcore.settings import KafkaSettings

BATCH = 5000
CONSUME_WAIT_S = 0.05  # consume() waits this long for a full batch: keep it short, the end is near


def last_update_ids(kafka: KafkaSettings, topic: str, symbols: Iterable[str], since_ms: int,
                    timeout_s: float = 10.0) -> dict[str, int]:
    """Per symbol of `symbols`, the highest update id in `topic` among records written at or
    after `since_ms` (epoch ms); a symbol with none is absent."""
    wanted = {symbol.upper().encode() for symbol in symbols}
    consumer = Consumer({**kafka.client_config(), "group.id": f"quantcore-ingest-tail-{uuid.uuid4().hex}",
                         "enable.auto.commit": False, "enable.partition.eof": True, "log_level": 3})
    try:
        ends = _assign_from(consumer, topic, since_ms, timeout_s)
        return _read_to_ends(consumer, ends, wanted, time.monotonic() + timeout_s)
    finally:
        consumer.close()


def _assign_from(consumer: Consumer, topic: str, since_ms: int, timeout_s: float) -> dict[int, int]:
    """Assign every partition with records after `since_ms`; returns their end offsets."""
    metadata = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
    if metadata is None or metadata.error is not None:
        raise PlatformError(f"cannot read topic {topic} to take over a symbol group",
                            "check that Kafka is up and the book topic exists")
    starts = consumer.offsets_for_times([TopicPartition(topic, p, since_ms) for p in metadata.partitions],
                                        timeout=timeout_s)
    assignment, ends = [], {}
    for start in starts:
        if start.offset < 0:  # nothing written since `since_ms`
            continue
        _, high = consumer.get_watermark_offsets(TopicPartition(topic, start.partition), timeout=timeout_s)
        if start.offset < high:
            assignment.append(start)
            ends[start.partition] = high
    consumer.assign(assignment)
    return ends


def _read_to_ends(consumer: Consumer, ends: dict[int, int], wanted: set[bytes], deadline: float) -> dict[str, int]:
    last: dict[str, int] = {}
    remaining = set(ends)
    while remaining:
        if time.monotonic() > deadline:
            raise PlatformError(f"reading the book topic's tail timed out ({len(remaining)} partitions unread)",
                                "check that Kafka is up")
        for message in consumer.consume(BATCH, timeout=CONSUME_WAIT_S):
            error = message.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    raise KafkaException(error)
                remaining.discard(message.partition())
                continue
            if message.offset() >= ends[message.partition()] - 1:
                remaining.discard(message.partition())
            key = message.key()
            if key in wanted:
                symbol = key.decode()
                update_id = wire.BookRecord.FromString(message.value()).update_id
                last[symbol] = max(update_id, last.get(symbol, -1))
    return last
