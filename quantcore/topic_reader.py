"""Read a topic's partitions from given offsets (or a point in time) up to their current end,
without joining a consumer group: a view of what Kafka holds now, for takeovers and checks."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Mapping

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from quantcore.errors import PlatformError
from quantcore.settings import KafkaSettings

BATCH = 5000
CONSUME_WAIT_S = 0.05  # consume() waits this long for a full batch: keep it short, the end is near


def _consumer(kafka: KafkaSettings) -> Consumer:
    return Consumer({**kafka.client_config(), "group.id": f"quantcore-reader-{uuid.uuid4().hex}",
                     "enable.auto.commit": False, "enable.partition.eof": True, "log_level": 3})


def end_offsets(kafka: KafkaSettings, topic: str, timeout_s: float = 10.0) -> dict[int, int]:
    """{partition: high watermark}: the offset the next record of each partition will get
    (with acks=all, everything below it was acknowledged)."""
    consumer = _consumer(kafka)
    try:
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s)[1]
                for p in _partitions(consumer, topic, timeout_s)}
    finally:
        consumer.close()


def read_to_end(kafka: KafkaSettings, topic: str, *, offsets: Mapping[int, int] | None = None,
                since_ms: int | None = None, timeout_s: float = 30.0) -> Iterator[Message]:
    """Every record from `offsets` ({partition: first offset}) or from `since_ms` (epoch ms,
    every partition) up to each partition's end as of the call; in order per partition."""
    if (offsets is None) == (since_ms is None):
        raise ValueError("give exactly one of offsets and since_ms")
    consumer = _consumer(kafka)
    try:
        if offsets is None:
            starts = consumer.offsets_for_times(
                [TopicPartition(topic, p, since_ms) for p in _partitions(consumer, topic, timeout_s)], timeout=timeout_s)
        else:
            starts = [TopicPartition(topic, p, offset) for p, offset in offsets.items()]
        ends = _assign(consumer, topic, starts, timeout_s)
        yield from _until_ends(consumer, ends, time.monotonic() + timeout_s)
    finally:
        consumer.close()


def _partitions(consumer: Consumer, topic: str, timeout_s: float) -> list[int]:
    metadata = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
    if metadata is None or metadata.error is not None or not metadata.partitions:
        raise PlatformError(f"cannot read topic {topic}", "check that Kafka is up and the topic exists")
    return sorted(metadata.partitions)


def _assign(consumer: Consumer, topic: str, starts: list[TopicPartition], timeout_s: float) -> dict[int, int]:
    """Assign the partitions that have records at or after their start; returns their ends."""
    assignment, ends = [], {}
    for start in starts:
        if start.offset < 0:  # offsets_for_times: nothing written since then
            continue
        _, high = consumer.get_watermark_offsets(TopicPartition(topic, start.partition), timeout=timeout_s)
        if start.offset < high:
            assignment.append(start)
            ends[start.partition] = high
    consumer.assign(assignment)
    return ends


def _until_ends(consumer: Consumer, ends: dict[int, int], deadline: float) -> Iterator[Message]:
    remaining = set(ends)
    while remaining:
        if time.monotonic() > deadline:
            raise PlatformError(f"reading the topic timed out ({len(remaining)} partitions unread)",
                                "check that Kafka is up")
        for message in consumer.consume(BATCH, timeout=CONSUME_WAIT_S):
            error = message.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    raise KafkaException(error)
                remaining.discard(message.partition())
                continue
            partition = message.partition()
            if partition not in remaining or message.offset() >= ends[partition]:
                continue  # written after the call's view of the end
            if message.offset() == ends[partition] - 1:
                remaining.discard(partition)
            yield message
