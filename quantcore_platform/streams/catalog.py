"""Which streams exist and how each is started: the same `quantcore stream ...` entry
points an operator runs by hand. Launchpad options become QUANTCORE_* variables of the
child, so the stream reads them through its ordinary settings."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from enum import Enum

from quantcore.settings import Settings


class Stream(str, Enum):
    ingest = "ingest"
    compute = "compute"
    serve = "serve"

    @property
    def job_name(self) -> str:
        return f"{self.value}_stream"

    @property
    def heartbeat_component(self) -> str:
        return self.value


@dataclass(frozen=True)
class StreamLaunch:
    command: list[str]
    env: dict[str, str]


def stream_launch(stream: Stream, options: dict[str, object], settings: Settings | None = None) -> StreamLaunch:
    """The command and environment of one stream: `settings` (when given) as QUANTCORE_*
    variables, then the options that are set, which win."""
    env = settings.as_env() if settings else {}
    for name, value in options.items():
        if value is None or value == [] or value == "":
            continue
        env[f"QUANTCORE_{name.upper()}"] = ",".join(value) if isinstance(value, list) else str(value)
    return StreamLaunch([sys.executable, "-m", "quantcore_platform.cli", "stream", stream.value], env)
