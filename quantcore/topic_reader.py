"""Read a topic's partitions from given offsets (or a point in time) up to their current end,
without joining a consumer group: a view of what Kafka holds now, for takeovers and checks.

`TopicReader` keeps its consumer (connections, metadata) between reads, for a caller that
waits on the read (an ingest takeover: a new consumer's first metadata request alone takes
15-60 ms here); between reads it is unassigned, so it fetches nothing. `end_offsets` and
`read_to_end` are the one-shot forms.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Mapping

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from quantcore.backoff import Backoff
from quantcore.errors import PlatformError
from quantcore.settings import KafkaSettings

BATCH = 5000
CONSUME_WAIT_S = 0.005  # consume() waits this long for a full batch: the end is near, do not wait for more
LATEST = -1  # offsets_for_times: timestamp -1 asks for each partition's end (Kafka ListOffsets)
# A partition between leaders: just created, or its broker restarting. librdkafka does not
# call these retriable for ListOffsets, but they pass within a second or two.
LEADERLESS = frozenset({KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE})


class TopicReader:
    def __init__(self, kafka: KafkaSettings, topic: str) -> None:
        self.topic = topic
        self._consumer = Consumer({**kafka.client_config(), "group.id": f"quantcore-reader-{uuid.uuid4().hex}",
                                   "enable.auto.commit": False, "enable.partition.eof": True, "log_level": 3})
        self._partitions: list[int] = []

    def __enter__(self) -> "TopicReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._consumer.close()

    def ends(self, timeout_s: float = 10.0) -> dict[int, int]:
        """{partition: high watermark}: the offset the next record of each partition will get
        (with acks=all, everything below it was acknowledged). One request for all partitions."""
        return self._ends(self.partitions(timeout_s), timeout_s)

    def partitions(self, timeout_s: float = 10.0) -> list[int]:
        """The topic's partitions. A topic created a moment ago may not be in the metadata of
        the broker asked yet (on a cluster the controller tells the other nodes later), so
        this waits (the platform's backoff) up to `timeout_s` before calling it missing."""
        def listed(wait_s: float, last: bool) -> list[int] | None:
            metadata = self._consumer.list_topics(self.topic, timeout=wait_s).topics.get(self.topic)
            if metadata is not None and metadata.error is None and metadata.partitions:
                return sorted(metadata.partitions)
            if last:
                raise PlatformError(f"cannot read topic {self.topic}", "check that Kafka is up and the topic exists")
            return None

        if not self._partitions:
            self._partitions = _retried(listed, timeout_s)
        return self._partitions

    def read_to_end(self, *, offsets: Mapping[int, int] | None = None, since_ms: int | None = None,
                    timeout_s: float = 30.0) -> Iterator[Message]:
        """Every record from `offsets` ({partition: first offset}) or from `since_ms` (epoch ms,
        every partition) up to each partition's end as of the call; in order per partition."""
        if (offsets is None) == (since_ms is None):
            raise ValueError("give exactly one of offsets and since_ms")
        if offsets is None:
            starts = self._consumer.offsets_for_times(
                [TopicPartition(self.topic, p, since_ms) for p in self.partitions(timeout_s)], timeout=timeout_s)
        else:
            starts = [TopicPartition(self.topic, p, offset) for p, offset in offsets.items()]
        try:
            ends = self._assign(starts, timeout_s)
            yield from self._until_ends(ends, time.monotonic() + timeout_s)
        finally:
            self._consumer.unassign()

    def _ends(self, partitions: list[int], timeout_s: float) -> dict[int, int]:
        """Each partition's end; waits (the platform's backoff) while a partition has no leader."""
        def latest(wait_s: float, last: bool) -> dict[int, int] | None:
            try:
                answer = self._consumer.offsets_for_times(
                    [TopicPartition(self.topic, p, LATEST) for p in partitions], timeout=wait_s)
            except KafkaException as exc:
                if exc.args[0].code() not in LEADERLESS or last:
                    raise
                return None
            return {tp.partition: tp.offset for tp in answer}

        return _retried(latest, timeout_s)

    def _assign(self, starts: list[TopicPartition], timeout_s: float) -> dict[int, int]:
        """Assign the partitions that have records at or after their start; returns their ends."""
        highs = self._ends([start.partition for start in starts], timeout_s)
        # offsets_for_times gives a negative offset where nothing was written since the time
        assignment = [start for start in starts if 0 <= start.offset < highs[start.partition]]
        self._consumer.assign(assignment)
        return {start.partition: highs[start.partition] for start in assignment}

    def _until_ends(self, ends: dict[int, int], deadline: float) -> Iterator[Message]:
        remaining = set(ends)
        while remaining:
            if time.monotonic() > deadline:
                raise PlatformError(f"reading the topic timed out ({len(remaining)} partitions unread)",
                                    "check that Kafka is up")
            for message in self._consumer.consume(BATCH, timeout=CONSUME_WAIT_S):
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


def _retried(attempt, timeout_s: float):
    """`attempt(wait_s, last)` until it returns a value, with the platform's backoff between
    tries (None: not yet); `last` is True on the try at or past the deadline, which must
    return or raise."""
    deadline, backoff = time.monotonic() + timeout_s, Backoff(initial=0.05, cap=1.0)
    while True:
        left = deadline - time.monotonic()
        value = attempt(max(0.1, left), left <= 0)
        if value is not None:
            return value
        time.sleep(min(backoff.next(), max(0.0, deadline - time.monotonic())))


def end_offsets(kafka: KafkaSettings, topic: str, timeout_s: float = 10.0) -> dict[int, int]:
    with TopicReader(kafka, topic) as reader:
        return reader.ends(timeout_s)


def read_to_end(kafka: KafkaSettings, topic: str, *, offsets: Mapping[int, int] | None = None,
                since_ms: int | None = None, timeout_s: float = 30.0) -> Iterator[Message]:
    with TopicReader(kafka, topic) as reader:
        yield from reader.read_to_end(offsets=offsets, since_ms=since_ms, timeout_s=timeout_s)
