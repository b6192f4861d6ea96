"""Which Kafka offsets a replay reads: day boundaries, offset spans, and retention gaps.

A record belongs to the UTC day of its Kafka `timestamp`, whatever its type (the book
topic uses LogAppendTime, so that is the broker's append time; a CreateTime topic works
the same with the producer's stamps). A day's records are the offsets between the first
record stamped at or after the day's start and the first stamped at or after the next
day's start (Kafka's offsets-for-times), per partition: so consecutive days tile the log
exactly, and the sum of the spans is "the Kafka records of that day".

Retention rule (`incomplete_days`): a day is complete in Kafka when every partition that
has lost records (low watermark > 0) still retains a record stamped before the day's
start; otherwise retention (or delete-records) may have dropped part of the day. A
partition emptied entirely holds no record to show; its records were deleted by time
retention, so they are older than now - retention.ms, and only days starting before that
are flagged (every day, if retention is infinite and the partition was emptied anyway).

The pure functions are unit-tested; `KafkaLog` is the thin edge to the broker.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import ConfigResource, ResourceType

from quantcore.errors import PlatformError
from quantcore.timeutil import MS_PER_DAY, day_of_ms, day_start_ms  # noqa: F401 - re-exported for the replay
from quantcore.clients import admin_client
from quantcore.settings import KafkaSettings



# --- pure: days, spans, retention ---------------------------------------------------------

def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def parse_days(spec: str) -> list[date]:
    """`YYYY-MM-DD`, `A..B` (inclusive) or `A,B,...` -> sorted distinct days."""
    days: set[date] = set()
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        first, sep, last = part.partition("..")
        try:
            start = date.fromisoformat(first.strip())
            end = date.fromisoformat(last.strip()) if sep else start
        except ValueError:
            raise PlatformError(f"not a day or range of days: {part!r}",
                                "write YYYY-MM-DD, YYYY-MM-DD..YYYY-MM-DD or a comma-separated list") from None
        if end < start:
            raise PlatformError(f"empty range {part!r}: the end is before the start", "swap the two days")
        days.update(days_between(start, end))
    if not days:
        raise PlatformError("no day given", "pass --date YYYY-MM-DD, --dates A..B or --all")
    return sorted(days)


def contiguous_runs(days: Iterable[date]) -> list[list[date]]:
    """Sorted days grouped into runs of consecutive days (one Kafka read per run)."""
    runs: list[list[date]] = []
    for day in sorted(set(days)):
        if runs and day - runs[-1][-1] == timedelta(days=1):
            runs[-1].append(day)
        else:
            runs.append([day])
    return runs


@dataclass(frozen=True)
class PartitionSpan:
    """Offsets [start, end) of one partition."""

    partition: int
    start: int
    end: int

    @property
    def count(self) -> int:
        return max(0, self.end - self.start)


@dataclass(frozen=True)
class PartitionLog:
    """What Kafka still holds of one partition."""

    partition: int
    low: int  # earliest retained offset (> 0 once records were deleted)
    high: int  # the next offset to be written
    first_ts_ms: int | None = None  # timestamp of the record at `low`; None when empty
    last_ts_ms: int | None = None  # timestamp of the record at `high - 1`

    @property
    def empty(self) -> bool:
        return self.high <= self.low


def spans_between(start_offsets: Mapping[int, int], end_offsets: Mapping[int, int]) -> list[PartitionSpan]:
    return [PartitionSpan(p, start_offsets[p], max(start_offsets[p], end_offsets[p]))
            for p in sorted(start_offsets)]


def partition_complete(log: PartitionLog, start_ms: int, retention_ms: int | None, now_ms: int) -> bool:
    """True when the partition provably still holds every record stamped at or after start_ms."""
    if log.low == 0:
        return True  # nothing was ever deleted
    if log.first_ts_ms is not None:
        return log.first_ts_ms < start_ms  # an older record survives, so all later ones do
    return retention_ms is not None and retention_ms >= 0 and start_ms >= now_ms - retention_ms


def incomplete_days(days: Iterable[date], logs: Iterable[PartitionLog], retention_ms: int | None,
                    now_ms: int) -> dict[date, list[int]]:
    """Days (with the partitions concerned) that Kafka's retention may have cut."""
    logs = list(logs)
    result: dict[date, list[int]] = {}
    for day in days:
        cut = [log.partition for log in logs
               if not partition_complete(log, day_start_ms(day), retention_ms, now_ms)]
        if cut:
            result[day] = cut
    return result


