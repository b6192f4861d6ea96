"""Which streams exist and how each is started: the same `quantcore stream ...` entry
points an operator runs by hand. Launchpad options become settings overrides (validated
like every other source); the child gets them, with the rest of the settings sections it
uses, as QUANTCORE_* variables, and no other section (so no secret it does not use)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from enum import Enum

from quantcore.settings import Settings
from streaming.spark.compute_group import COMPUTE_SECTIONS


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

    @property
    def sections(self) -> tuple[str, ...]:
        """The settings sections the stream's process reads (its whole configuration)."""
        return STREAM_SECTIONS[self]


STREAM_SECTIONS: dict[Stream, tuple[str, ...]] = {
    Stream.ingest: ("kafka", "redis", "market", "ingest", "simulator", "heartbeat", "paths"),
    Stream.compute: COMPUTE_SECTIONS,
    Stream.serve: ("serve", "redis", "market", "heartbeat"),
}


@dataclass(frozen=True)
class StreamLaunch:
    command: list[str]
    env: dict[str, str]  # the child's whole environment


def stream_launch(stream: Stream, options: dict[str, object], settings: Settings) -> StreamLaunch:
    """The command and environment of one stream: `settings` with the options that are set
    (flat setting names, e.g. shards, grpc_port) as overrides, which win. A bad option
    raises ConfigError naming the setting."""
    overrides = {name: value for name, value in options.items() if value not in (None, [], "")}
    env = settings.override(**overrides).child_env(*stream.sections)
    # --home on the command line: the platform's processes are found by their home
    # (`processes_of_home`), also those that get no paths section.
    home = str(settings.paths.home_dir)
    return StreamLaunch([sys.executable, "-m", "quantcore_platform.cli", "--home", home, "stream", stream.value], env)
