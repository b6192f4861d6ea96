"""The query lock behind the compute standby, and a service that waits in its start."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time

from quantcore.exclusive_lock import ExclusiveLock
from quantcore.lifecycle import run_service
from quantcore.polling import wait_until

HOLD = ("import sys, time; from quantcore.exclusive_lock import ExclusiveLock; "
        "assert ExclusiveLock(sys.argv[1]).try_acquire('holder 42'); print('held', flush=True); time.sleep(60)")


def test_one_holder_at_a_time_and_the_next_reads_what_the_last_wrote(tmp_path):
    first, second = ExclusiveLock(tmp_path / "q.lock"), ExclusiveLock(tmp_path / "q.lock")
    assert first.try_acquire("111 222") and first.held
    assert not second.try_acquire("333 444") and not second.held
    first.release()
    assert second.try_acquire("333 444") and second.previous_owner == "111 222"
    assert (tmp_path / "q.lock").read_text() == "333 444\n"


def test_a_killed_holder_frees_the_lock_at_once(tmp_path):
    path = tmp_path / "sub" / "q.lock"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        waiter = ExclusiveLock(path)
        assert not waiter.try_acquire()
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(10)
        started = time.monotonic()
        wait_until(waiter.try_acquire, 2, "the lock free after the kill", interval=0.01)
        assert time.monotonic() - started < 1.0 and waiter.previous_owner == "holder 42"
    finally:
        holder.kill()
        holder.wait()


class WaitingService:
    """A standby: its start waits for a turn that never comes."""

    component, instance = "test", "standby"

    def __init__(self) -> None:
        self.stopped = False

    async def start(self) -> None:
        while True:
            await asyncio.sleep(0.05)

    def counters(self) -> dict:
        return {}

    def failure(self) -> None:
        return None

    def stop(self) -> None:
        self.stopped = True


def test_a_service_waiting_in_its_start_still_stops_when_asked():
    service, stop = WaitingService(), threading.Event()
    runner = threading.Thread(target=run_service, args=(service, None, stop), kwargs={"poll_s": 0.1})
    runner.start()
    time.sleep(0.3)
    stop.set()
    runner.join(5)
    assert not runner.is_alive() and service.stopped
