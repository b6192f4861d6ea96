"""What a kill did, judged from what the observers saw (pure: no clocks, no I/O).

Inputs are the client's updates (symbol, update id, when received, the exchange event time
of the book they were computed from) and the Kafka book records written around the kill.
The promises per component are the reliability issue's table: how soon every symbol updates
at the client again, and that nothing regresses, is lost or leaves a gap.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

COMPONENTS = ("ingest", "compute", "serve", "redis", "kafka")
# On a platform started as a cluster (`up --kafka-brokers 3 --spark-workers 2`): one Kafka
# node of three (its partitions' leadership moves to the others) and one Spark worker (its
# executors go with it; the tasks run again on the other).
CLUSTER_COMPONENTS = ("kafka-2", "spark-worker-1")

# Seconds until signals at every client again, as promised (the "done when" table);
# Redis's is counted from when it is back.
PROMISED_S = {"ingest": 0.0, "compute": 15.0, "serve": 2.0, "redis": 10.0, "kafka": 30.0,
              "kafka-2": 15.0, "spark-worker-1": 30.0}
ZERO_TOLERANCE_S = 0.5
FLOOR_UNKNOWN_S = 0.5  # no floor measured (the client had watched too briefly): a symbol's books come every 0.1 s


@dataclass(frozen=True)
class ClientUpdate:
    symbol: str
    update_id: int
    received_s: float  # epoch seconds, at the client
    event_s: float  # epoch seconds: the exchange event of the book it was computed from


@dataclass(frozen=True)
class ChainFaults:
    gaps: int  # a record whose first update id does not follow the previous record's
    duplicates: int  # a record whose update id is not above the previous one's


@dataclass(frozen=True)
class Outcome:
    component: str
    killed_pid: int
    back_after_s: float | None  # the component replaced and healthy (None: not seen)
    signals_after_s: float | None  # every symbol updated at the client from an event after the kill
    regressions: int  # updates at the client older than one it had already shown
    chain: ChainFaults
    acknowledged_lost: int  # records Kafka had acknowledged before the kill and no longer holds
    floor_s: float | None = None  # the same measure as signals_after_s at a moment with no kill
    paused_s: float | None = None  # frozen this long (SIGSTOP) instead of killed; times run from SIGCONT

    @property
    def promised_s(self) -> float:
        return PROMISED_S[self.component]

    @property
    def lossless(self) -> bool:
        return (self.regressions == 0 and self.chain.gaps == 0 and self.chain.duplicates == 0
                and self.acknowledged_lost == 0)

    @property
    def recovered(self) -> bool:
        return self.signals_after_s is not None and self.back_after_s is not None


def signals_again_after(updates: Iterable[ClientUpdate], symbols: Iterable[str], killed_s: float) -> float | None:
    """Seconds from the kill until the last of `symbols` showed, at the client, an update made
    from an exchange event after the kill (None if one never did)."""
    first: dict[str, float] = {}
    for update in updates:
        if update.event_s > killed_s and update.symbol not in first:
            first[update.symbol] = update.received_s
    wanted = set(symbols)
    if not wanted <= set(first):
        return None
    return max(first[s] for s in wanted) - killed_s


def regressions(updates: Iterable[ClientUpdate]) -> int:
    """Updates whose update id is below the last one the client saw for that symbol (a snapshot
    after a reconnect repeats the last id: equal is not a regression)."""
    last: dict[str, int] = {}
    count = 0
    for update in updates:
        previous = last.get(update.symbol, -1)
        if update.update_id < previous:
            count += 1
        else:
            last[update.symbol] = update.update_id
    return count


def chain_faults(chains: Mapping[str, Sequence[tuple[int, int]]]) -> ChainFaults:
    """Per symbol, (first update id, update id) of its records in Kafka order: diff records
    chain when each starts right after the previous one (Binance: U = previous u + 1)."""
    gaps = duplicates = 0
    for records in chains.values():
        highest = records[0][1] if records else 0
        for first, last in records[1:]:
            if last <= highest:  # already covered: a duplicate (or older) record
                duplicates += 1
                continue
            gaps += first != highest + 1
            highest = last
    return ChainFaults(gaps, duplicates)


def acknowledged_lost(ends_before: Mapping[int, int], ends_after: Mapping[int, int]) -> int:
    """Records below a partition's high watermark before the kill (acknowledged with acks=all)
    that are gone after it: the watermark moved back."""
    return sum(max(0, end - ends_after.get(partition, 0)) for partition, end in ends_before.items())


def table(outcomes: Iterable[Outcome]) -> list[list[str]]:
    """Rows for a printed table (header first)."""
    rows = [["killed", "pid", "back", "signals", "no kill", "promised", "regress", "gaps", "dups", "acked lost",
             "verdict"]]
    for o in outcomes:
        name = o.component if o.paused_s is None else f"{o.component} (paused {o.paused_s:g} s)"
        rows.append([name, str(o.killed_pid), seconds(o.back_after_s), seconds(o.signals_after_s),
                     seconds(o.floor_s), f"{o.promised_s:g} s", str(o.regressions), str(o.chain.gaps), str(o.chain.duplicates),
                     str(o.acknowledged_lost), _verdict(o)])
    return rows


def seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.2f} s"


def _verdict(outcome: Outcome) -> str:
    if not outcome.recovered:
        return "NOT RECOVERED"
    if not outcome.lossless:
        return "LOSS"
    late = outcome.signals_after_s - (outcome.back_after_s if outcome.component == "redis" else 0.0)
    if outcome.promised_s == 0.0:
        # "0 s" (nothing stops): no later than with no kill (a symbol's next book, the pipeline's
        # latency: the floor) plus ZERO_TOLERANCE_S for the twin's takeover
        floor = outcome.floor_s if outcome.floor_s is not None else FLOOR_UNKNOWN_S
        return "ok" if late <= floor + ZERO_TOLERANCE_S else "slow"
    return "ok" if late <= outcome.promised_s else "slow"
