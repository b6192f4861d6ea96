"""The `submit` launcher: `spark-submit` to the Spark master jobs use (a standalone cluster).

The driver runs here, as a child of the Dagster run; the executors run on the cluster's
workers, which never see this checkout: the platform's code goes to them as the job zip
(`--py-files`) and the connectors as `--jars`. The entry point is the job module's file.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pyspark
from dagster import AssetExecutionContext, OpExecutionContext, PipesClientCompletedInvocation

from quantcore.settings import Settings, SparkSettings
from quantcore_platform.spark_launch.job import SparkJob, shipped_code
from quantcore_platform.spark_launch.local import job_client


def spark_submit() -> Path:
    """The spark-submit of the pyspark wheel: the same Spark as the sessions we start."""
    return Path(pyspark.__file__).parent / "bin" / "spark-submit"


def submit_command(spark: SparkSettings, job: SparkJob, archive: Path, jars: list[str]) -> list[str]:
    """spark-submit's command line for `job` (no --master when `job_master` is empty: then
    spark-submit's default)."""
    master = ["--master", spark.job_master] if spark.job_master else []
    return [str(spark_submit()), *master, "--name", f"quantcore-{job.name}", "--py-files", str(archive),
            "--jars", ",".join(jars), str(job.entry_point), *job.args]


class SubmitLauncher:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def run(self, context: OpExecutionContext | AssetExecutionContext, job: SparkJob) -> PipesClientCompletedInvocation:
        archive, jars = shipped_code(self.settings)
        command = submit_command(self.settings.spark, job, archive, jars)
        # spark-submit starts the driver with PYSPARK_PYTHON ("python3" otherwise), and the
        # workers of a cluster on this host start their Python workers with it too.
        client = job_client(self.settings, job, PYSPARK_PYTHON=sys.executable)
        return client.run(context=context, command=command)