def topic_days(logs: Iterable[PartitionLog]) -> list[date]:
    """Every UTC day from the oldest to the newest retained record (empty if no records)."""
    firsts = [log.first_ts_ms for log in logs if not log.empty and log.first_ts_ms is not None]
    lasts = [log.last_ts_ms for log in logs if not log.empty and log.last_ts_ms is not None]
    if not firsts or not lasts:
        return []
    return days_between(day_of_ms(min(firsts)), day_of_ms(max(lasts)))


def offsets_json(topic: str, offsets: Mapping[int, int]) -> str:
    """Spark's startingOffsets/endingOffsets format: {"topic": {"0": 12, ...}}."""
    return json.dumps({topic: {str(p): int(o) for p, o in sorted(offsets.items())}})


# --- the edge: ask the broker --------------------------------------------------------------

class KafkaLog:
    """Watermarks, offsets-for-times and record timestamps of one topic (confluent-kafka)."""

    def __init__(self, kafka: KafkaSettings, topic: str, timeout_s: float = 15.0) -> None:
        self.kafka = kafka
        self.topic = topic
        self.timeout_s = timeout_s
        self.consumer = Consumer({
            **kafka.client_config(),
            "group.id": f"qc-replay-planner-{uuid.uuid4().hex[:8]}",  # never commits
            "enable.auto.commit": False,
            "enable.partition.eof": False,
            "log_level": 0,
        })

    def __enter__(self) -> KafkaLog:
        return self

    def __exit__(self, *_: object) -> None:
        self.consumer.close()

    def partitions(self) -> list[int]:
        metadata = self.consumer.list_topics(self.topic, timeout=self.timeout_s).topics.get(self.topic)
        if metadata is None or metadata.error is not None or not metadata.partitions:
            raise PlatformError(f"Kafka topic {self.topic!r} does not exist on {self.kafka.bootstrap_servers}",
                                "check QUANTCORE_BOOK_TOPIC, or start the platform (`quantcore up`)")
        return sorted(metadata.partitions)

    def watermarks(self) -> dict[int, tuple[int, int]]:
        return {p: self.consumer.get_watermark_offsets(TopicPartition(self.topic, p), timeout=self.timeout_s,
                                                       cached=False)
                for p in self.partitions()}

    def offsets_at(self, timestamp_ms: int, watermarks: Mapping[int, tuple[int, int]]) -> dict[int, int]:
        """Per partition, the first offset stamped at or after `timestamp_ms` (else the high watermark)."""
        asked = [TopicPartition(self.topic, p, timestamp_ms) for p in sorted(watermarks)]
        found = self.consumer.offsets_for_times(asked, timeout=self.timeout_s)
        result = {}
        for tp in found:
            if tp.error is not None:
                raise KafkaException(tp.error)
            low, high = watermarks[tp.partition]
            result[tp.partition] = high if tp.offset < 0 else min(max(tp.offset, low), high)
        return result

    def timestamps_at(self, offsets: Mapping[int, int]) -> dict[int, int]:
        """The timestamp (ms) of the record at each given offset."""
        wanted = dict(offsets)
        if not wanted:
            return {}
        self.consumer.assign([TopicPartition(self.topic, p, o) for p, o in wanted.items()])
        found: dict[int, int] = {}
        deadline = time.monotonic() + self.timeout_s
        try:
            while len(found) < len(wanted) and time.monotonic() < deadline:
                for message in self.consumer.consume(num_messages=100, timeout=0.05):
                    p = message.partition()
                    if message.error() is None and p not in found and message.offset() == wanted[p]:
                        found[p] = message.timestamp()[1]
                        self.consumer.pause([TopicPartition(self.topic, p)])
        finally:  # a paused partition would stay paused for the next assignment
            self.consumer.resume([TopicPartition(self.topic, p) for p in wanted])
            self.consumer.unassign()
        missing = sorted(set(wanted) - set(found))
        if missing:
            raise PlatformError(f"could not read the records at {[(p, wanted[p]) for p in missing]} of {self.topic}",
                                "check the broker is healthy and reachable")
        return found

    def logs(self) -> list[PartitionLog]:
        marks = self.watermarks()
        present = {p: (low, high) for p, (low, high) in marks.items() if high > low}
        firsts = self.timestamps_at({p: low for p, (low, _) in present.items()})
        lasts = self.timestamps_at({p: high - 1 for p, (_, high) in present.items()})
        return [PartitionLog(p, low, high, firsts.get(p), lasts.get(p)) for p, (low, high) in marks.items()]

    def retention_ms(self) -> int | None:
        """The topic's retention.ms (-1 = infinite), None if the broker will not say."""
        resource = ConfigResource(ResourceType.TOPIC, self.topic)
        try:
            configs = admin_client(self.kafka).describe_configs([resource])[resource].result(self.timeout_s)
            return int(configs["retention.ms"].value)
        except Exception:  # noqa: BLE001 - no describe permission: treat as unknown
            return None
