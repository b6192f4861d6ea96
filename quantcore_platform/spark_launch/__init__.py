"""How Dagster launches the data plane's Spark jobs: one launcher per deployment.

A launcher runs a `SparkJob` (a module of streaming/ whose `main` speaks Dagster Pipes, its
arguments, the settings sections it reads) and returns Pipes' completed invocation, so an
asset does not know where its job ran:

- `local` (local.py): `python -m <module>`, a child process of the run, Spark's master
  from the `spark` settings (the local platform);
- `submit` (submit.py): `spark-submit` to `spark.job_master` (a standalone cluster), the
  platform's code shipped as a zip (`--py-files`), the connector jars as `--jars`;
- `emr` (emr.py): a job run of EMR Serverless, the entry point, the zip and the jars
  uploaded to QUANTCORE_EMR_JOB_CODE_URI, Pipes messages read back from CloudWatch Logs.

QUANTCORE_SPARK_LAUNCHER (the `spark_launch` settings) picks one: `launcher_for(settings)`,
which the Dagster resource (`QuantcoreSettingsResource.spark_launcher`) calls.

The compute stream is no Pipes job but a supervised process; with `emr` its Dagster op runs it
as a STREAMING job run instead (emr_stream.py, chosen in stream_jobs.py), with emr.py's code
upload and request.
"""

from quantcore.settings import Settings, SparkLauncherKind
from quantcore_platform.spark_launch.emr import EmrServerlessLauncher
from quantcore_platform.spark_launch.job import SparkJob, SparkLauncher
from quantcore_platform.spark_launch.local import LocalLauncher
from quantcore_platform.spark_launch.submit import SubmitLauncher

LAUNCHERS: dict[SparkLauncherKind, type] = {
    SparkLauncherKind.local: LocalLauncher,
    SparkLauncherKind.submit: SubmitLauncher,
    SparkLauncherKind.emr: EmrServerlessLauncher,
}


def launcher_for(settings: Settings) -> SparkLauncher:
    """The launcher QUANTCORE_SPARK_LAUNCHER names (a bad `spark_launch` setting fails here,
    naming the variable)."""
    return LAUNCHERS[settings.spark_launch.launcher](settings)


__all__ = ["LAUNCHERS", "EmrServerlessLauncher", "LocalLauncher", "SparkJob", "SparkLauncher", "SubmitLauncher",
           "launcher_for"]
