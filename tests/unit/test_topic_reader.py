"""quantcore/topic_reader.py: the end of a topic whose partitions are between leaders."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from quantcore.topic_reader import TopicReader


class LeaderlessThenLed:
    """A consumer whose ListOffsets fails `failures` times with `code`, then answers."""

    def __init__(self, failures: int, code: int = KafkaError.NOT_LEADER_FOR_PARTITION) -> None:
        self.failures, self.code, self.calls = failures, code, 0

    def offsets_for_times(self, partitions: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        self.calls += 1
        if self.calls <= self.failures:
            raise KafkaException(KafkaError(self.code))
        return [TopicPartition(tp.topic, tp.partition, 10 * tp.partition) for tp in partitions]


def reader_with(consumer) -> TopicReader:
    reader = object.__new__(TopicReader)  # no broker: the consumer is the fake
    reader.topic, reader._consumer, reader._partitions = "t", consumer, [0, 1, 2]
    return reader


def test_a_just_created_topic_answers_once_its_partitions_have_leaders():
    consumer = LeaderlessThenLed(failures=3)
    assert reader_with(consumer).ends(timeout_s=5) == {0: 0, 1: 10, 2: 20}
    assert consumer.calls == 4


def test_a_partition_that_stays_leaderless_fails_after_the_timeout():
    consumer = LeaderlessThenLed(failures=10**6, code=KafkaError.LEADER_NOT_AVAILABLE)
    with pytest.raises(KafkaException, match="LEADER_NOT_AVAILABLE"):
        reader_with(consumer).ends(timeout_s=0.3)
    assert consumer.calls > 1


def test_other_errors_are_not_retried():
    consumer = LeaderlessThenLed(failures=1, code=KafkaError.UNKNOWN_TOPIC_OR_PART)
    with pytest.raises(KafkaException, match="UNKNOWN_TOPIC_OR_PART"):
        reader_with(consumer).ends(timeout_s=5)
    assert consumer.calls == 1


class Metadata:
    """list_topics' answer: the topic unknown `unknown` times (a broker not yet told of a
    topic the controller just created), then known with three partitions."""

    def __init__(self, unknown: int) -> None:
        self.unknown, self.calls = unknown, 0

    def list_topics(self, topic: str, timeout: float):
        from types import SimpleNamespace

        self.calls += 1
        if self.calls <= self.unknown:
            described = SimpleNamespace(error=KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART), partitions={})
        else:
            described = SimpleNamespace(error=None, partitions={2: None, 0: None, 1: None})
        return SimpleNamespace(topics={topic: described})


def test_a_topic_the_broker_learns_of_late_is_waited_for():
    consumer = Metadata(unknown=3)
    reader = reader_with(consumer)
    reader._partitions = []
    assert reader.partitions(timeout_s=5) == [0, 1, 2]
    assert consumer.calls == 4


def test_a_topic_that_never_appears_is_an_error_after_the_timeout():
    from quantcore.errors import PlatformError

    consumer = Metadata(unknown=10**6)
    reader = reader_with(consumer)
    reader._partitions = []
    with pytest.raises(PlatformError, match="cannot read topic t"):
        reader.partitions(timeout_s=0.3)
    assert consumer.calls > 1
