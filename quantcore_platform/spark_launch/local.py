"""The `local` launcher: the job as a child process of the Dagster run (`python -m <module>`)."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from dagster import AssetExecutionContext, OpExecutionContext, PipesClientCompletedInvocation, PipesSubprocessClient

from quantcore.settings import REPO_ROOT, Settings
from quantcore_platform.spark_launch.job import SparkJob


class SettingsPipesClient(PipesSubprocessClient):
    """A Pipes subprocess client whose child sees only the settings of `env`.

    Pipes starts the child with `env` merged over this process's environment, which holds
    every QUANTCORE_* variable (secrets included) of the Dagster process: the command runs
    under `env -u NAME ...`, so those that `env` does not set are gone before the job starts."""

    def run(self, *, context, command: Sequence[str], **kwargs):
        return super().run(context=context, command=self.isolated(command), **kwargs)

    def isolated(self, command: Sequence[str]) -> list[str]:
        inherited = sorted(name for name in os.environ if name.startswith("QUANTCORE_") and name not in self.env)
        return ["env", *(arg for name in inherited for arg in ("-u", name)), *command]


def job_client(settings: Settings, job: SparkJob, **extra_env: str) -> SettingsPipesClient:
    """The job's process gets the settings sections it uses (as QUANTCORE_* variables), no other."""
    return SettingsPipesClient(env={**settings.child_env(*job.sections), **extra_env}, cwd=str(REPO_ROOT))


class LocalLauncher:
    """Spark runs inside the child (its master from the `spark` settings: local[N], or the
    local standalone cluster)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @staticmethod
    def command(job: SparkJob) -> list[str]:
        return [sys.executable, "-m", job.module, *job.args]

    def run(self, context: OpExecutionContext | AssetExecutionContext, job: SparkJob) -> PipesClientCompletedInvocation:
        return job_client(self.settings, job).run(context=context, command=self.command(job))
