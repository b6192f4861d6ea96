"""The `emr` launcher: a job run of EMR Serverless, through dagster-aws's PipesEMRServerlessClient.

1. The job's code goes to QUANTCORE_EMR_JOB_CODE_URI (emr_code.py): the entry point (the
   job module's file), the zip of the platform's code and the connector jars.
2. The StartJobRun request (`start_job_run_request`): sparkSubmit runs the entry point with
   the run's arguments, `--py-files` the zip, `--jars` the jars; configurationOverrides is
   QUANTCORE_EMR_JOB_CONFIGURATION (Terraform's: the jobs' QUANTCORE_* settings as driver and
   executor environment, secrets as EMR.secret@ references, CloudWatch logging).
3. Pipes: the client adds the Pipes context as driver environment
   (`--conf spark.emr-serverless.driverEnv.DAGSTER_PIPES_*`), the job writes its messages to
   its stdout, and once the run has succeeded the client reads them back from the driver's
   stdout stream in CloudWatch Logs (cloudwatch.py), which the job configuration (or the
   application) must therefore enable.

The compute stream uses steps 1 and 2 too (`ship_job_code`, `start_job_run_request`), as a
STREAMING job run its Dagster op supervises (emr_stream.py), without Pipes.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

from dagster import AssetExecutionContext, OpExecutionContext, PipesClientCompletedInvocation
from dagster_aws.pipes import PipesEMRServerlessClient

from quantcore.settings import ConfigError, Settings, SparkLaunchSettings, SparkSettings
from quantcore_platform.spark_launch.aws import aws_client
from quantcore_platform.spark_launch.cloudwatch import DriverMessageReader
from quantcore_platform.spark_launch.emr_code import JobCode, job_code, upload
from quantcore_platform.spark_launch.job import SparkJob, shipped_code

DRIVER_ENV = "spark.emr-serverless.driverEnv."


def start_job_run_request(launch: SparkLaunchSettings, job: SparkJob, code: JobCode,
                          driver_env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """StartJobRun's parameters (a BATCH run, EMR's default mode); `driver_env`: variables the
    driver gets on top of the job configuration's (`--conf ...driverEnv.NAME=value`)."""
    # EMR sets the master: an empty QUANTCORE_SPARK_MASTER makes build_spark_session leave
    # it to spark-submit (a job configuration without it would mean the default, local[2]).
    env = {SparkSettings.env_of("master"): "", **(driver_env or {})}
    parameters = [*code.spark_submit_files, *(arg for name, value in env.items()
                                              for arg in ("--conf", f"{DRIVER_ENV}{name}={value}"))]
    return {
        "applicationId": launch.emr_application_id,
        "executionRoleArn": launch.emr_execution_role_arn,
        "name": f"quantcore-{job.name}",
        "jobDriver": {"sparkSubmit": {"entryPoint": code.entry_point, "entryPointArguments": list(job.args),
                                      "sparkSubmitParameters": shlex.join(parameters)}},
        "configurationOverrides": launch.job_configuration,
    }


def check_application(emr: Any, launch: SparkLaunchSettings) -> dict[str, Any]:
    """Fail before uploading anything if the application is not the one the settings describe;
    returns the application (GetApplication's)."""
    try:
        application = emr.get_application(applicationId=launch.emr_application_id)["application"]
    except emr.exceptions.ResourceNotFoundException:
        raise ConfigError(f"no EMR Serverless application {launch.emr_application_id} "
                          f"(QUANTCORE_EMR_APPLICATION_ID): set it to Terraform's emr_application_id output") from None
    if application["type"].lower() != "spark":
        raise ConfigError(f"EMR Serverless application {launch.emr_application_id} (QUANTCORE_EMR_APPLICATION_ID) "
                          f"runs {application['type']}, not Spark")
    if launch.emr_release_label and application["releaseLabel"] != launch.emr_release_label:
        raise ConfigError(f"EMR Serverless application {launch.emr_application_id} runs {application['releaseLabel']}, "
                          f"not {launch.emr_release_label} (QUANTCORE_EMR_RELEASE_LABEL): the job code is built for "
                          "the Spark of that release; apply Terraform again or correct the variable")
    return application


def ship_job_code(settings: Settings, job: SparkJob, log: Any) -> JobCode:
    """The job's code in S3 under QUANTCORE_EMR_JOB_CODE_URI (the entry point, the platform's
    zip, the connector jars), uploading what is not there yet; `log` says where."""
    launch = settings.spark_launch
    archive, jars = shipped_code(settings)
    code = job_code(str(launch.emr_job_code_uri), job, archive, jars)
    uploaded = upload(aws_client(launch, "s3"), code)
    log.info(f"job code at {code.entry_point} ({len(uploaded)} of {len(code.sources)} files uploaded)")
    return code


class EmrServerlessLauncher:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def run(self, context: OpExecutionContext | AssetExecutionContext, job: SparkJob) -> PipesClientCompletedInvocation:
        launch = self.settings.spark_launch
        emr = aws_client(launch, "emr-serverless")
        check_application(emr, launch)
        code = ship_job_code(self.settings, job, context.log)
        # A client (and CloudWatch reader) per run: the reader keeps the log stream of its run.
        client = PipesEMRServerlessClient(
            client=emr, message_reader=DriverMessageReader(client=aws_client(launch, "logs")))
        return client.run(context=context, start_job_run_params=start_job_run_request(launch, job, code))
