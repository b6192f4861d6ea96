"""The restart policy of the health sensor: pure decisions on hand-built facts."""

from quantcore_platform.streams.health_policy import Policy, RestartLedger, StreamFacts, decide

POLICY = Policy(stale_s=30, start_grace_s=60, backoff_base_s=10, backoff_max_s=40, window_s=600, max_restarts=3)


def facts(status="STARTED", beat=1.0, run_age=300.0, run_id="r1") -> StreamFacts:
    return StreamFacts("compute", run_id, status, run_age, beat)


def test_running_with_fresh_heartbeat_is_healthy():
    verdict = decide(facts(), POLICY, RestartLedger(), now=1000)
    assert verdict.healthy and verdict.restart_key is None


def test_never_launched_is_down_but_not_restarted():
    verdict = decide(StreamFacts("serve", None, None, None, None), POLICY, RestartLedger(), now=1000)
    assert not verdict.healthy and verdict.restart_key is None and "never launched" in verdict.reason


def test_a_dead_run_earns_one_restart_keyed_by_its_id():
    ledger = RestartLedger()
    first = decide(facts(status="FAILURE"), POLICY, ledger, now=1000)
    assert first.restart_key == "compute:r1" and first.terminate_run_id is None
    ledger.record("compute", first.restart_key, 1000, POLICY.window_s)
    again = decide(facts(status="FAILURE"), POLICY, ledger, now=1001)
    assert again.restart_key is None and "requested" in again.reason


def test_stale_heartbeat_of_a_live_run_terminates_and_restarts_it():
    verdict = decide(facts(beat=45.0), POLICY, RestartLedger(), now=1000)
    assert not verdict.healthy
    assert verdict.restart_key == "compute:r1" and verdict.terminate_run_id == "r1"
    assert "stale" in verdict.reason


def test_a_young_run_without_heartbeat_is_starting():
    assert decide(facts(beat=None, run_age=20), POLICY, RestartLedger(), now=1000).healthy
    old = decide(facts(beat=None, run_age=200), POLICY, RestartLedger(), now=1000)
    assert not old.healthy and old.terminate_run_id == "r1"


def test_backoff_doubles_then_gives_up_at_the_ceiling():
    ledger = RestartLedger()
    ledger.record("compute", "compute:a", 1000, POLICY.window_s)
    assert decide(facts(status="FAILURE", run_id="b"), POLICY, ledger, now=1005).restart_key is None  # < 10 s
    assert decide(facts(status="FAILURE", run_id="b"), POLICY, ledger, now=1011).restart_key == "compute:b"
    ledger.record("compute", "compute:b", 1011, POLICY.window_s)
    assert decide(facts(status="FAILURE", run_id="c"), POLICY, ledger, now=1025).restart_key is None  # < 20 s
    assert decide(facts(status="FAILURE", run_id="c"), POLICY, ledger, now=1032).restart_key == "compute:c"
    ledger.record("compute", "compute:c", 1032, POLICY.window_s)
    gave_up = decide(facts(status="FAILURE", run_id="d"), POLICY, ledger, now=1500)
    assert gave_up.restart_key is None and "gave up after 3 restarts" in gave_up.reason
    # Outside the window the count resets.
    assert decide(facts(status="FAILURE", run_id="d"), POLICY, ledger, now=1000 + 700).restart_key == "compute:d"


def test_unreadable_heartbeats_restart_no_live_run():
    """Redis down: the ages are unknown. Ingest -> Kafka does not need Redis, and a restart
    would break every symbol's update-id chain, so no live run is restarted on that."""
    blind = StreamFacts("ingest", "r1", "STARTED", 600.0, None, heartbeats_readable=False)
    verdict = decide(blind, POLICY, RestartLedger(), now=1000)
    assert not verdict.healthy and verdict.restart_key is None and "Redis" in verdict.reason
    ended = StreamFacts("ingest", "r1", "FAILURE", 600.0, None, heartbeats_readable=False)
    assert decide(ended, POLICY, RestartLedger(), now=1000).restart_key == "ingest:r1"  # Dagster knows it died


def test_a_vanished_heartbeat_is_aged_from_when_it_was_last_seen():
    """Redis restarted empty: the beat is gone until the stream's next one, not "never"."""
    ledger = RestartLedger()
    assert decide(facts(beat=1.0, run_age=600), POLICY, ledger, now=1000).healthy
    gone = decide(facts(beat=None, run_age=605), POLICY, ledger, now=1005)
    assert gone.healthy and gone.restart_key is None
    still_gone = decide(facts(beat=None, run_age=700), POLICY, ledger, now=1100)
    assert not still_gone.healthy and still_gone.restart_key == "compute:r1"  # 101 s > stale_s: dead after all
    other_run = decide(facts(beat=None, run_age=600, run_id="r2"), POLICY, RestartLedger(beats=ledger.beats),
                       now=1005)
    assert not other_run.healthy  # what was seen of run r1 says nothing of r2
