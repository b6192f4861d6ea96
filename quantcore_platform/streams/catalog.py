"""Which streams exist and how each is started: the same `quantcore stream ...` entry
points an operator runs by hand. Launchpad options become settings overrides (validated
like every other source); the child gets them, with the rest of the settings sections it
uses, as QUANTCORE_* variables, and no other section (so no secret it does not use).

The compute stream is also a Spark job (`spark_stream_launch`): with the `emr` launcher it runs
as an EMR Serverless job run (spark_launch/emr_stream.py) instead of a child process."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from enum import Enum

from quantcore.errors import PlatformError
from quantcore.settings import Settings
from quantcore.settings.base import ENV_PREFIX
from quantcore_platform.spark_launch.job import SparkJob
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

    @property
    def spark_job_module(self) -> str | None:
        """The module a cluster runs as the stream's Spark driver (its file is the entry point);
        None: the stream is no Spark job."""
        return SPARK_STREAM_MODULES.get(self)


STREAM_SECTIONS: dict[Stream, tuple[str, ...]] = {
    Stream.ingest: ("kafka", "redis", "market", "ingest", "simulator", "heartbeat", "paths"),
    Stream.compute: COMPUTE_SECTIONS,
    Stream.serve: ("serve", "redis", "market", "heartbeat", "kafka"),
}


# compute_job.py's `main`: one compute process (no standby: a cluster restarts its driver).
SPARK_STREAM_MODULES: dict[Stream, str] = {Stream.compute: "streaming.spark.compute_job"}


@dataclass(frozen=True)
class StreamLaunch:
    command: list[str]
    env: dict[str, str]  # the child's whole environment


def stream_launch(stream: Stream, options: dict[str, object], settings: Settings) -> StreamLaunch:
    """The command and environment of one stream: `settings` with the options that are set
    (flat setting names, e.g. shards, grpc_port) as overrides, which win. A bad option
    raises ConfigError naming the setting."""
    env = with_options(settings, options).child_env(*stream.sections)
    # --home on the command line: the platform's processes are found by their home
    # (`processes_of_home`), also those that get no paths section.
    home = str(settings.paths.home_dir)
    return StreamLaunch([sys.executable, "-m", "quantcore_platform.cli", "--home", home, "stream", stream.value], env)


def set_options(options: dict[str, object]) -> dict[str, object]:
    return {name: value for name, value in options.items() if value not in (None, [], "")}


def with_options(settings: Settings, options: dict[str, object]) -> Settings:
    """`settings` with the options that are set as overrides (flat setting names)."""
    return settings.override(**set_options(options))


@dataclass(frozen=True)
class SparkStreamLaunch:
    """A stream as a Spark job: its entry point's module and arguments, and the variables of
    the options that are set, which the driver gets over the job configuration's settings."""

    job: SparkJob
    driver_env: dict[str, str]


def spark_stream_launch(stream: Stream, options: dict[str, object], settings: Settings) -> SparkStreamLaunch:
    if stream.spark_job_module is None:
        raise PlatformError(f"the {stream.value} stream is not a Spark job",
                            "only the compute stream runs on a cluster")
    chosen = with_options(settings, options)
    env = chosen.child_env(*stream.sections)  # validates: a bad option raises, naming its variable
    chosen_env = {name: env[name] for name in (f"{ENV_PREFIX}{option.upper()}" for option in set_options(options))}
    # compute_job.py's own option for the trigger an option chose (visible in EMR's console);
    # unchosen, the driver's settings (the job configuration's) decide.
    args = ("--trigger", chosen.compute.trigger_mode.value) if options.get("trigger_mode") else ()
    return SparkStreamLaunch(SparkJob(stream.spark_job_module, stream.sections, args), chosen_env)
