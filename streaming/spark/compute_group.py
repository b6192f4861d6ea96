"""The compute stream as two processes: the one running the query and a standby.

`quantcore stream compute` runs this when `compute.standby` is on (the default). Both
workers are `python -m streaming.spark.compute_job`: each builds its Spark session and the
query's plan, then takes the query's lock; the one that gets it runs the query, the other
waits (see `ComputeProcess`). kill -9 of the active one frees the lock at once and the
standby starts the query (real-time: after the rows written to Redis); the group restarts the dead worker, which
becomes the new standby. Supervision (backoff, graceful stop, parent-death signal) is
`quantcore.worker_group`'s.

At the group's start the standby waits until the first worker holds the query's lock (its
session and plan are built): two JVMs starting together on a small machine delay the first
signals by ~20 s (`make run`: 88 s vs 66 s to the first gRPC update).
"""

from __future__ import annotations

import sys
import threading

from quantcore.lifecycle import Heartbeat
from quantcore.settings import Settings, TriggerMode
from quantcore.worker_group import WorkerGroup
from streaming.spark.compute_job import query_lock, query_lock_owner

COMPUTE_SECTIONS = ("kafka", "redis", "spark", "compute", "signals", "heartbeat", "paths", "market")
WORKERS = ("compute-a", "compute-b")


def compute_command(mode: TriggerMode, from_beginning: bool) -> list[str]:
    return [sys.executable, "-m", "streaming.spark.compute_job", "--trigger", mode.value,
            *(["--from-beginning"] if from_beginning else [])]


class ComputeGroup(WorkerGroup):
    def __init__(self, settings: Settings, mode: TriggerMode, from_beginning: bool = False) -> None:
        self.settings = settings.validate("compute", "spark")
        compute = self.settings.compute
        self._lock = query_lock(self.settings, mode)
        super().__init__("compute-runner", {label: compute_command(mode, from_beginning) for label in WORKERS},
                         self.settings.child_env(*COMPUTE_SECTIONS),
                         backoff_s=compute.restart_backoff_s, backoff_max_s=compute.restart_backoff_max_s,
                         start_when={WORKERS[1]: self._first_holds_the_lock})

    def _first_holds_the_lock(self) -> bool:
        """The lock file names its holder's pid; an old file from an earlier run names another."""
        first = self.workers[0].process
        return first is not None and first.poll() is None and query_lock_owner(self._lock) == first.pid


def run_compute_processes(settings: Settings, mode: TriggerMode, from_beginning: bool = False,
                          stop: threading.Event | None = None) -> int:
    """Run the active compute process and its standby under supervision until stopped."""
    group = ComputeGroup(settings, mode, from_beginning)
    return group.run(Heartbeat(group.settings.redis, group.settings.heartbeat), stop)
