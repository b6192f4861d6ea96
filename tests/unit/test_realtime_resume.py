"""streaming/spark/realtime_resume.py: where a real-time query starts, from the relay's rows."""

from __future__ import annotations

import json

import pytest

from streaming.spark.realtime_resume import (
    EARLIEST,
    LATEST,
    fresh_checkpoint,
    newest_relayed,
    remove_other_checkpoints,
    starting_offsets,
)

BOOKS = "qc.books.v1"


def row(partition: int, offset: int | None, topic: str = BOOKS) -> tuple[int, dict]:
    return partition, {"source_topic": topic, "source_partition": partition, "source_offset": offset}


def test_each_partition_starts_after_its_newest_relayed_row_and_the_others_at_the_default():
    offsets = json.loads(starting_offsets(BOOKS, 4, {0: 41, 2: 0}, LATEST))
    assert offsets == {BOOKS: {"0": 42, "1": -1, "2": 1, "3": -1}}
    assert json.loads(starting_offsets(BOOKS, 2, {}, EARLIEST)) == {BOOKS: {"0": -2, "1": -2}}


def test_a_default_that_is_not_earliest_or_latest_is_refused():
    with pytest.raises(ValueError, match="EARLIEST"):
        starting_offsets(BOOKS, 1, {}, 0)


def test_the_newest_offset_of_our_topic_wins_whatever_the_order():
    rows = [row(0, 7), row(0, 9), row(0, 8), row(1, 3), row(1, 100, topic="other.books"), row(2, None)]
    assert newest_relayed(rows, BOOKS) == {0: 9, 1: 3}


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
