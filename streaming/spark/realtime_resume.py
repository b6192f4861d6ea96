"""Where a real-time compute query starts: right after the newest book the relay topic holds.

Spark's real-time trigger pauses the whole stream at each checkpoint (its trigger interval
is the checkpoint interval; measured here: 0.6-3.6 s with no update reaching any client,
every 120 s). A restart from a checkpoint re-reads everything since the last one, so a long
interval would make every restart slow. The relay topic already records the progress that
matters: every computed row in it names its source partition and offset, and the relay
writes every row of it to Redis (it commits its own offsets after each write). So each
start of the real-time query (the first, a restart, a standby's takeover) begins a fresh
checkpoint at the offset after the newest source offset each relay partition holds: nothing
is computed twice, nothing is skipped, and the checkpoint interval only sets how often Spark
pauses (`compute.realtime_checkpoint_s`, an hour by default).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Mapping
from pathlib import Path

from quantcore.settings import KafkaSettings
from quantcore.topic_reader import TopicReader
from streaming.spark.realtime_relay import parse_row

EARLIEST, LATEST = -2, -1  # Spark's startingOffsets JSON: -2 earliest, -1 latest
RELAY_TAIL = 16  # rows read back from each relay partition's end (the newest holds the answer)


def starting_offsets(topic: str, partitions: int, relayed: Mapping[int, int], unrelayed: int) -> str:
    """Spark's `startingOffsets` JSON for every partition of `topic` (Spark wants them all):
    the offset after `relayed[p]` (the newest source offset computed from partition p), or
    `unrelayed` (EARLIEST or LATEST) for a partition that has none."""
    if unrelayed not in (EARLIEST, LATEST):
        raise ValueError("unrelayed must be EARLIEST (-2) or LATEST (-1)")
    return json.dumps({topic: {str(p): relayed[p] + 1 if p in relayed else unrelayed for p in range(partitions)}})


def newest_relayed(rows: list[tuple[int, dict]], book_topic: str) -> dict[int, int]:
    """{source partition: newest source offset} of relay rows (relay partition, parsed row)
    that came from `book_topic` (a relay topic shared with another book topic is not ours)."""
    newest: dict[int, int] = {}
    for _, row in rows:
        if row.get("source_topic") == book_topic and row.get("source_offset") is not None:
            partition, offset = int(row["source_partition"]), int(row["source_offset"])
            newest[partition] = max(offset, newest.get(partition, -1))
    return newest


def relayed_source_offsets(kafka: KafkaSettings, relay_topic: str, book_topic: str) -> dict[int, int]:
    """What the relay topic holds now: {source partition: newest source offset relayed}."""
    with TopicReader(kafka, relay_topic) as reader:
        ends = reader.ends()
        tails = {p: max(0, end - RELAY_TAIL) for p, end in ends.items() if end > 0}
        rows = [(m.partition(), parse_row(m.value())) for m in reader.read_to_end(offsets=tails)] if tails else []
    return newest_relayed(rows, book_topic)


def fresh_checkpoint(base: str) -> str:
    """A new checkpoint directory under `base` for one start of the query."""
    return f"{base.rstrip('/')}/start-{time.time_ns() // 1_000_000}"


def remove_other_checkpoints(current: str) -> list[str]:
    """Delete what earlier starts left beside `current` in the query's checkpoint directory
    (local paths only: on S3 a lifecycle rule expires them). Call once the query holds its
    lock and the previous driver is gone: nothing else writes there then."""
    path = Path(current)
    if "://" in current or not path.parent.is_dir():
        return []
    removed = []
    for sibling in path.parent.iterdir():
        if sibling != path:
            if sibling.is_dir():
                shutil.rmtree(sibling, ignore_errors=True)
            else:
                sibling.unlink(missing_ok=True)
            removed.append(str(sibling))
    return removed
