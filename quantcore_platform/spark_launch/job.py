"""What a launcher runs: a Spark job of the data plane, and the one interface of launchers."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from dagster import AssetExecutionContext, OpExecutionContext, PipesClientCompletedInvocation

from quantcore.errors import PlatformError
from quantcore.jars import spark_jars
from quantcore.job_package import home_job_archive
from quantcore.settings import REPO_ROOT, Settings


@dataclass(frozen=True)
class SparkJob:
    """A module with a `main` that opens Dagster Pipes (e.g. streaming.spark.replay_job), the
    arguments of one run, and the settings sections the job reads (a child process gets
    those, no other)."""

    module: str
    sections: tuple[str, ...]
    args: tuple[str, ...] = ()

    def with_args(self, *args: str) -> SparkJob:
        return replace(self, args=tuple(args))

    @property
    def name(self) -> str:
        return self.module.rsplit(".", 1)[-1]

    @property
    def entry_point(self) -> Path:
        """The module's file: the script spark-submit (and EMR) runs as the driver; its imports
        come from the job zip."""
        path = REPO_ROOT.joinpath(*self.module.split(".")).with_suffix(".py")
        if not path.is_file():
            raise PlatformError(f"the Spark job {self.module} has no file {path}",
                                "name a module of the checkout (e.g. streaming.spark.replay_job)")
        return path


class SparkLauncher(Protocol):
    """Runs a job through Dagster Pipes for an op or asset; the invocation holds what the job
    reported (materializations, custom messages)."""

    def run(self, context: OpExecutionContext | AssetExecutionContext,
            job: SparkJob) -> PipesClientCompletedInvocation: ...


def shipped_code(settings: Settings) -> tuple[Path, list[str]]:
    """What a job on a cluster is given besides its entry point: the zip of the platform's
    Python code (quantcore.job_package, in the home's folder that spark_session also uses) and
    the connector jars (those spark_conf puts in spark.jars for a session it starts itself)."""
    archive = home_job_archive(settings.paths)
    return archive, spark_jars(settings.paths.jars_path)
