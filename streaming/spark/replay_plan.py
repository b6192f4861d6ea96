"""The plan of one replay: which days, which offsets, and which days Kafka can no longer give
whole. Built before Spark starts reading, so the CLI, Dagster and the tests see the same
numbers the job uses (and the asset checks recount the same way)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from quantcore.settings import KafkaSettings
from quantcore.timeutil import now_us
from streaming.spark.replay_offsets import (
    MS_PER_DAY,
    KafkaLog,
    PartitionLog,
    PartitionSpan,
    contiguous_runs,
    day_start_ms,
    incomplete_days,
    spans_between,
    topic_days,
)


@dataclass(frozen=True)
class KafkaRun:
    """One Kafka read: consecutive days, per partition [start, end) offsets."""

    days: list[date]
    start: dict[int, int]
    end: dict[int, int]

    @property
    def records(self) -> int:
        return sum(max(0, self.end[p] - self.start[p]) for p in self.start)


@dataclass
class ReplayPlan:
    topic: str
    days: list[date]  # requested days (for --all: every day the topic still holds)
    write_days: list[date]  # the days this replay replaces
    spans: dict[date, list[PartitionSpan]]  # per day, per partition
    incomplete: dict[date, list[int]]  # day -> partitions whose retention cut into it
    logs: list[PartitionLog] = field(default_factory=list)

    def records(self, day: date) -> int:
        return sum(span.count for span in self.spans[day])

    @property
    def skipped_days(self) -> list[date]:
        return [d for d in self.days if d not in self.write_days]

    def runs(self) -> list[KafkaRun]:
        """One read per run of consecutive days to write."""
        runs = []
        for days in contiguous_runs(self.write_days):
            first, last = self.spans[days[0]], self.spans[days[-1]]
            runs.append(KafkaRun(days, {s.partition: s.start for s in first},
                                 {s.partition: s.end for s in last}))
        return runs

    def missing_ranges(self) -> list[dict]:
        """What retention removed, per cut day and partition (for metadata and the check)."""
        logs = {log.partition: log for log in self.logs}
        return [{"date": day.isoformat(), "partition": p, "low_watermark": logs[p].low,
                 "earliest_retained_timestamp_ms": logs[p].first_ts_ms}
                for day, partitions in sorted(self.incomplete.items()) for p in partitions]


def plan_replay(kafka: KafkaSettings, days: list[date] | None = None, allow_partial: bool = False,
                topic: str | None = None) -> ReplayPlan:
    """Plan the replay of `days` (None: every day in the topic) of the book topic."""
    topic = topic or kafka.book_topic
    with KafkaLog(kafka, topic) as kafka_log:
        logs = kafka_log.logs()
        days = sorted(set(days)) if days is not None else topic_days(logs)
        marks = {log.partition: (log.low, log.high) for log in logs}
        boundaries = {day_start_ms(d) + shift for d in days for shift in (0, MS_PER_DAY)}
        offsets = {ms: kafka_log.offsets_at(ms, marks) for ms in sorted(boundaries)}
        retention_ms = kafka_log.retention_ms()
    spans = {d: spans_between(offsets[day_start_ms(d)], offsets[day_start_ms(d) + MS_PER_DAY]) for d in days}
    incomplete = incomplete_days(days, logs, retention_ms, now_us() // 1000)
    write_days = list(days) if allow_partial else [d for d in days if d not in incomplete]
    return ReplayPlan(topic, list(days), write_days, spans, incomplete, logs)


def kafka_records_of_day(kafka: KafkaSettings, day: date, topic: str | None = None) -> tuple[int, bool]:
    """(records Kafka holds for `day`, whether it holds the whole day): the count check."""
    plan = plan_replay(kafka, [day], allow_partial=True, topic=topic)
    return plan.records(day), day not in plan.incomplete
