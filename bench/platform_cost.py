"""What each component of a running platform costs: its processes' CPU and resident memory,
from samples of /proc taken over a window. Pure: samples in, figures out (`bench cost`
takes the samples; tests/unit/test_bench_platform_cost.py checks the arithmetic).

A process belongs to the first component its command line names, or else to the nearest
ancestor that does: the compute stream's JVM and its standby belong to `compute`, the
ingest shards to `ingest`, the code server's gRPC child to `dagster-code-server`.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# (a part of the command line, component), first match wins: the stream commands before
# the Dagster run worker that started them, which names the same job.
COMMAND_PATTERNS: tuple[tuple[str, str], ...] = (
    (" stream ingest", "ingest"),
    (" stream compute", "compute"),
    (" stream serve", "serve"),
    ("execute_run", "dagster-run-workers"),
    # The code server runs each launched run in a multiprocessing child (with its log tails):
    # without this, the three stream runs' workers would count as the code server.
    ("multiprocessing.spawn", "dagster-run-workers"),
    ("code-server", "dagster-code-server"),
    (" api grpc", "dagster-code-server"),
    ("dagster-webserver", "dagster-webserver"),
    ("dagster-daemon", "dagster-daemon"),
    ("kafka.Kafka", "kafka"),
    ("redis-server", "redis"),
    (" simulator", "simulator"),
    (" supervise", "supervisor"),
)
OTHER = "other"


@dataclass(frozen=True)
class ProcessSample:
    """One process at one instant."""

    parent: int
    command: str
    cpu_s: float  # user + system CPU seconds since the process started
    rss_mib: float


def component_of_command(command: str) -> str | None:
    return next((component for part, component in COMMAND_PATTERNS if part in command), None)


def components_of(processes: Mapping[int, ProcessSample]) -> dict[int, str]:
    """{pid: component} for every process of one sample (ancestors outside the sample, such
    as the shell that started the platform, are not followed)."""
    found: dict[int, str] = {}

    def resolve(pid: int, seen: frozenset[int] = frozenset()) -> str:
        if pid in found:
            return found[pid]
        process = processes.get(pid)
        if process is None or pid in seen:
            return OTHER
        named = component_of_command(process.command)
        found[pid] = named if named is not None else resolve(process.parent, seen | {pid})
        return found[pid]

    for pid in processes:
        resolve(pid)
    return found


def standing_cost(samples: Sequence[tuple[float, Mapping[int, ProcessSample]]]) -> dict[str, dict]:
    """Per component over the samples' window ((monotonic seconds, {pid: sample}) in time
    order, at least two): cores (CPU seconds / wall seconds; a process born in the window
    counts from 0 and one that died keeps what its last sample saw), resident MiB (median
    and max of the samples' sums), live processes at the end, and processes started in the
    window (a component that keeps restarting shows here)."""
    if len(samples) < 2:
        raise ValueError("standing_cost needs at least two samples of the window")
    (start_s, first), (end_s, last) = samples[0], samples[-1]
    wall_s = end_s - start_s
    owner: dict[int, str] = {}
    last_cpu: dict[int, float] = {}
    rss_sums: list[dict[str, float]] = []
    for _, processes in samples:
        owners = components_of(processes)
        owner.update(owners)
        sums: dict[str, float] = {}
        for pid, process in processes.items():
            last_cpu[pid] = process.cpu_s
            sums[owners[pid]] = sums.get(owners[pid], 0.0) + process.rss_mib
        rss_sums.append(sums)
    figures: dict[str, dict] = {}
    for component in sorted(set(owner.values())):
        pids = [pid for pid, name in owner.items() if name == component]
        cpu_s = sum(last_cpu[pid] - (first[pid].cpu_s if pid in first else 0.0) for pid in pids)
        rss = [sums.get(component, 0.0) for sums in rss_sums]
        figures[component] = {
            "cores": round(cpu_s / wall_s, 3),
            "rss_mib_median": round(statistics.median(rss), 1),
            "rss_mib_max": round(max(rss), 1),
            "processes": sum(1 for pid in pids if pid in last),
            "started_in_window": sum(1 for pid in pids if pid not in first),
        }
    return figures
