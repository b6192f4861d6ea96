"""The local platform as a whole: which components exist, bring them up, down, report.

Each component is either managed here (a child process with a pid file) or external
(configured by URL, e.g. MSK or ElastiCache), in which case `up` only checks it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Protocol

from quantcore_platform.errors import PlatformError
from quantcore_platform.services.kafka_broker import KafkaBroker, ensure_topics
from quantcore_platform.services.process import ManagedProcess
from quantcore_platform.services.redis_server import RedisServer
from quantcore_platform.settings import Settings


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

    def as_dict(self) -> dict:
        return asdict(self)


# Later layers (simulator, Dagster) register their components here, in start order.
EXTRA_COMPONENTS: list[Callable[[Settings], Component | None]] = []


def components(settings: Settings) -> list[tuple[Component, bool]]:
    """(component, managed) in start order; external services are checked, not started."""
    found: list[tuple[Component, bool]] = [
        (KafkaBroker(settings), not settings.kafka_is_external),
        (RedisServer(settings), not settings.redis_is_external),
    ]
    for factory in EXTRA_COMPONENTS:
        if (component := factory(settings)) is not None:
            found.append((component, True))
    return found


def status(settings: Settings) -> list[ComponentStatus]:
    result = []
    for component, managed in components(settings):
        record = component.process.running() if managed else None
        result.append(ComponentStatus(
            name=component.name,
            healthy=component.healthy() if (record or not managed) else False,
            address=component.address,
            pid=record.pid if record else None,
            managed=managed,
            log=str(component.process.log_file) if managed else None,
        ))
    return result


def up(settings: Settings, report: Callable[[str], None] = lambda line: None) -> list[ComponentStatus]:
    """Start every managed component that is not running; check the external ones."""
    settings.home_dir.mkdir(parents=True, exist_ok=True)
    everything = components(settings)
    if all(managed and c.process.running() for c, managed in everything):
        raise PlatformError(f"the platform is already up in {settings.home_dir}",
                            "`quantcore status` shows it; `quantcore down` stops it")
    for component, managed in everything:
        _bring_up(component, managed, report)
        if component.name == "kafka":
            created = ensure_topics(settings)
            report(f"topics created: {', '.join(created)}" if created else "topics present")
    return status(settings)


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
    """Stop managed components in reverse start order. Raises if nothing was running."""
    stopped = []
    for component, managed in reversed(components(settings)):
        if managed and component.stop():
            stopped.append(component.name)
            report(f"{component.name}: stopped")
    if not stopped:
        raise PlatformError(f"the platform is not running in {settings.home_dir}", "`quantcore up` starts it")
    return stopped
