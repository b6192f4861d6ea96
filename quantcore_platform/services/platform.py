"""The local platform as a whole: which components exist, bring them up, down, report.

Each component is either managed here (a child process with a pid file) or external
(configured by URL, e.g. MSK or ElastiCache), in which case `up` only checks it.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from quantcore.errors import PlatformError
from quantcore_platform.services.dagster_services import (
    SECTION_NAMES,
    DagsterApi,
    DagsterCodeServer,
    DagsterDaemon,
    DagsterWebserver,
)
from quantcore.topics import ensure_topics
from quantcore_platform.services.kafka_broker import KafkaBroker
from quantcore_platform.services.process import ManagedProcess, pid_alive, processes_of_home
from quantcore_platform.services.redis_server import RedisServer
from quantcore_platform.services.simulator_service import SimulatorService
from quantcore_platform.services.spark_cluster import SparkMaster, SparkWorker
from quantcore_platform.services.watchdog import clear_down_request, read_restarts, request_down, restarts_file
from quantcore.settings import Settings, Source


class Component(Protocol):
    name: str
    process: ManagedProcess

    @property
    def address(self) -> str: ...
    def start(self) -> None: ...
    def stop(self) -> bool: ...
    def healthy(self) -> bool: ...


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    healthy: bool
    address: str
    pid: int | None
    managed: bool
    log: str | None
    restarts: int = 0
    last_exit: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


COMPONENT_NAMES = ("kafka", "redis", "simulator", "dagster-code-server", "dagster-webserver", "dagster-daemon")
# Also, with the cluster settings: kafka-2..N (more Kafka nodes), spark-master, spark-worker-1..N.


def components(settings: Settings, only: Iterable[str] = ()) -> list[tuple[Component, bool]]:
    """(component, managed) in start order; external services are checked, not started."""
    found: list[tuple[Component, bool]] = [
        *((node, not settings.kafka.is_external) for node in KafkaBroker.cluster(settings)),
        (RedisServer.from_settings(settings), not settings.redis.is_external),
    ]
    if settings.spark.workers:
        found += [(SparkMaster.from_settings(settings), True),
                  *((worker, True) for worker in SparkWorker.all_from_settings(settings))]
    if settings.market.source is Source.simulator:
        found.append((SimulatorService.from_settings(settings), True))
    found += [(DagsterCodeServer(settings), True), (DagsterWebserver(settings), True), (DagsterDaemon(settings), True)]
    wanted = set(only)
    unknown = wanted - set(COMPONENT_NAMES) - {c.name for c, _ in found}
    if unknown:
        raise PlatformError(f"unknown component(s): {', '.join(sorted(unknown))}",
                            f"choose from {', '.join(c.name for c, _ in found)}")
    return [(c, managed) for c, managed in found if not wanted or c.name in wanted]


# The cluster shape `up` was given (flags or settings), for the commands that come later
# without them (`status`, `down`, `supervise`): they must see every node it started.
TOPOLOGY = ("kafka_brokers", "spark_workers")


def topology_file(settings: Settings):
    return settings.paths.run_dir / "topology.json"


def record_topology(settings: Settings) -> None:
    values = {"kafka_brokers": settings.kafka.brokers, "spark_workers": settings.spark.workers}
    topology_file(settings).parent.mkdir(parents=True, exist_ok=True)
    topology_file(settings).write_text(json.dumps(values))


def with_recorded_topology(settings: Settings) -> Settings:
    """`settings` with the cluster shape of the platform running in its home, if any."""
    try:
        recorded = json.loads(topology_file(settings).read_text())
    except (OSError, ValueError):
        return settings
    return settings.override(**{name: recorded[name] for name in TOPOLOGY if name in recorded})


def status(settings: Settings, only: Iterable[str] = ()) -> list[ComponentStatus]:
    settings = with_recorded_topology(settings)
    result = []
    for component, managed in components(settings, only):
        record = component.process.running() if managed else None
        restarts = read_restarts(component.process) if managed else {}
        result.append(ComponentStatus(
            name=component.name,
            healthy=component.healthy() if (record or not managed) else False,
            address=component.address,
            pid=record.pid if record else None,
            managed=managed,
            log=str(component.process.log_file) if managed else None,
            restarts=int(restarts.get("restarts", 0)), last_exit=restarts.get("last_exit"),
        ))
    return result


def supervisor_process(settings: Settings) -> ManagedProcess:
    """The watchdog of a detached platform (`quantcore supervise`)."""
    return ManagedProcess("supervisor", settings.paths.run_dir, settings.paths.logs_dir)


def start_supervisor(settings: Settings, only: Iterable[str] = ()) -> None:
    """Watch the detached platform (the components `up` started: `only`, or all) from a
    process of its own (it may restart any component, so it gets every section)."""
    command = [sys.executable, "-m", "quantcore_platform.cli", "supervise"]
    for name in only:
        command += ["--only", name]
    supervisor_process(settings).start(command, port=None, env=settings.child_env(*SECTION_NAMES))


def managed_components(settings: Settings, only: Iterable[str] = ()) -> list[Component]:
    """The components `up` starts here (what a watchdog keeps up, dead or alive)."""
    return [c for c, managed in components(with_recorded_topology(settings), only) if managed]


def up(settings: Settings, report: Callable[[str], None] = lambda line: None,
       only: Iterable[str] = ()) -> list[ComponentStatus]:
    """Start every managed component that is not running; check the external ones.
    With Dagster among them, launch the stream runs through it."""
    home = settings.paths.home_dir
    home.mkdir(parents=True, exist_ok=True)
    everything = components(settings, only)
    if all(managed and c.process.running() for c, managed in everything):
        raise PlatformError(f"the platform is already up in {home}",
                            "`quantcore status` shows it; `quantcore down` stops it")
    clear_down_request(settings.paths.run_dir)
    record_topology(settings)
    for component, managed in everything:
        if managed and not component.process.running():
            restarts_file(component.process).unlink(missing_ok=True)  # a new platform: counts start at 0
    for component, managed in everything:
        _bring_up(component, managed, report)
        if isinstance(component, KafkaBroker) and (component.is_last or not managed):
            created = ensure_topics(settings.kafka)
            report(f"topics created: {', '.join(created)}" if created else "topics present")
    if any(c.name == "dagster-webserver" for c, _ in everything):
        launch_streams(settings, report)
    return status(settings, only)


def launch_streams(settings: Settings, report: Callable[[str], None]) -> None:
    api = DagsterApi(settings)
    api.wait_until_loaded()
    launched = api.launch_missing_streams()
    for job, run_id in launched.items():
        report(f"{job}: run {run_id[:8]} launched through Dagster")
    if not launched:
        report("stream runs already active")


def _bring_up(component: Component, managed: bool, report: Callable[[str], None]) -> None:
    if not managed:
        if not component.healthy():
            raise PlatformError(f"external {component.name} at {component.address} does not answer",
                                f"check the address and credentials, or unset it to run {component.name} locally")
        report(f"{component.name}: external at {component.address}, healthy")
        return
    if component.process.running():
        report(f"{component.name}: already running")
        return
    if component.process.stale():
        report(f"{component.name}: removing a stale pid file left by a crash (data kept)")
        component.process.pid_file.unlink(missing_ok=True)
    started = time.monotonic()
    component.start()
    report(f"{component.name}: up at {component.address} in {time.monotonic() - started:.1f}s")


def down(settings: Settings, report: Callable[[str], None] = lambda line: None) -> list[str]:
    """Stop managed components in reverse start order, the watchdog first (so that nothing
    restarts what this stops). Raises if nothing was running."""
    settings = with_recorded_topology(settings)
    request_down(settings.paths.run_dir)
    stopped = []
    if supervisor_process(settings).stop(timeout=10.0):
        report("supervisor: stopped")
    api = DagsterApi(settings)
    if api.available():
        for job in api.terminate_streams():
            report(f"{job}: run terminated through Dagster")
    everything = components(settings)
    for component, managed in reversed(everything):
        if managed and isinstance(component, KafkaBroker) and component.is_last:
            # All nodes at once: one by one, the last would wait out its controlled
            # shutdown (30 s) for a quorum that is already gone.
            for node, node_managed in everything:
                if node_managed and isinstance(node, KafkaBroker):
                    node.process.send_signal(signal.SIGTERM)
        if managed and component.stop():
            stopped.append(component.name)
            report(f"{component.name}: stopped")
    topology_file(settings).unlink(missing_ok=True)
    if not stopped:
        raise PlatformError(f"the platform is not running in {settings.paths.home_dir}", "`quantcore up` starts it")
    for pid, command in stop_leftovers(settings.paths.home_dir).items():
        report(f"stopped a leftover process {pid}: {command[:100]}")
    return stopped


def stop_leftovers(home: Path, grace_s: float = 5.0) -> dict[int, str]:
    """Stop what is still running for `home` once every component stopped: processes that
    no pid file names (a stream a Dagster run worker had started, a child a crash left).
    Never this process or its ancestors (the shell that ran `quantcore down`)."""
    spared = _ancestors(os.getpid())
    left = {pid: cmd for pid, cmd in processes_of_home(home).items()
            if pid not in spared and _is_platform_program(cmd)}
    for pid in left:  # each alone: a process group could hold a process spared here
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while any(pid_alive(pid) for pid in left) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in left:
        if pid_alive(pid):
            _signal(pid, signal.SIGKILL)
    return left


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


PLATFORM_PROGRAMS = ("python", "java", "redis-server", "dagster")  # not a shell or a `tee` sharing the env


def _is_platform_program(command: str) -> bool:
    program = Path(command.split(" ", 1)[0]).name
    return any(program.startswith(name) for name in PLATFORM_PROGRAMS)


def _ancestors(pid: int) -> set[int]:
    found = {pid}
    while pid > 1:
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            break
        found.add(pid)
    return found
