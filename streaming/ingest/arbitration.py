"""A/B feed arbitration: two shards read each symbol group, the one holding the group's
lease publishes it, the other keeps its recent records to take over without a gap.

Exchange feed handlers run two copies of a feed and arbitrate between them; here the copies
are two shard processes (shard i reads its own group i and its neighbour's group i-1), so
that a kill -9 of one shard loses no exchange event. Each shard keeps its own local books
(same diff events, same update ids, hence byte-for-byte the same records), and this class
decides what reaches Kafka:

- a group whose lease this shard holds: every record goes to Kafka at once;
- a group it stands by for: records are kept for `buffer_s` seconds, never published;
- on taking over (the lease came free: its holder died), the caller reads from Kafka the
  last update id published per symbol, and `take_over` publishes the kept records after it:
  the per-symbol update-id chain in Kafka continues with no gap and no duplicate.

Pure logic: no locks, no Kafka, no clock of its own (the caller passes times), so that the
unit tests can play both twins deterministically. The leases and the Kafka tail are at the
edge (`streaming.ingest.leases`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from streaming.ingest.counters import IngestCounters


class RecordSink(Protocol):
    """Where published records go (the Kafka producer)."""

    def publish(self, symbol: str, value: bytes) -> None: ...
    def dead_letter(self, symbol: str, value: bytes) -> None: ...


@dataclass(frozen=True)
class KeptRecord:
    update_id: int
    first_update_id: int  # 0 for partial-depth records (they carry no chain)
    value: bytes
    received_us: int  # when the shard received the event (the buffer's clock)


@dataclass(frozen=True)
class TakeOver:
    """What `take_over` did: records published from what was kept, and the symbols whose
    kept records did not reach back to Kafka's last one (a gap was unavoidable)."""

    group: int
    published: int
    gaps: tuple[str, ...] = ()


class FeedArbiter:
    """The pipeline's sink in a shard: publishes the groups it holds, keeps the others.

    `groups` maps a group id to its symbols; no group is held until `hold` or `take_over`."""

    def __init__(self, sink: RecordSink, groups: Mapping[int, Sequence[str]], *, buffer_s: float,
                 counters: IngestCounters | None = None) -> None:
        self._sink = sink
        self.buffer_s = buffer_s
        self.counters = counters or IngestCounters()
        self.groups = {group: tuple(s.upper() for s in symbols) for group, symbols in groups.items()}
        self._group_of = {symbol: group for group, symbols in self.groups.items() for symbol in symbols}
        self._held: set[int] = set()
        self._kept: dict[str, deque[KeptRecord]] = {symbol: deque() for symbol in self._group_of}

    @property
    def held(self) -> frozenset[int]:
        return frozenset(self._held)

    def standing_by(self) -> list[int]:
        return [group for group in self.groups if group not in self._held]

    def hold(self, group: int) -> None:
        """Publish `group` from now on, without looking back (no twin, or a first start)."""
        self._held.add(group)
        for symbol in self.groups[group]:
            self._kept[symbol].clear()
        self.counters.groups_held = len(self._held)

    # --- the pipeline's Sink ------------------------------------------------------------------
    def publish(self, symbol: str, value: bytes, update_id: int, first_update_id: int, received_us: int) -> None:
        if self._group_of[symbol] in self._held:
            self._sink.publish(symbol, value)
            self.counters.records += 1
            return
        kept = self._kept[symbol]
        kept.append(KeptRecord(update_id, first_update_id, value, received_us))
        horizon = received_us - self.buffer_s * 1e6
        while kept[0].received_us < horizon:
            kept.popleft()

    def dead_letter(self, symbol: str, value: bytes) -> None:
        """Dead letters of a held group (or of no group) go out; the holder of another group
        sends that group's own, so the twin's copy is only counted."""
        group = self._group_of.get(symbol)
        if group is None or group in self._held:
            self._sink.dead_letter(symbol, value)
        else:
            self.counters.standby_dead_letters += 1

    # --- failover -------------------------------------------------------------------------------
    def take_over(self, group: int, last_in_kafka: Mapping[str, int]) -> TakeOver:
        """Hold `group`, first publishing what was kept after Kafka's last update id per symbol
        (`last_in_kafka`; a symbol missing from it has nothing recent in Kafka)."""
        published, gaps = 0, []
        for symbol in self.groups[group]:
            last = last_in_kafka.get(symbol, -1)
            pending = [record for record in self._kept[symbol] if record.update_id > last]
            if pending and last >= 0 and _leaves_gap(pending[0], last):
                gaps.append(symbol)
            for record in pending:
                self._sink.publish(symbol, record.value)
            published += len(pending)
        self.hold(group)
        counters = self.counters
        counters.records += published
        counters.leases_taken += 1
        counters.takeover_published += published
        counters.takeover_gaps += len(gaps)
        return TakeOver(group, published, tuple(gaps))


def _leaves_gap(first_pending: KeptRecord, last_in_kafka: int) -> bool:
    """A diff record continues the chain when it starts at or before the next update id
    (Binance: the first event after id N has U <= N+1 <= u). Partial-depth records (no
    first id) are whole books: any newer one continues."""
    return first_pending.first_update_id != 0 and first_pending.first_update_id > last_in_kafka + 1
