"""When is a stream unhealthy, and when may it be restarted? Pure decisions, no I/O.

The health sensor gathers facts (latest run of each stream, heartbeat ages) and asks
`decide`. A dead run (failed, canceled, or finished) or a live run whose heartbeat went
stale earns exactly one restart, keyed by that run's id so repeated evaluations never
duplicate it. Restarts back off exponentially and stop at a ceiling within a window, so a
stream that cannot start does not thrash the machine.

Missing evidence is not a failure: when the heartbeats cannot be read at all (Redis down),
no live run is restarted (ingest -> Kafka does not need Redis; restarting it would break
every symbol's update-id chain), and a heartbeat that vanished (Redis restarted empty) is
aged from the last time the sensor saw it, not treated as "never".
"""

from __future__ import annotations

from dataclasses import dataclass, field

ACTIVE = frozenset({"QUEUED", "NOT_STARTED", "STARTING", "STARTED"})


@dataclass(frozen=True)
class StreamFacts:
    stream: str
    run_id: str | None  # the latest run of the stream's job
    run_status: str | None  # DagsterRunStatus name
    run_age_s: float | None  # since the latest run started (or was created)
    heartbeat_age_s: float | None  # None: no heartbeat at all
    heartbeats_readable: bool = True  # False: Redis could not be read, so ages are unknown


@dataclass(frozen=True)
class Policy:
    stale_s: float = 30.0
    start_grace_s: float = 90.0  # a new run may take this long to send its first beat
    backoff_base_s: float = 5.0
    backoff_max_s: float = 300.0
    window_s: float = 1800.0
    max_restarts: int = 5


@dataclass(frozen=True)
class Verdict:
    stream: str
    healthy: bool
    reason: str
    restart_key: str | None = None  # set when a restart should be requested now
    terminate_run_id: str | None = None  # a stuck run to terminate before restarting


@dataclass
class RestartLedger:
    """Restarts requested per stream, as [time, run key] pairs (the sensor's cursor)."""

    restarts: dict[str, list[tuple[float, str]]] = field(default_factory=dict)
    beats: dict[str, tuple[str, float]] = field(default_factory=dict)  # stream: (run id, last beat time)

    def saw_beat(self, stream: str, run_id: str | None, beat_time: float) -> None:
        self.beats[stream] = (run_id or "", beat_time)

    def last_beat(self, stream: str, run_id: str | None) -> float | None:
        seen = self.beats.get(stream)
        return seen[1] if seen and seen[0] == (run_id or "") else None

    def recent(self, stream: str, now: float, window_s: float) -> list[float]:
        return [t for t, _ in self.restarts.get(stream, []) if now - t <= window_s]

    def requested(self, stream: str, key: str) -> bool:
        return any(k == key for _, k in self.restarts.get(stream, []))

    def record(self, stream: str, key: str, now: float, window_s: float) -> None:
        kept = [(t, k) for t, k in self.restarts.get(stream, []) if now - t <= window_s]
        self.restarts[stream] = [*kept, (now, key)]


def assess(facts: StreamFacts, policy: Policy) -> tuple[bool, str, str | None]:
    """(healthy, reason, stuck run to terminate)."""
    if facts.run_status is None:
        return False, "never launched", None
    if facts.run_status not in ACTIVE:
        return False, f"run {facts.run_id} ended {facts.run_status}", None
    beat = facts.heartbeat_age_s
    young = facts.run_age_s is not None and facts.run_age_s < policy.start_grace_s
    if beat is not None and beat <= policy.stale_s:
        return True, f"heartbeat {beat:.1f}s ago", None
    if young:
        return True, "starting", None
    what = "no heartbeat" if beat is None else f"heartbeat stale ({beat:.0f}s)"
    return False, f"{what} while run {facts.run_id} is {facts.run_status}", facts.run_id


def decide(facts: StreamFacts, policy: Policy, ledger: RestartLedger, now: float) -> Verdict:
    if not facts.heartbeats_readable and facts.run_status in ACTIVE:
        return Verdict(facts.stream, False, f"heartbeats unreadable (Redis down?) while run {facts.run_id} is "
                                            f"{facts.run_status}: no restart on missing evidence")
    facts = _with_remembered_beat(facts, ledger, now)
    healthy, reason, stuck = assess(facts, policy)
    if healthy or facts.run_status is None:
        # A stream that was never launched is the operator's choice, not a failure to heal.
        return Verdict(facts.stream, healthy, reason)
    key = f"{facts.stream}:{facts.run_id}"
    if ledger.requested(facts.stream, key):
        return Verdict(facts.stream, False, f"{reason}; restart requested")
    recent = ledger.recent(facts.stream, now, policy.window_s)
    if len(recent) >= policy.max_restarts:
        return Verdict(facts.stream, False, f"{reason}; gave up after {len(recent)} restarts")
    wait = min(policy.backoff_base_s * 2 ** max(len(recent) - 1, 0), policy.backoff_max_s) if recent else 0
    if recent and now - recent[-1] < wait:
        return Verdict(facts.stream, False, f"{reason}; next restart in {wait - (now - recent[-1]):.0f}s")
    return Verdict(facts.stream, False, reason, restart_key=key, terminate_run_id=stuck)


def _with_remembered_beat(facts: StreamFacts, ledger: RestartLedger, now: float) -> StreamFacts:
    """Record a fresh beat; age a vanished one from when it was last seen (same run)."""
    if facts.heartbeat_age_s is not None:
        ledger.saw_beat(facts.stream, facts.run_id, now - facts.heartbeat_age_s)
        return facts
    seen = ledger.last_beat(facts.stream, facts.run_id)
    if seen is None:
        return facts
    return StreamFacts(facts.stream, facts.run_id, facts.run_status, facts.run_age_s, now - seen,
                       facts.heartbeats_readable)
