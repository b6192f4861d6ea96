"""A stream job run in-process with the real services, then interrupted: the op stops its
stream (SIGINT, bounded wait, kill) and nothing outlives the run."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from quantcore.polling import wait_until
from quantcore.settings import SECTIONS, PathsSettings
from quantcore_platform.services.process import port_open, processes_of_home

pytestmark = pytest.mark.slow

RUN_SERVE_JOB = """
from quantcore_platform.resources import QuantcoreSettingsResource
from quantcore_platform.stream_jobs import serve_stream
result = serve_stream.execute_in_process(resources={"quantcore": QuantcoreSettingsResource()}, raise_on_error=False)
print("RUN_SUCCESS", result.success, flush=True)
"""


def test_serve_stream_job_stops_its_process_when_interrupted(redis_service):
    settings = redis_service
    # Every section, as `quantcore up` gives the Dagster processes (they supervise every stream).
    env = settings.child_env(*(section.section_name for section in SECTIONS))
    runner = subprocess.Popen([sys.executable, "-c", RUN_SERVE_JOB], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until(lambda: port_open(settings.serve.port), 120, "the serve stream listening", interval=0.5,
                   alive=lambda: runner.poll() is None,
                   on_timeout=lambda: runner.stdout.read() if runner.poll() is not None else "")
        streams = _serve_processes(settings.paths)
        assert len(streams) == 1

        runner.send_signal(signal.SIGINT)  # what a terminated run's worker receives
        output, _ = runner.communicate(timeout=60)
    finally:
        if runner.poll() is None:
            runner.kill()

    assert "terminated from Dagster: stopping the serve stream" in output
    assert "serve stream stopped (exit 0)" in output
    assert not _serve_processes(settings.paths), "the stream process outlived its run"
    assert not port_open(settings.serve.port)


def _serve_processes(paths: PathsSettings) -> list[int]:
    return [pid for pid, command in processes_of_home(paths.home_dir).items() if "stream serve" in command]
