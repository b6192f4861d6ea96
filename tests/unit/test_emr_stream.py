"""The compute stream on EMR Serverless, its pure parts: the stream as a Spark job, its
StartJobRun request, job run states as exit codes, where its logs are, and which object the
Dagster op supervises."""

from __future__ import annotations

import json
import shlex

import pytest
from dagster import build_op_context

from quantcore.errors import PlatformError
from quantcore.settings import REPO_ROOT, ConfigError, load_settings
from quantcore_platform.services.restart_policy import CONFIG_ERROR_EXIT, describe_returncode
from quantcore_platform.spark_launch.emr_code import job_code
from quantcore_platform.spark_launch.emr_stream import (
    DRIVER_HOME,
    EmrStreamRun,
    check_streaming_release,
    driver_log_locations,
    exit_code,
    streaming_job_run_request,
)
from quantcore_platform.stream_jobs import stream_process
from quantcore_platform.streams.catalog import Stream, spark_stream_launch
from quantcore_platform.streams.supervisor import StreamProcess

EMR = {"spark_launcher": "emr", "emr_application_id": "00app", "emr_job_code_uri": "s3://artifacts/jobs/",
       "emr_execution_role_arn": "arn:aws:iam::123456789012:role/job", "aws_region": "eu-west-1"}
CONFIGURATION = {"applicationConfiguration": [{"classification": "spark-defaults", "properties": {}}],
                 "monitoringConfiguration": {
                     "cloudWatchLoggingConfiguration": {"enabled": True, "logGroupName": "/qc/emr"},
                     "s3MonitoringConfiguration": {"logUri": "s3://artifacts/emr-logs/"}}}
DRIVER = "spark.emr-serverless.driverEnv."


def test_the_compute_stream_is_compute_jobs_main_with_the_chosen_options_as_driver_environment():
    launch = spark_stream_launch(Stream.compute, {"trigger_mode": "microbatch", "trigger_interval_ms": 250},
                                 load_settings())
    assert launch.job.entry_point == REPO_ROOT / "streaming" / "spark" / "compute_job.py"
    assert launch.job.args == ("--trigger", "microbatch")
    assert launch.driver_env == {"QUANTCORE_TRIGGER_MODE": "microbatch", "QUANTCORE_TRIGGER_INTERVAL_MS": "250"}

    unset = spark_stream_launch(Stream.compute, {"trigger_mode": None, "trigger_interval_ms": None}, load_settings())
    assert unset.job.args == () and unset.driver_env == {}, "the job configuration's settings decide"
    with pytest.raises(ConfigError, match="QUANTCORE_TRIGGER_MODE"):
        spark_stream_launch(Stream.compute, {"trigger_mode": "sometimes"}, load_settings())
    with pytest.raises(PlatformError, match="not a Spark job"):
        spark_stream_launch(Stream.serve, {}, load_settings())


def test_a_streaming_request_is_the_launchers_with_streaming_mode_no_timeout_and_no_emr_retries(tmp_path):
    launch = load_settings(**EMR, emr_job_configuration=json.dumps(CONFIGURATION)).spark_launch
    stream = spark_stream_launch(Stream.compute, {"trigger_mode": "microbatch"}, load_settings())
    code = job_code(launch.emr_job_code_uri, stream.job, tmp_path / "quantcore-job-ab.zip", [])
    request = streaming_job_run_request(launch, stream.job, code, stream.driver_env)

    assert request["mode"] == "STREAMING" and request["executionTimeoutMinutes"] == 0
    assert request["retryPolicy"] == {"maxFailedAttemptsPerHour": 1}, "the op restarts it, not EMR"
    assert request["name"] == "quantcore-compute_job" and request["configurationOverrides"] == CONFIGURATION
    submit = request["jobDriver"]["sparkSubmit"]
    assert submit["entryPoint"] == "s3://artifacts/jobs/quantcore-job-ab/compute_job.py"
    assert submit["entryPointArguments"] == ["--trigger", "microbatch"]
    parameters = shlex.split(submit["sparkSubmitParameters"])
    assert parameters[:2] == ["--py-files", code.archive]
    confs = [value for flag, value in zip(parameters, parameters[1:]) if flag == "--conf"]
    assert confs == [f"{DRIVER}QUANTCORE_SPARK_MASTER=", f"{DRIVER}QUANTCORE_HOME={DRIVER_HOME}",
                     f"{DRIVER}QUANTCORE_TRIGGER_MODE=microbatch"]


@pytest.mark.parametrize(("state", "details", "code"), [
    *((state, None, None) for state in ("SUBMITTED", "PENDING", "SCHEDULED", "RUNNING", "QUEUED", "CANCELLING")),
    ("SUCCESS", None, 0),
    ("FAILED", "Job failed, please check complete logs in configured logging destination. ExitCode: 1.", 1),
    ("FAILED", "ExitCode: 2. error: QUANTCORE_TRIGGER_MODE ...", CONFIG_ERROR_EXIT),
    ("FAILED", "Job run timed out", 1),
    ("FAILED", "ExitCode: 0.", 1),
])
def test_job_run_states_as_exit_codes(state, details, code):
    assert exit_code(state, details) == code


def test_a_cancelled_run_was_killed_and_an_unknown_state_is_an_error():
    assert describe_returncode(exit_code("CANCELLED")) == "killed by SIGTERM"
    with pytest.raises(PlatformError, match="SLEEPING"):
        exit_code("SLEEPING")


def test_streaming_needs_emr_7_1():
    check_streaming_release({"applicationId": "00app", "releaseLabel": "emr-7.1.0"})
    check_streaming_release({"applicationId": "00app", "releaseLabel": "emr-7.10.0"})
    with pytest.raises(ConfigError, match="emr-6.15.0: streaming job runs need emr-7.1.0"):
        check_streaming_release({"applicationId": "00app", "releaseLabel": "emr-6.15.0"})


def test_driver_log_locations_follow_the_job_configuration():
    assert driver_log_locations(CONFIGURATION, "00app", "00run") == [
        "CloudWatch Logs /qc/emr: /applications/00app/jobs/00run/SPARK_DRIVER/stdout, /stderr",
        "s3://artifacts/emr-logs/applications/00app/jobs/00run/SPARK_DRIVER/"]
    prefixed = {"monitoringConfiguration": {"cloudWatchLoggingConfiguration": {
        "enabled": True, "logStreamNamePrefix": "qc"}}}
    assert driver_log_locations(prefixed, "a", "r") == [
        "CloudWatch Logs /aws/emr-serverless: qc/applications/a/jobs/r/SPARK_DRIVER/stdout, /stderr"]
    assert "application's monitoring" in driver_log_locations({}, "a", "r")[0]


def test_the_op_supervises_a_job_run_for_the_compute_stream_on_emr_only():
    context = build_op_context()
    on_emr = load_settings(**EMR)
    assert isinstance(stream_process(context, on_emr, Stream.compute, {}), EmrStreamRun)
    assert isinstance(stream_process(context, on_emr, Stream.serve, {}), StreamProcess), "serve is no Spark job"
    assert isinstance(stream_process(context, load_settings(), Stream.compute, {}), StreamProcess)
    assert isinstance(stream_process(context, load_settings(spark_launcher="submit"), Stream.compute, {}),
                      StreamProcess)
