"""streaming/spark/realtime_resume.py: where a real-time query starts, from the progress its writer saved."""

from __future__ import annotations

import json
from typing import NamedTuple

import pytest

from streaming.spark.realtime_resume import (
    EARLIEST,
    LATEST,
    ProgressLog,
    fresh_checkpoint,
    newest_offsets,
    progress_key,
    remove_other_checkpoints,
    starting_offsets,
)

BOOKS = "qc.books.v1"


class Row(NamedTuple):
    partition: int
    offset: int


class RecordingRedis:
    def __init__(self) -> None:
        self.hashes: dict[str, dict[int, int]] = {}
        self.saves = 0

    def hset(self, key: str, mapping: dict[int, int]) -> None:
        self.hashes.setdefault(key, {}).update(mapping)
        self.saves += 1


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_each_partition_starts_after_its_newest_written_row_and_the_others_at_the_default():
    offsets = json.loads(starting_offsets(BOOKS, 4, {0: 41, 2: 0}, LATEST))
    assert offsets == {BOOKS: {"0": 42, "1": -1, "2": 1, "3": -1}}
    assert json.loads(starting_offsets(BOOKS, 2, {}, EARLIEST)) == {BOOKS: {"0": -2, "1": -2}}


def test_a_default_that_is_not_earliest_or_latest_is_refused():
    with pytest.raises(ValueError, match="EARLIEST"):
        starting_offsets(BOOKS, 1, {}, 0)


def test_the_newest_offset_of_each_partition_wins_whatever_the_order():
    rows = [Row(0, 7), Row(0, 9), Row(0, 8), Row(1, 3)]
    assert newest_offsets(rows) == {0: 9, 1: 3}
    assert newest_offsets([Row(1, 2), Row(2, 0)], {0: 9, 1: 3}) == {0: 9, 1: 3, 2: 0}, "merged, never backwards"


def test_progress_is_saved_at_most_every_interval_and_in_full_when_forced():
    redis, clock = RecordingRedis(), Clock()
    progress = ProgressLog(redis, BOOKS, every_s=0.1, clock=clock)
    progress.advance([Row(0, 5)])
    assert redis.hashes == {progress_key(BOOKS): {0: 5}}, "the first write is saved at once"
    clock.now = 0.05
    progress.advance([Row(1, 2), Row(0, 6)])
    assert redis.hashes[progress_key(BOOKS)] == {0: 5} and redis.saves == 1, "within the interval: held"
    progress.save()
    assert redis.saves == 1
    clock.now = 0.15
    progress.save()  # what the quiet writer saves
    assert redis.hashes[progress_key(BOOKS)] == {0: 6, 1: 2} and redis.saves == 2
    progress.save(force=True)
    assert redis.saves == 2, "nothing new: nothing saved"
    redis.hashes.clear()  # Redis restarted empty
    progress.advance([Row(2, 0)])
    progress.save(force=True)
    assert redis.hashes[progress_key(BOOKS)] == {0: 6, 1: 2, 2: 0}, "every partition saved again, not only the new one"


def test_earlier_starts_checkpoints_are_removed_and_this_one_kept(tmp_path):
    base = tmp_path / "qc_compute_realtime"
    (base / "offsets").mkdir(parents=True)  # the layout before fresh checkpoints
    (base / "metadata").write_text("{}")
    old = fresh_checkpoint(str(base)) + "-old"
    (tmp_path / "qc_compute_realtime" / old.rsplit("/", 1)[1] / "commits").mkdir(parents=True)
    current = fresh_checkpoint(str(base))
    assert current.startswith(f"{base}/start-")
    removed = remove_other_checkpoints(current)
    assert len(removed) == 3 and sorted(p.name for p in base.iterdir()) == []
    assert remove_other_checkpoints("s3://bucket/checkpoints/q/start-1") == []
