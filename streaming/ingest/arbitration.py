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

Trade records (when the shards read trades) follow the same rules on their own topic, by
trade id: published for a held group, kept for a standby one, and at a takeover published
after the last trade id the trade topic holds per symbol.

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
    def publish_trade(self, symbol: str, value: bytes) -> None: ...
    def dead_letter(self, symbol: str, value: bytes) -> None: ...


@dataclass(frozen=True)
class KeptRecord:
    update_id: int
    first_update_id: int  # 0 for partial-depth records (they carry no chain)
    value: bytes
    received_us: int  # when the shard received the event (the buffer's clock)


@dataclass(frozen=True)
class KeptTrade:
    trade_id: int
    value: bytes
    received_us: int


@dataclass(frozen=True)
class TakeOver:
    """What `take_over` did: records published from what was kept, and the symbols whose
    kept records did not reach back to Kafka's last one (a gap was unavoidable); the same
    for trades."""

    group: int
    published: int
    gaps: tuple[str, ...] = ()
    trades_published: int = 0
    trade_gaps: tuple[str, ...] = ()


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
        self._kept_trades: dict[str, deque[KeptTrade]] = {symbol: deque() for symbol in self._group_of}
        self._latest_us = 0  # the newest receive time seen: the clock of the kept trades (see take_over)

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
            self._kept_trades[symbol].clear()
        self.counters.groups_held = len(self._held)

    # --- the pipeline's Sink ------------------------------------------------------------------
    def publish(self, symbol: str, value: bytes, update_id: int, first_update_id: int, received_us: int) -> None:
        self._latest_us = max(self._latest_us, received_us)
        if self._group_of[symbol] in self._held:
            self._sink.publish(symbol, value)
            self.counters.records += 1
            return
        kept = self._kept[symbol]
        kept.append(KeptRecord(update_id, first_update_id, value, received_us))
        horizon = received_us - self.buffer_s * 1e6
        while kept[0].received_us < horizon:
            kept.popleft()

    def publish_trade(self, symbol: str, value: bytes, trade_id: int, received_us: int) -> None:
        self._latest_us = max(self._latest_us, received_us)
        if self._group_of[symbol] in self._held:
            self._sink.publish_trade(symbol, value)
            self.counters.trade_records += 1
            return
        kept = self._kept_trades[symbol]
        kept.append(KeptTrade(trade_id, value, received_us))
        _forget_before(kept, received_us - self.buffer_s * 1e6)

    def dead_letter(self, symbol: str, value: bytes) -> None:
        """Dead letters of a held group (or of no group) go out; the holder of another group
        sends that group's own, so the twin's copy is only counted."""
        group = self._group_of.get(symbol)
        if group is None or group in self._held:
            self._sink.dead_letter(symbol, value)
        else:
            self.counters.standby_dead_letters += 1

    # --- failover -------------------------------------------------------------------------------
    def take_over(self, group: int, last_in_kafka: Mapping[str, int],
                  last_trades_in_kafka: Mapping[str, int] | None = None) -> TakeOver:
        """Hold `group`, first publishing what was kept after Kafka's last update id per symbol
        (`last_in_kafka`; a symbol missing from it has nothing recent in Kafka), and the kept
        trades after the trade topic's last trade id (`last_trades_in_kafka`)."""
        published, gaps = 0, []
        for symbol in self.groups[group]:
            last = last_in_kafka.get(symbol, -1)
            pending = [record for record in self._kept[symbol] if record.update_id > last]
            if pending and last >= 0 and _leaves_gap(pending[0], last):
                gaps.append(symbol)
            for record in pending:
                self._sink.publish(symbol, record.value)
            published += len(pending)
        trades_published, trade_gaps = self._publish_kept_trades(group, last_trades_in_kafka or {})
        self.hold(group)
        counters = self.counters
        counters.records += published
        counters.trade_records += trades_published
        counters.leases_taken += 1
        counters.takeover_published += published
        counters.takeover_gaps += len(gaps)
        counters.takeover_trades += trades_published
        counters.takeover_trade_gaps += len(trade_gaps)
        return TakeOver(group, published, tuple(gaps), trades_published, tuple(trade_gaps))

    def _publish_kept_trades(self, group: int, last_in_kafka: Mapping[str, int]) -> tuple[int, list[str]]:
        """The kept trades after Kafka's last trade id per symbol. A quiet symbol's buffer is
        only trimmed by its own next trade, so it may hold trades older than the window the
        caller read Kafka over (`buffer_s` back, and a margin): those are forgotten first, by
        the newest receive time of any record, or they could be published a second time."""
        published, gaps = 0, []
        horizon = self._latest_us - self.buffer_s * 1e6
        for symbol in self.groups[group]:
            kept = self._kept_trades[symbol]
            _forget_before(kept, horizon)
            last = last_in_kafka.get(symbol, -1)
            pending = [trade for trade in kept if trade.trade_id > last]
            if pending and last >= 0 and pending[0].trade_id > last + 1:
                gaps.append(symbol)
            for trade in pending:
                self._sink.publish_trade(symbol, trade.value)
            published += len(pending)
        return published, gaps


def _forget_before(kept: deque, horizon_us: float) -> None:
    while kept and kept[0].received_us < horizon_us:
        kept.popleft()


def _leaves_gap(first_pending: KeptRecord, last_in_kafka: int) -> bool:
    """A diff record continues the chain when it starts at or before the next update id
    (Binance: the first event after id N has U <= N+1 <= u). Partial-depth records (no
    first id) are whole books: any newer one continues."""
    return first_pending.first_update_id != 0 and first_pending.first_update_id > last_in_kafka + 1
