"""The shard runner: n shard processes, each restarted with backoff when it dies.

`quantcore stream ingest --shards n` (no --shard-id) runs this. Each child is
`python -m streaming.ingest.shard --shard-id i --shards n`, configured by the runner's
settings through the QUANTCORE_* variables of just the sections a shard uses. The
supervision (restarts, graceful stop, parent-death signal) is `quantcore.worker_group`.
"""

from __future__ import annotations

import sys
import threading

from quantcore.lifecycle import Heartbeat
from quantcore.settings import Settings
from quantcore.worker_group import WorkerGroup

SHARD_SECTIONS = ("paths", "kafka", "redis", "market", "ingest", "simulator", "heartbeat")  # what a shard reads


def shard_command(shard_id: int, shards: int) -> list[str]:
    return [sys.executable, "-m", "streaming.ingest.shard", "--shard-id", str(shard_id), "--shards", str(shards)]


class ShardRunner(WorkerGroup):
    def __init__(self, settings: Settings, shards: int | None = None) -> None:
        self.shards = shards or settings.ingest.shards
        self.settings = settings.override(shards=self.shards).validate("ingest")  # fail here, not in n children
        ingest = self.settings.ingest
        super().__init__("ingest-runner", {f"shard-{i}": shard_command(i, self.shards) for i in range(self.shards)},
                         self.settings.child_env(*SHARD_SECTIONS),
                         backoff_s=ingest.restart_backoff_s, backoff_max_s=ingest.restart_backoff_max_s)


def run_shard_processes(settings: Settings, shards: int | None = None, stop: threading.Event | None = None) -> int:
    """Run `shards` shard processes under supervision until stopped; returns the exit code."""
    runner = ShardRunner(settings, shards)
    return runner.run(Heartbeat(runner.settings.redis, runner.settings.heartbeat), stop)
