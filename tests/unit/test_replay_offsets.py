"""Pure planning logic of the replay: days, spans, runs, and the retention rule."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone

import pytest

from quantcore.errors import PlatformError
from streaming.spark.replay_offsets import (
    MS_PER_DAY,
    PartitionLog,
    PartitionSpan,
    contiguous_runs,
    day_of_ms,
    day_start_ms,
    incomplete_days,
    offsets_json,
    parse_days,
    partition_complete,
    spans_between,
    topic_days,
)
from streaming.spark.replay_plan import ReplayPlan

D1, D2, D3 = date(2024, 3, 1), date(2024, 3, 2), date(2024, 3, 3)


def test_day_boundaries_are_utc_milliseconds():
    assert day_start_ms(D1) == int(datetime(2024, 3, 1, tzinfo=timezone.utc).timestamp() * 1000)
    assert day_of_ms(day_start_ms(D1)) == D1
    assert day_of_ms(day_start_ms(D2) - 1) == D1, "the last millisecond of a day belongs to it"
    assert day_start_ms(D2) - day_start_ms(D1) == MS_PER_DAY


@pytest.mark.parametrize("spec, expected", [
    ("2024-03-01", [D1]),
    ("2024-03-01..2024-03-03", [D1, D2, D3]),
    ("2024-03-03, 2024-03-01,2024-03-01", [D1, D3]),
    ("2024-02-28..2024-03-01", [date(2024, 2, 28), date(2024, 2, 29), D1]),
])
def test_parse_days(spec, expected):
    assert parse_days(spec) == expected


@pytest.mark.parametrize("spec", ["2024-13-01", "yesterday", "2024-03-02..2024-03-01", " , "])
def test_parse_days_rejects_bad_input_with_a_fix(spec):
    with pytest.raises(PlatformError) as error:
        parse_days(spec)
    assert error.value.fix


def test_contiguous_runs_group_consecutive_days():
    assert contiguous_runs([D3, D1, D2, date(2024, 3, 7), date(2024, 3, 9), date(2024, 3, 8)]) == [
        [D1, D2, D3], [date(2024, 3, 7), date(2024, 3, 8), date(2024, 3, 9)]]
    assert contiguous_runs([D1, D3]) == [[D1], [D3]]
    assert contiguous_runs([]) == []


def test_spans_never_run_backwards():
    spans = spans_between({0: 10, 1: 5}, {0: 25, 1: 3})
    assert spans == [PartitionSpan(0, 10, 25), PartitionSpan(1, 5, 5)]
    assert [s.count for s in spans] == [15, 0]


def test_offsets_json_is_sparks_format():
    assert json.loads(offsets_json("t", {1: 7, 0: 3})) == {"t": {"0": 3, "1": 7}}


NOW = day_start_ms(date(2024, 3, 10))
WEEK_MS = 7 * MS_PER_DAY


@pytest.mark.parametrize("log, start, complete", [
    (PartitionLog(0, 0, 100, day_start_ms(D2) + 5, NOW), day_start_ms(D1), True),  # nothing ever deleted
    (PartitionLog(0, 40, 100, day_start_ms(D1) - 1, NOW), day_start_ms(D1), True),  # an older record survives
    (PartitionLog(0, 40, 100, day_start_ms(D1), NOW), day_start_ms(D1), False),  # may have lost one at 00:00
    (PartitionLog(0, 40, 100, day_start_ms(D1) + 3600_000, NOW), day_start_ms(D1), False),  # cut mid-day
    (PartitionLog(0, 40, 100, day_start_ms(D3), NOW), day_start_ms(D1), False),  # the whole day is gone
])
def test_partition_complete(log, start, complete):
    assert partition_complete(log, start, WEEK_MS, NOW) is complete


def test_emptied_partition_is_bounded_by_time_retention():
    emptied = PartitionLog(0, 500, 500)
    assert partition_complete(emptied, NOW - WEEK_MS, WEEK_MS, NOW), "deleted records were older than this"
    assert not partition_complete(emptied, NOW - WEEK_MS - 1, WEEK_MS, NOW)
    assert not partition_complete(emptied, NOW, -1, NOW), "infinite retention: deletion was deliberate, unknown range"
    assert not partition_complete(emptied, NOW, None, NOW), "unknown retention: assume the worst"


def test_incomplete_days_names_the_partitions():
    logs = [PartitionLog(0, 0, 10, day_start_ms(D1), NOW),
            PartitionLog(1, 7, 10, day_start_ms(D2) + 10, NOW),
            PartitionLog(2, 3, 10, day_start_ms(D1) - 10, NOW)]
    assert incomplete_days([D1, D2, D3], logs, WEEK_MS, NOW) == {D1: [1], D2: [1]}


def test_topic_days_span_first_to_last_record():
    logs = [PartitionLog(0, 0, 10, day_start_ms(D2) + 1, day_start_ms(D2) + 9),
            PartitionLog(1, 0, 0),  # empty: no say
            PartitionLog(2, 4, 9, day_start_ms(D1) + 5, day_start_ms(D3))]
    assert topic_days(logs) == [D1, D2, D3]
    assert topic_days([PartitionLog(0, 3, 3)]) == []


def test_plan_runs_and_records():
    spans = {D1: [PartitionSpan(0, 0, 10), PartitionSpan(1, 0, 4)],
             D2: [PartitionSpan(0, 10, 30), PartitionSpan(1, 4, 4)],
             D3: [PartitionSpan(0, 30, 31), PartitionSpan(1, 4, 9)]}
    logs = [PartitionLog(0, 0, 31, 1, 2), PartitionLog(1, 2, 9, day_start_ms(D1) + 5, 3)]
    plan = ReplayPlan("t", [D1, D2, D3], [D2, D3], spans, {D1: [1]}, logs)

    (run,) = plan.runs()
    assert run.days == [D2, D3] and run.start == {0: 10, 1: 4} and run.end == {0: 31, 1: 9}
    assert run.records == 26 == plan.records(D2) + plan.records(D3)
    assert plan.skipped_days == [D1]
    assert plan.missing_ranges() == [{"date": "2024-03-01", "partition": 1, "low_watermark": 2,
                                      "earliest_retained_timestamp_ms": day_start_ms(D1) + 5}]
    gapped = ReplayPlan("t", [D1, D2, D3], [D1, D3], spans, {}, logs)
    assert [r.days for r in gapped.runs()] == [[D1], [D3]], "a day not written is not read"
