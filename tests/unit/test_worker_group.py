"""The worker group behind the shard runner and the serve runner: restarts, counters, stop."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

from quantcore.polling import wait_until
from quantcore.worker_group import WorkerGroup

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]
CRASHER = [sys.executable, "-c", "raise SystemExit(3)"]


def group(**commands: list[str]) -> WorkerGroup:
    return WorkerGroup("test-group", commands, dict(os.environ), backoff_s=0.1, backoff_max_s=0.4)


def test_a_killed_worker_is_restarted_under_a_new_pid_and_counted():
    workers = group(a=SLEEPER, b=SLEEPER)
    workers.start()
    try:
        first = workers.counters()
        assert first["restarts"] == 0 and first["a_pid"] and first["b_pid"]
        os.kill(first["a_pid"], signal.SIGKILL)
        wait_until(lambda: (workers.failure(), workers.counters()["a_pid"] not in (0, first["a_pid"]))[1], 10,
                   "worker a restarted", interval=0.05)
        after = workers.counters()
        assert after["restarts"] == 1 and after["b_pid"] == first["b_pid"], "only the dead worker restarts"
    finally:
        workers.stop()
    assert all(w.process.poll() is not None for w in workers.workers)


def test_a_worker_that_keeps_dying_waits_longer_each_time():
    workers = group(crash=CRASHER)
    workers.start()
    starts: list[float] = []
    deadline = time.monotonic() + 3.0
    pid = None
    while time.monotonic() < deadline:
        workers.failure()
        current = workers.counters()["crash_pid"]
        if current and current != pid:
            pid = current
            starts.append(time.monotonic())
        time.sleep(0.01)
    workers.stop()
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert len(gaps) >= 3, gaps
    # backoff 0.1 s doubling to 0.4 s, half of it jitter: the later gaps are never the shortest
    assert max(gaps[2:]) >= 0.2 and min(gaps) >= 0.05, gaps


def test_run_stops_every_worker_when_asked():
    workers = group(a=SLEEPER, b=SLEEPER)
    stop = threading.Event()
    runner = threading.Thread(target=workers.run, args=(None, stop))
    runner.start()
    wait_until(lambda: all(w.process for w in workers.workers), 10, "workers started", interval=0.05)
    processes = [w.process for w in workers.workers]
    stop.set()
    runner.join(30)
    assert not runner.is_alive() and all(p.poll() is not None for p in processes)


def test_a_worker_with_a_start_condition_waits_for_it_only_the_first_time():
    ready = threading.Event()
    workers = WorkerGroup("test-group", {"active": SLEEPER, "standby": SLEEPER}, dict(os.environ), backoff_s=0.1,
                          backoff_max_s=0.4, start_when={"standby": ready.is_set}, start_when_max_s=60)
    workers.start()
    try:
        for _ in range(5):
            workers.failure()
            time.sleep(0.05)
        assert workers.counters()["active_pid"] and workers.counters()["standby_pid"] == 0, "standby waits"
        ready.set()
        standby = wait_until(lambda: (workers.failure(), workers.counters()["standby_pid"])[1], 10, "standby started",
                             interval=0.05)
        ready.clear()  # a restart does not wait again
        os.kill(standby, signal.SIGKILL)
        wait_until(lambda: (workers.failure(), workers.counters()["standby_pid"] not in (0, standby))[1], 10,
                   "standby restarted without waiting", interval=0.05)
    finally:
        workers.stop()


def test_a_start_condition_that_never_holds_delays_the_worker_only_so_long():
    workers = WorkerGroup("test-group", {"standby": SLEEPER}, dict(os.environ), backoff_s=0.1, backoff_max_s=0.4,
                          start_when={"standby": lambda: False}, start_when_max_s=0.5)
    workers.start()
    try:
        started = time.monotonic()
        wait_until(lambda: (workers.failure(), workers.counters()["standby_pid"])[1], 10, "standby started anyway",
                   interval=0.05)
        assert time.monotonic() - started >= 0.4
    finally:
        workers.stop()
