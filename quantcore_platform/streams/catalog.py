"""Which streams exist and how each is started: the same `quantcore stream ...` entry
points an operator runs by hand. Launchpad options become QUANTCORE_* variables of the
child, so the stream reads them through its ordinary settings."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from enum import Enum


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


def stream_launch(stream: Stream, options: dict[str, object]) -> StreamLaunch:
    """The command and environment of one stream; unset options keep the settings' value."""
    env = {}
    for name, value in options.items():
        if value is None or value == [] or value == "":
            continue
        env[f"QUANTCORE_{name.upper()}"] = ",".join(value) if isinstance(value, list) else str(value)
    return StreamLaunch([sys.executable, "-m", "quantcore_platform.cli", "stream", stream.value], env)
