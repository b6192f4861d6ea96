"""The A/B edge of a shard: a lease per symbol group, and the takeover when one comes free.

A group's lease is an exclusive lock file (quantcore.exclusive_lock) in the platform's run
directory: the kernel frees it the moment its holder dies, however it dies, so the twin
shard polling it learns within `LEASE_POLL_S`. The new holder waits `TAKEOVER_GRACE_S` (the
dead producer's last requests in flight land or fail), reads the last update id per symbol
from Kafka (and the last trade id from the trade topic, when the shards read trades), and
lets the arbiter publish what it kept after those.

Why 0.1 s of grace is enough: when a process dies the kernel closes its sockets, so a
request it had written is already in the broker's socket buffer on this machine (loopback)
and is appended within milliseconds; what it had not written is gone with it. A record
appended after the tail read would be published twice; the chaos suite's duplicate count
checks this on every run.

The leases are local to one machine (the shards of one platform run under one runner);
shards on several hosts would need a distributed lease (e.g. a Kafka consumer group or a
DynamoDB lock) behind the same two calls.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from quantcore.exclusive_lock import ExclusiveLock
from quantcore.log import get_logger
from streaming.ingest.arbitration import FeedArbiter

LEASE_POLL_S = 0.05
TAKEOVER_GRACE_S = 0.1
TAIL_MARGIN_S = 5.0  # read Kafka from this long before the oldest record a standby keeps
TWIN_DEFER_S = 5.0  # a starting shard leaves its neighbour's group to the neighbour this long
OWN_GROUP_WAIT_S = 10.0  # ...and takes its own group after this long even if a book is not synced

LastUpdateIds = Callable[[list[str], int], Mapping[str, int]]  # (symbols, since_ms) -> last id per symbol


def group_lock(run_dir: Path, book_topic: str, group: int, groups: int) -> ExclusiveLock:
    return ExclusiveLock(run_dir / f"ingest-{book_topic}-group-{group}-of-{groups}.lock")


class GroupLeases:
    """Holds the leases of the arbiter's groups it can get, and takes over the others as
    soon as their holder is gone."""

    def __init__(self, arbiter: FeedArbiter, locks: Mapping[int, ExclusiveLock], last_update_ids: LastUpdateIds,
                 owner: str, own_group: int, ready: Callable[[tuple[str, ...]], bool],
                 last_trade_ids: LastUpdateIds | None = None) -> None:
        self._arbiter = arbiter
        self._own_group = own_group
        self._ready = ready
        self._locks = dict(locks)
        self._last_update_ids = last_update_ids
        self._last_trade_ids = last_trade_ids
        self._owner = f"{owner} pid {os.getpid()}"
        self._log = get_logger("ingest.leases", owner=owner)

    async def run(self) -> None:
        """Poll the free groups' leases until cancelled. A group is tried once this shard's
        books of it are synced (taking it earlier would leave a gap its twin could fill);
        at a start the neighbour's group only after TWIN_DEFER_S, so that when the whole
        ingest starts together each shard publishes its own group (see `_may_try`)."""
        started = time.monotonic()
        while True:
            standing_by = self._arbiter.standing_by()
            may_try = [g for g in standing_by if self._may_try(g, time.monotonic() - started)]
            self._arbiter.counters.groups_ready = len(self._arbiter.groups) - len(standing_by) + len(may_try)
            for group in may_try:
                if self._locks[group].try_acquire(self._owner):
                    await self._take_over(group)
            await asyncio.sleep(LEASE_POLL_S)

    def _may_try(self, group: int, running_s: float) -> bool:
        ready = self._ready(self._arbiter.groups[group])
        if group == self._own_group:
            return ready or running_s >= OWN_GROUP_WAIT_S  # a symbol that never syncs must not hold up the rest
        return ready and running_s >= TWIN_DEFER_S

    async def _take_over(self, group: int) -> None:
        previous = self._locks[group].previous_owner or "nobody"
        started = time.monotonic()
        await asyncio.sleep(TAKEOVER_GRACE_S)
        since_ms = int((time.time() - self._arbiter.buffer_s - TAIL_MARGIN_S) * 1000)
        symbols = list(self._arbiter.groups[group])
        last, last_trades = await asyncio.gather(
            asyncio.to_thread(self._last_update_ids, symbols, since_ms),
            asyncio.to_thread(self._last_trade_ids, symbols, since_ms) if self._last_trade_ids else _nothing())
        result = self._arbiter.take_over(group, last, last_trades)
        log = self._log.warning if result.gaps or result.trade_gaps else self._log.info
        log("took over symbol group", group=group, previous_holder=previous, published_from_kept=result.published,
            symbols_with_gap=list(result.gaps), trades_from_kept=result.trades_published,
            symbols_with_trade_gap=list(result.trade_gaps), took_s=round(time.monotonic() - started, 3))

    def release(self) -> None:
        """Free every lease held (after the records were flushed: the twin continues from Kafka)."""
        for lock in self._locks.values():
            lock.release()


async def _nothing() -> dict[str, int]:
    return {}
