"""The compute stream job with QUANTCORE_SPARK_LAUNCHER=emr, against moto's EMR Serverless,
S3 and CloudWatch Logs (the server of tests/integration/test_spark_launch_emr.py).

What runs for real: the Dagster job `compute_stream` (its op's supervision: restart in place
with the backoff, stop on termination), the choice of an EMR job run for the compute stream,
the upload of its code to S3 and the StartJobRun / GetJobRun / ListJobRuns / CancelJobRun
calls over HTTP. What moto received is read on its side: the body of each StartJobRun (moto
accepts `mode` and `retryPolicy` but ignores them: GetJobRun does not return them, so the
request is the only evidence) and the query of each CancelJobRun.

moto runs nothing and has no state machine for job runs (each is SUCCESS at once, and
CANCELLED the moment it is cancelled); the tests set the state a new run takes on moto's
backend (in-process), as tests/support/emr_standin.py does. No compute stream runs here
(that would need a driver running for minutes, the stand-in runs drivers to their end).

What this cannot prove (only a run on AWS can), besides what test_spark_launch_emr.py lists:
- that EMR runs the driver as a STREAMING job with these parameters (mode, no timeout,
  maxFailedAttemptsPerHour=1 meaning no retry by EMR, the grace period of the cancellation);
- the state sequence of a real run (QUEUED, capacity waits, CANCELLING lasting the grace
  period), the dashboard URL (moto has no GetDashboardForJobRun: the op logs that it has none);
- that the driver finds a writable QUANTCORE_HOME (/tmp/quantcore) for the query's lock, and
  stops its query on the SIGTERM of a cancellation within the grace period.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from dagster import DagsterExecutionInterruptedError, DagsterInstance
from moto.core import DEFAULT_ACCOUNT_ID
from moto.emrserverless import models as emr_models
from moto.emrserverless.responses import EMRServerlessResponse

from quantcore.settings import REPO_ROOT, Settings
from quantcore_platform import stream_jobs
from quantcore_platform.resources import QuantcoreSettingsResource
from quantcore_platform.spark_launch.emr import DRIVER_ENV
from quantcore_platform.spark_launch.emr_code import split_s3_uri
from quantcore_platform.spark_launch.emr_stream import EmrStreamRun
from quantcore_platform.streams.catalog import Stream, spark_stream_launch
from tests.integration.test_spark_launch_emr import (  # noqa: F401 - fixtures
    BUCKET,
    LOG_GROUP,
    REGION,
    RELEASE,
    ROLE,
    aws,
    moto_endpoint,
)
from tests.support.settings import make_settings, settings_toml

CONFIGURATION = {"applicationConfiguration": [{"classification": "spark-defaults",
                                               "properties": {f"{DRIVER_ENV}QUANTCORE_KAFKA_BOOTSTRAP": "b-1:9096"}}],
                 "monitoringConfiguration": {"cloudWatchLoggingConfiguration": {"enabled": True,
                                                                                "logGroupName": LOG_GROUP}}}


@pytest.fixture(autouse=True)
def fresh_moto(moto_endpoint):  # noqa: F811 - the imported fixture
    """Each test its own account (the `aws` fixture creates the bucket and the application)."""
    requests.post(f"{moto_endpoint}/moto-api/reset", timeout=10).raise_for_status()


class EmrCalls:
    """What moto's EMR Serverless received (StartJobRun bodies, CancelJobRun queries), and
    the state each new run takes, in order (moto's own: SUCCESS)."""

    def __init__(self, monkeypatch) -> None:
        self.started: list[dict] = []
        self.cancelled: list[dict] = []
        self.states: list[tuple[str, str | None]] = []
        start_response, cancel_response = EMRServerlessResponse.start_job_run, EMRServerlessResponse.cancel_job_run
        start_run = emr_models.EMRServerlessBackend.start_job_run

        def record_start(response):
            self.started.append(json.loads(response.body))
            return start_response(response)

        def record_cancel(response):
            result = cancel_response(response)  # moto reads the run's id from the path first
            query = {key: values[0] for key, values in response.querystring.items()}
            self.cancelled.append({"jobRunId": response._get_param("jobRunId"), **query})
            return result

        def scripted_start(backend, **kwargs):
            run = start_run(backend, **kwargs)
            if self.states:
                run.state, run.state_details = self.states.pop(0)
            return run

        monkeypatch.setattr(EMRServerlessResponse, "start_job_run", record_start)
        monkeypatch.setattr(EMRServerlessResponse, "cancel_job_run", record_cancel)
        monkeypatch.setattr(emr_models.EMRServerlessBackend, "start_job_run", scripted_start)

    @staticmethod
    def state(run_id: str) -> str:
        backend = emr_models.emrserverless_backends[DEFAULT_ACCOUNT_ID][REGION]
        return next(run.state for runs in backend.job_runs.values() for run in runs if run.id == run_id)


@pytest.fixture
def emr_calls(monkeypatch) -> EmrCalls:
    return EmrCalls(monkeypatch)


def emr_flat(aws: dict, tmp_path: Path) -> dict:  # noqa: F811
    """The settings of a Dagster deployment on AWS (flat names), with a stand-in jar (the
    connector jars' content does not matter here) and a Redis that is not there."""
    jars = tmp_path / "jars"
    (jars / "spark").mkdir(parents=True)
    (jars / "spark" / "quantcore-spark.jar").write_bytes(b"a jar")
    return {"spark_launcher": "emr", "emr_application_id": aws["application_id"], "emr_execution_role_arn": ROLE,
            "emr_release_label": RELEASE, "emr_job_code_uri": f"s3://{BUCKET}/jobs/",
            "emr_job_configuration": json.dumps(CONFIGURATION), "aws_region": REGION,
            "aws_endpoint_url": aws["endpoint"], "jars_dir": str(jars), "heartbeat_interval_s": 0.1}


def test_a_failed_stream_run_is_restarted_in_place_and_a_finished_one_ends_the_job(
        aws, emr_calls, tmp_path):  # noqa: F811
    emr_calls.states = [("FAILED", "Job failed. ExitCode: 1. Last few exceptions: boom"), ("SUCCESS", None)]
    settings: Settings = make_settings(tmp_path / "home")
    resource = QuantcoreSettingsResource(config_file=settings_toml(tmp_path / "emr.toml", settings,
                                                                   **emr_flat(aws, tmp_path)))
    instance = DagsterInstance.ephemeral()
    result = stream_jobs.compute_stream.execute_in_process(
        run_config={"ops": {"run_compute_stream": {"config": {"trigger_mode": "microbatch"}}}},
        resources={"quantcore": resource}, instance=instance)

    assert result.success
    assert len(emr_calls.started) == 2, "the failed run was restarted, the finished one ended the op"
    first, again = emr_calls.started
    assert again == {**first, "clientToken": again["clientToken"]}, "the same request each time"
    assert first["mode"] == "STREAMING" and first["retryPolicy"] == {"maxFailedAttemptsPerHour": 1}
    assert first["executionTimeoutMinutes"] == 0 and first["name"] == "quantcore-compute_job"
    assert first["configurationOverrides"] == CONFIGURATION
    submit = first["jobDriver"]["sparkSubmit"]
    assert submit["entryPointArguments"] == ["--trigger", "microbatch"]
    assert f"{DRIVER_ENV}QUANTCORE_TRIGGER_MODE=microbatch" in submit["sparkSubmitParameters"]
    bucket, key = split_s3_uri(submit["entryPoint"])
    assert bucket == BUCKET and key.startswith("jobs/quantcore-job-") and key.endswith("/compute_job.py")
    uploaded = aws["s3"].get_object(Bucket=bucket, Key=key)["Body"].read()
    assert uploaded == (REPO_ROOT / "streaming" / "spark" / "compute_job.py").read_bytes()

    logs = [entry.user_message for entry in instance.all_logs(result.run_id)]
    started = [line for line in logs if line.startswith("compute stream started (EMR Serverless job run ")]
    assert len(started) == 2 and started[0] != started[1]
    assert any("ended: FAILED (Job failed. ExitCode: 1. Last few exceptions: boom)" in line for line in logs)
    assert any("exited with code 1; restarting it in place" in line for line in logs)
    assert any(f"driver logs at CloudWatch Logs {LOG_GROUP}: /applications/{aws['application_id']}/jobs/" in line
               for line in logs)


class Log:
    """context.log of an op, kept."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, message: str) -> None:
        self.lines.append(message)

    warning = error = info


class Context:
    def __init__(self) -> None:
        self.log = Log()


def test_a_terminated_op_cancels_its_run_after_cancelling_one_left_running(
        aws, emr_calls, tmp_path, monkeypatch):  # noqa: F811
    emr_calls.states = [("RUNNING", None), ("RUNNING", None)]
    settings = make_settings(tmp_path / "home", **emr_flat(aws, tmp_path))
    launch = spark_stream_launch(Stream.compute, {}, settings)
    context = Context()
    left = EmrStreamRun(settings, launch.job, context.log, poll_s=0.2)
    left_id = left.start()  # an earlier supervisor's run, never stopped (its worker died)
    assert left.poll() is None and left.state == "RUNNING"

    def terminated(*_args) -> None:  # the run terminated from the UI, at the op's first report
        raise DagsterExecutionInterruptedError()

    monkeypatch.setattr(stream_jobs, "report_progress", terminated)
    with pytest.raises(DagsterExecutionInterruptedError):
        stream_jobs.run_once(context, settings, None, Stream.compute, {})

    (started,) = [line for line in context.log.lines if line.startswith("compute stream started (")]
    run_id = started.removeprefix("compute stream started (EMR Serverless job run ").removesuffix(")")
    assert run_id != left_id
    assert [call["jobRunId"] for call in emr_calls.cancelled] == [left_id, run_id], \
        "the leftover before the new run started, the new one when the op was terminated"
    assert all(call["shutdownGracePeriodInSeconds"] == "20" for call in emr_calls.cancelled)
    assert EmrCalls.state(left_id) == EmrCalls.state(run_id) == "CANCELLED"
    lines = "\n".join(context.log.lines)
    assert f"cancelling job run {left_id}, left running by an earlier supervisor" in lines
    assert f"EMR Serverless job run {run_id} is RUNNING" in lines
    assert f"no dashboard for EMR Serverless job run {run_id}" in lines, "moto has no GetDashboardForJobRun"
    assert "compute stream stopped (exit -15)" in lines
