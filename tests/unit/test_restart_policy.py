"""The restart policy of the local services (pure): exit reasons from real wait statuses,
the shared backoff, and its reset after a service stayed up."""

from __future__ import annotations

import os
import subprocess
import sys

from quantcore_platform.services.restart_policy import (
    CONFIG_ERROR_EXIT,
    INITIAL_DELAY_S,
    MAX_DELAY_S,
    STABLE_AFTER_S,
    InPlaceRestarts,
    RestartState,
    describe_exit,
    describe_returncode,
)


def wait_status_of(code: str) -> int:
    """The wait status of a real child that runs `code`."""
    process = subprocess.Popen([sys.executable, "-c", code])
    _, status = os.waitpid(process.pid, 0)
    process.returncode = 0  # reaped here; keep Popen from waiting again
    return status


def test_exit_reasons_read_real_wait_statuses():
    assert describe_exit(wait_status_of("import os, signal; os.kill(os.getpid(), signal.SIGKILL)")) == \
        "killed by SIGKILL"
    assert describe_exit(wait_status_of("raise SystemExit(3)")) == "exited with code 3"
    assert describe_exit(wait_status_of("pass")) == "exited with code 0"
    assert "status unknown" in describe_exit(None)


def test_a_service_that_keeps_dying_waits_longer_each_time_up_to_the_cap():
    state = RestartState()
    now, delays = 0.0, []
    for _ in range(10):
        delays.append(state.died(now, "killed by SIGKILL") - now)
        assert not state.due(now) and state.due(now + delays[-1])
        state.started(now + delays[-1])
        now += delays[-1] + 1.0  # dies again one second later
    assert INITIAL_DELAY_S / 2 <= delays[0] <= INITIAL_DELAY_S
    assert delays[4] > delays[0] * 4  # doubling, jitter aside (each in [ceiling/2, ceiling])
    assert all(d <= MAX_DELAY_S for d in delays) and delays[-1] >= MAX_DELAY_S / 2
    assert state.restarts == 10 and state.last_exit == "killed by SIGKILL"


def test_a_service_that_stayed_up_restarts_fast_again():
    state = RestartState()
    for _ in range(6):
        state.died(0.0, "x")
        state.started(0.0)
    assert state.died(STABLE_AFTER_S + 1, "x") - (STABLE_AFTER_S + 1) <= INITIAL_DELAY_S


def test_a_failed_restart_is_retried_later_and_says_why():
    state = RestartState()
    first = state.died(0.0, "killed by SIGKILL")
    again = state.start_failed(first, "port 6379 in use")
    assert again > first and state.last_exit == "restart failed: port 6379 in use" and state.restarts == 0


def test_in_place_restarts_back_off_then_give_up_to_the_sensor():
    restarts = InPlaceRestarts(max_restarts=3, window_s=600)
    delays = []
    for now in (0.0, 10.0, 20.0):
        restarts.started(now)
        delays.append(restarts.after_exit(now + 1, -9))
    assert all(d is not None and d <= 30 for d in delays) and delays[0] <= INITIAL_DELAY_S
    assert restarts.state.last_exit == "killed by SIGKILL"
    assert restarts.after_exit(30.0, 1) is None  # the fourth crash in ten minutes: fail the run
    assert restarts.after_exit(700.0, 1) is not None  # the window moved on


def test_a_configuration_error_is_not_restarted_in_place():
    assert InPlaceRestarts().after_exit(0.0, CONFIG_ERROR_EXIT) is None


def test_returncodes_in_words():
    assert describe_returncode(-9) == "killed by SIGKILL"
    assert describe_returncode(1) == "exited with code 1"
