"""CPU of running processes, from /proc (Linux), for per-process figures (memory:
`quantcore_platform.services.process.rss_mib`)."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable
from pathlib import Path

from bench.platform_cost import ProcessSample

PAGE_MIB = os.sysconf("SC_PAGE_SIZE") / 2**20


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of `pid` so far (its own threads; not its children)."""
    return _cpu_s(_stat_fields(pid))


def process_sample(pid: int, command: str) -> ProcessSample | None:
    """`pid`'s parent, CPU seconds and resident memory now (one read of /proc/PID/stat);
    None once it is gone."""
    try:
        fields = _stat_fields(pid)
    except OSError:
        return None
    return ProcessSample(parent=int(fields[1]), command=command, cpu_s=_cpu_s(fields),
                         rss_mib=int(fields[21]) * PAGE_MIB)


def _stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat after the command: state, ppid (index 1), ..., utime 11, stime 12, ..., rss pages 21."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _cpu_s(fields: list[str]) -> float:
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    """`pid` and every live process below it (a stream's Python driver and its Spark JVM)."""
    return trees([pid])


def trees(pids: Iterable[int]) -> list[int]:
    """`pids` and every live process below any of them, each once (one read of /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue  # gone while we looked
            children.setdefault(parent, []).append(int(entry.name))
    tree, seen, todo = [], set(), deque(pids)
    while todo:  # breadth first: the roots in their order, then their children
        current = todo.popleft()
        if current not in seen:
            seen.add(current)
            tree.append(current)
            todo.extend(children.get(current, []))
    return tree


def tree_cpu_seconds(pid: int) -> dict[int, float]:
    """CPU seconds of `pid` and each live descendant, by pid (sum the deltas of a window)."""
    seconds = {}
    for member in descendants(pid):
        try:
            seconds[member] = cpu_seconds(member)
        except OSError:
            pass
    return seconds



def machine_busy_seconds() -> float:
    """Core-seconds every CPU of the machine has been busy since boot (/proc/stat: user,
    nice, system, irq, softirq, steal), so a window's delta counts every process in it."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
