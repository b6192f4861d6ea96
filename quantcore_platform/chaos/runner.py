"""Kill the platform's components one at a time with SIGKILL and judge what happened.

For each component: wait until every symbol updates at the client, note Kafka's high
watermarks, kill -9 the component's process, then wait until every symbol has shown an
update made from an exchange event after the kill and the component is back; then read
the book records written since the kill's watermarks and check every symbol's update-id
chain. `quantcore chaos` and tests/chaos call `run_chaos` against a running platform.

With `pause_s` the process is not killed but frozen (SIGSTOP) that long and then let go
(SIGCONT): a long outage without a restart (a broker on a stalled disk, a partitioned host),
measured from the moment it is let go; meanwhile the ingest producers' queues are sampled.
"""

from __future__ import annotations

import os
import signal
import time
from collections import defaultdict
from collections.abc import Callable, Iterable

from quantcore import wire
from quantcore.errors import PlatformError
from quantcore.polling import wait_until
from quantcore.settings import Settings
from quantcore.topic_reader import end_offsets, read_to_end
from quantcore_platform.chaos import targets
from quantcore_platform.chaos.observer import STEADY_LATENCY_S, ClientObserver
from quantcore_platform.chaos.verdict import (
    CLUSTER_COMPONENTS,
    COMPONENTS,
    Outcome,
    acknowledged_lost,
    chain_faults,
    regressions,
    seconds,
    signals_again_after,
)

SETTLE_TIMEOUT_S = 180.0
SETTLED_AFTER_S = 3.0  # after recovering, let the pipeline drain before reading Kafka
FLOOR_BEFORE_S = 2.0  # the no-kill floor is measured from this long before the kill


def check_components(components: Iterable[str]) -> list[str]:
    chosen = list(dict.fromkeys(components)) or list(COMPONENTS)
    known = COMPONENTS + CLUSTER_COMPONENTS
    unknown = [c for c in chosen if c not in known]
    if unknown:
        raise PlatformError(f"unknown component(s) {', '.join(unknown)}",
                            f"choose from {', '.join(known)} (the last ones on a platform up as a cluster)")
    return chosen


def run_chaos(settings: Settings, components: Iterable[str] = (), timeout_s: float = 120.0,
              report: Callable[[str], None] = lambda line: None, pause_s: float | None = None) -> list[Outcome]:
    chosen = check_components(components)
    symbols = list(settings.market.symbols)
    outcomes = []
    with ClientObserver(settings) as client:
        for component in chosen:
            outcome = _kill_one(settings, component, symbols, client, timeout_s, report, pause_s)
            report(f"{component}: back after {seconds(outcome.back_after_s)}, signals at the client again after "
                   f"{seconds(outcome.signals_after_s)}")
            outcomes.append(outcome)
    return outcomes


def _kill_one(settings: Settings, component: str, symbols: list[str], client: ClientObserver, timeout_s: float,
              report: Callable[[str], None], pause_s: float | None = None) -> Outcome:
    topic = settings.kafka.book_topic
    wait_until(lambda: client.steady(symbols), SETTLE_TIMEOUT_S,
               f"a steady platform (every symbol updating within {STEADY_LATENCY_S:g} s) before killing {component}")
    wait_until(lambda: targets.redundant(settings, component), SETTLE_TIMEOUT_S,
               f"{component}'s standby ready (it prepares after its own restart)")
    # the no-kill floor needs the client watching since before its window (not a first snapshot)
    time.sleep(max(0.0, FLOOR_BEFORE_S + 1.0 - client.watching_s()))
    pid = targets.victim_pid(settings, component)
    ends_before = end_offsets(settings.kafka, topic)
    first_update = len(client.updates)
    # what "every symbol updated from an event after t" takes with nothing killed: a symbol's
    # next book is up to 100 ms away, and then the pipeline's latency; no recovery beats it
    floor = signals_again_after(client.updates[:first_update], symbols, time.time() - FLOOR_BEFORE_S)
    if pause_s is None:
        report(f"{component}: kill -9 {pid}")
        killed_s = time.time()
        os.kill(pid, signal.SIGKILL)
    else:
        killed_s = _pause(settings, component, pid, pause_s, report)

    back_after = _seconds_until(lambda: targets.back(settings, component, pid, replaced=pause_s is None),
                                killed_s, timeout_s)
    _seconds_until(lambda: signals_again_after(client.since(first_update), symbols, killed_s) is not None,
                   killed_s, timeout_s)
    signals_after = signals_again_after(client.since(first_update), symbols, killed_s)
    time.sleep(SETTLED_AFTER_S)
    ends_after = _when_readable(lambda: end_offsets(settings.kafka, topic), timeout_s)
    return Outcome(component=component, killed_pid=pid, back_after_s=back_after, signals_after_s=signals_after,
                   regressions=regressions(client.since(first_update)),
                   chain=chain_faults(_chains(settings, topic, ends_before)),
                   acknowledged_lost=acknowledged_lost(ends_before, ends_after), floor_s=floor, paused_s=pause_s)


def _pause(settings: Settings, component: str, pid: int, pause_s: float, report: Callable[[str], None]) -> float:
    """Freeze `pid` for `pause_s`, reporting the ingest producers' queues; returns when it was let go."""
    report(f"{component}: SIGSTOP {pid} for {pause_s:g} s")
    os.kill(pid, signal.SIGSTOP)
    until = time.time() + pause_s
    try:
        while (left := until - time.time()) > 0:
            time.sleep(min(10.0, left))
            report(f"{component}: paused, ingest records waiting for Kafka per shard: {targets.kafka_pending(settings)}")
    finally:
        os.kill(pid, signal.SIGCONT)
    report(f"{component}: SIGCONT {pid}")
    return time.time()


def _seconds_until(condition: Callable[[], bool], since_s: float, timeout_s: float) -> float | None:
    try:
        wait_until(condition, timeout_s - (time.time() - since_s), interval=0.05)
    except TimeoutError:
        return None
    return time.time() - since_s


def _when_readable(read: Callable[[], dict], timeout_s: float) -> dict:
    return wait_until(lambda: _or_none(read), timeout_s, "Kafka readable again")


def _or_none(read: Callable[[], dict]) -> dict | None:
    try:
        return read()
    except Exception:  # noqa: BLE001 - the broker is still coming back
        return None


def _chains(settings: Settings, topic: str, starts: dict[int, int]) -> dict[str, list[tuple[int, int]]]:
    """(first update id, update id) of every diff record written since `starts`, per symbol.
    Each chain starts one record before the kill's watermark, to check the first record after."""
    chains: dict[str, list[tuple[int, int]]] = defaultdict(list)
    from_offsets = {p: max(0, offset - 1) for p, offset in starts.items()}
    for message in read_to_end(settings.kafka, topic, offsets=from_offsets, timeout_s=60):
        record = wire.BookRecord.FromString(message.value())
        if record.first_update_id:  # partial-depth records carry no chain
            chains[record.symbol].append((record.first_update_id, record.update_id))
    return chains
