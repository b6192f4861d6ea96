"""The real broker keeps every keyed message and the order within each key."""

from collections import defaultdict

import pytest
from confluent_kafka import Consumer, Producer

pytestmark = pytest.mark.slow


def test_10k_keyed_messages_none_lost_order_kept(kafka, fresh_topic):
    keys = [f"SYM{i:02d}" for i in range(30)]
    producer = Producer({**kafka.kafka.client_config(), "enable.idempotence": True, "linger.ms": 5})
    for seq in range(10_000):
        key = keys[seq % len(keys)]
        producer.produce(fresh_topic, key=key, value=f"{key}:{seq}".encode())
        producer.poll(0)
    assert producer.flush(30) == 0

    consumer = Consumer({**kafka.kafka.client_config(), "group.id": fresh_topic,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([fresh_topic])
    seen: dict[str, list[int]] = defaultdict(list)
    partitions_of: dict[str, set[int]] = defaultdict(set)
    total = 0
    for _ in range(600):
        for message in consumer.consume(1000, timeout=0.5):
            assert message.error() is None
            key, seq = message.value().decode().split(":")
            seen[key].append(int(seq))
            partitions_of[key].add(message.partition())
            total += 1
        if total >= 10_000:
            break
    consumer.close()

    assert total == 10_000
    assert sorted(seq for seqs in seen.values() for seq in seqs) == list(range(10_000))
    for key, seqs in seen.items():
        assert seqs == sorted(seqs), f"order broken for {key}"
        assert len(partitions_of[key]) == 1, "a key must live in one partition"
    assert len({p for parts in partitions_of.values() for p in parts}) > 10, "keys spread over partitions"
