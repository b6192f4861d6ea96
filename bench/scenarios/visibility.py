"""Kafka append -> visible in Redis, per Kafka record, for designs that publish differently.

A published update's own latency flatters a design that publishes only the newest book of
a symbol per batch (ours): the books it supersedes are never published and never sampled.
Here every record appended in a window counts, read back from the topic with its broker
append time, and is visible when the first update of its symbol with the same or a newer
update id is published. A design that publishes every row (the seed's) gets its own latencies.
"""

from __future__ import annotations

import bisect
import itertools
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from bench.harness import percentiles
from bench.scenarios.compute import Published
from quantcore.settings import KafkaSettings


class Appended(NamedTuple):
    symbol: str
    update_id: int
    kafka_append_us: int


def appended_records(kafka: KafkaSettings, topic: str, start_us: int, end_us: int,
                     update_id: Callable[[bytes], int]) -> list[Appended]:
    """Every record of `topic` appended in [start_us, end_us), `update_id` read from its value."""
    from confluent_kafka import Consumer, KafkaError, TopicPartition

    consumer = Consumer({**kafka.client_config(), "group.id": f"qc-bench-visibility-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False, "enable.partition.eof": True})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        wanted = [TopicPartition(topic, p, start_us // 1000) for p in partitions]  # times in ms
        starts = [tp for tp in consumer.offsets_for_times(wanted, timeout=10) if tp.offset >= 0]
        consumer.assign(starts)
        pending, records = {tp.partition for tp in starts}, []
        while pending and (message := consumer.poll(10)) is not None:
            if message.error():
                if message.error().code() != KafkaError._PARTITION_EOF:
                    raise RuntimeError(f"reading {topic} back: {message.error()}")
                pending.discard(message.partition())
            elif start_us <= (append_us := message.timestamp()[1] * 1000) < end_us:
                records.append(Appended(message.key().decode(), update_id(message.value()), append_us))
        return records
    finally:
        consumer.close()


def visible_after_ms(records: Iterable[Appended], published: Iterable[Published]) -> tuple[list[float], int]:
    """Per record, ms from its append to the first publish of its symbol at an id >= its own;
    and how many records no publish covers."""
    by_symbol: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for update in published:
        by_symbol[update.symbol].append((update.update_id, update.publish_us))
    covers = {}
    for symbol, updates in by_symbol.items():
        updates.sort()
        # the earliest publish at each id or above: a suffix minimum over the sorted ids
        earliest = list(itertools.accumulate(reversed([at for _, at in updates]), min))[::-1]
        covers[symbol] = ([update_id for update_id, _ in updates], earliest)
    delays, unseen = [], 0
    for record in records:
        ids, earliest = covers.get(record.symbol, ([], []))
        index = bisect.bisect_left(ids, record.update_id)
        if index == len(ids):
            unseen += 1
        else:
            delays.append((earliest[index] - record.kafka_append_us) / 1000)
    return delays, unseen


def visibility(records: list[Appended], published: Iterable[Published]) -> dict[str, Any]:
    delays, unseen = visible_after_ms(records, published)
    return {"records": len(records), "unseen": unseen, "visible_after_ms": percentiles(delays)}
