"""Where a real-time compute query starts: right after the newest book written to Redis.

Spark's real-time trigger pauses the whole stream at each checkpoint (its trigger interval
is the checkpoint interval; measured here: 0.6-3.6 s with no update reaching any client,
every 120 s). A restart from a checkpoint re-reads everything since the last one, so a long
interval would make every restart slow. The driver's row writer (row_socket.py) records the
progress that matters instead: after its writes, the newest source offset of each book
partition, in the Redis hash `qc:compute:progress:{book topic}` (`ProgressLog`). So each
start of the real-time query (the first, a restart, a standby's takeover) begins a fresh
checkpoint at the offset after it, and the checkpoint interval only sets how often Spark
pauses (`compute.realtime_checkpoint_s`, an hour by default).

The progress is saved at most every `PROGRESS_SAVE_S` while rows flow, and at a graceful
stop: after a kill -9 up to that much is computed again (write-if-newer refuses the books
Redis already holds). Redis keeps no snapshot here, so a Redis restart forgets the progress
with the books: a query started then begins at the topic's end (or its start, with
--from-beginning), and the next book of each symbol fills Redis again.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

EARLIEST, LATEST = -2, -1  # Spark's startingOffsets JSON: -2 earliest, -1 latest
PROGRESS_PREFIX = "qc:compute:progress:"
PROGRESS_SAVE_S = 0.1  # a save per write would be a Redis round trip per ~2 rows at the seed's load


def starting_offsets(topic: str, partitions: int, written: Mapping[int, int], unwritten: int) -> str:
    """Spark's `startingOffsets` JSON for every partition of `topic` (Spark wants them all):
    the offset after `written[p]` (the newest source offset written from partition p), or
    `unwritten` (EARLIEST or LATEST) for a partition that has none."""
    if unwritten not in (EARLIEST, LATEST):
        raise ValueError("unwritten must be EARLIEST (-2) or LATEST (-1)")
    return json.dumps({topic: {str(p): written[p] + 1 if p in written else unwritten for p in range(partitions)}})


def progress_key(book_topic: str) -> str:
    return f"{PROGRESS_PREFIX}{book_topic}"


def newest_offsets(rows: Iterable[Any], newest: dict[int, int] | None = None) -> dict[int, int]:
    """{source partition: newest source offset} of rows with `partition` and `offset`,
    merged into `newest` (whatever their order)."""
    newest = {} if newest is None else newest
    for row in rows:
        if row.offset > newest.get(row.partition, -1):
            newest[row.partition] = row.offset
    return newest


def written_source_offsets(client, book_topic: str) -> dict[int, int]:
    """What the row writer saved: {source partition: newest source offset written}."""
    saved = client.hgetall(progress_key(book_topic))
    return {int(partition): int(offset) for partition, offset in saved.items()}


class ProgressLog:
    """The row writer's progress in Redis: `advance` after each write, saved at most every
    `every_s` (and by `save(force=True)` at a stop)."""

    def __init__(self, client, book_topic: str, every_s: float = PROGRESS_SAVE_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client, self.key = client, progress_key(book_topic)
        self.every_s, self.clock = every_s, clock
        self.newest: dict[int, int] = {}
        self._unsaved = False
        self._saved_at = float("-inf")

    def advance(self, rows: Iterable[Any]) -> None:
        newest_offsets(rows, self.newest)
        self._unsaved = True
        self.save()

    def save(self, force: bool = False) -> None:
        if self._unsaved and (force or self.clock() - self._saved_at >= self.every_s):
            self.client.hset(self.key, mapping=self.newest)
            self._unsaved, self._saved_at = False, self.clock()


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
