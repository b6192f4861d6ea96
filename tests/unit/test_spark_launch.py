"""The Spark launchers' parts that need no Spark: their settings, the spark-submit command line,
where the EMR launcher puts the code in S3, its StartJobRun request, and the CloudWatch
readers (against moto's in-process AWS mock)."""

from __future__ import annotations

import io
import json
import shlex
import threading
import time
from pathlib import Path

import boto3
import pytest
from dagster_aws.pipes import PipesCloudWatchLogReader
from dagster_pipes import PIPES_PROTOCOL_VERSION_FIELD
from moto import mock_aws

from quantcore.settings import REPO_ROOT, ConfigError, load_settings
from quantcore_platform.replay_assets import REPLAY_JOB
from quantcore_platform.spark_launch import (
    EmrServerlessLauncher,
    LocalLauncher,
    SparkJob,
    SubmitLauncher,
    launcher_for,
)
from quantcore_platform.spark_launch.cloudwatch import DriverLogReader, DriverMessageReader
from quantcore_platform.spark_launch.emr import check_application, start_job_run_request
from quantcore_platform.spark_launch.emr_code import job_code, upload
from quantcore_platform.spark_launch.submit import spark_submit, submit_command

EMR = {"spark_launcher": "emr", "emr_application_id": "00app", "emr_job_code_uri": "s3://artifacts/jobs/",
       "emr_execution_role_arn": "arn:aws:iam::123456789012:role/job"}
CONFIGURATION = {"applicationConfiguration": [{"classification": "spark-defaults",
                                               "properties": {"spark.emr-serverless.driverEnv.QUANTCORE_X": "1"}}],
                 "monitoringConfiguration": {"cloudWatchLoggingConfiguration": {"enabled": True}}}


@pytest.fixture
def jars(tmp_path) -> list[str]:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    paths = [tmp_path / "a" / "kafka-clients-3.9.2.jar", tmp_path / "a" / "quantcore-spark.jar"]
    for path in paths:
        path.write_bytes(path.name.encode())
    return [str(path) for path in paths]


# --- settings ------------------------------------------------------------------------------------

def test_the_launcher_is_local_unless_the_settings_say_otherwise():
    assert isinstance(launcher_for(load_settings()), LocalLauncher)
    assert isinstance(launcher_for(load_settings(spark_launcher="submit")), SubmitLauncher)
    assert isinstance(launcher_for(load_settings(**EMR)), EmrServerlessLauncher)


def test_emr_without_its_application_names_the_missing_variables():
    with pytest.raises(ConfigError) as error:
        launcher_for(load_settings(spark_launcher="emr", emr_application_id="00app"))
    message = str(error.value)
    assert "QUANTCORE_EMR_EXECUTION_ROLE_ARN" in message and "QUANTCORE_EMR_JOB_CODE_URI" in message
    assert "QUANTCORE_EMR_APPLICATION_ID" not in message, "it is set"
    assert "QUANTCORE_SPARK_LAUNCHER=local or submit" in message


@pytest.mark.parametrize(("setting", "value", "says"), [
    ("emr_job_code_uri", "https://artifacts/jobs/", "is not an s3:// URI"),
    ("emr_job_code_uri", "s3://", "is not an s3:// URI"),
    ("emr_job_configuration", "{applicationConfiguration: []", "not JSON"),
    ("emr_job_configuration", '{"sparkSubmitParameters": "--x"}', "applicationConfiguration"),
    ("spark_launcher", "yarn", "QUANTCORE_SPARK_LAUNCHER"),
])
def test_bad_launch_settings_say_which_variable(setting, value, says):
    with pytest.raises(ConfigError) as error:
        load_settings(**{**EMR, setting: value}).spark_launch
    assert says in str(error.value)


# --- local and submit ------------------------------------------------------------------------------

def test_the_job_entry_point_is_its_module_file():
    assert REPLAY_JOB.entry_point == REPO_ROOT / "streaming" / "spark" / "replay_job.py"
    assert REPLAY_JOB.with_args("--maintain").args == ("--maintain",) and REPLAY_JOB.args == ()
    with pytest.raises(Exception, match="has no file"):
        SparkJob("streaming.spark.no_such_job", sections=()).entry_point


def test_spark_submit_command_ships_the_zip_and_the_jars(jars):
    settings = load_settings(spark_master="spark://10.0.0.5:7077")
    job = REPLAY_JOB.with_args("--dates", "2024-03-01..2024-03-02")
    command = submit_command(settings.spark, job, Path("/home/jobs/quantcore-job-ab.zip"), jars)
    assert command[0] == str(spark_submit()) and Path(command[0]).is_file()
    assert command[1:3] == ["--master", "spark://10.0.0.5:7077"]
    assert command[command.index("--py-files") + 1] == "/home/jobs/quantcore-job-ab.zip"
    assert command[command.index("--jars") + 1].split(",") == jars
    assert command[-3:] == [str(REPLAY_JOB.entry_point), "--dates", "2024-03-01..2024-03-02"]


def test_spark_submit_follows_the_local_cluster_and_leaves_an_empty_master_to_spark_submit(jars):
    on_cluster = load_settings(spark_workers=2, spark_cluster_port=7177).spark
    assert submit_command(on_cluster, REPLAY_JOB, Path("j.zip"), jars)[1:3] == ["--master", "spark://127.0.0.1:7177"]
    assert "--master" not in submit_command(load_settings(spark_master="").spark, REPLAY_JOB, Path("j.zip"), jars)


# --- EMR Serverless ----------------------------------------------------------------------------------

def test_job_code_is_content_addressed_under_the_code_uri(jars, tmp_path):
    archive = tmp_path / "quantcore-job-0123abcd.zip"
    code = job_code("s3://artifacts/jobs", REPLAY_JOB, archive, jars)
    assert code.entry_point == "s3://artifacts/jobs/quantcore-job-0123abcd/replay_job.py"
    assert code.archive == "s3://artifacts/jobs/quantcore-job-0123abcd/quantcore-job-0123abcd.zip"
    assert [uri.rsplit("/", 1)[1] for uri in code.jars] == ["kafka-clients-3.9.2.jar", "quantcore-spark.jar"]
    assert all(uri.startswith("s3://artifacts/jobs/jars/") for uri in code.jars)
    assert code.sources[code.entry_point] == REPLAY_JOB.entry_point and code.sources[code.archive] == archive

    rebuilt = Path(jars[1]).parent.parent / "b" / "quantcore-spark.jar"
    rebuilt.write_bytes(b"another build, same name")
    again = job_code("s3://artifacts/jobs/", REPLAY_JOB, archive, [jars[0], str(rebuilt)])
    assert again.jars[0] == code.jars[0] and again.jars[1] != code.jars[1], "a jar's key follows its content"


def test_start_job_run_request(jars, tmp_path):
    launch = load_settings(**EMR, emr_job_configuration=json.dumps(CONFIGURATION)).spark_launch
    code = job_code(launch.emr_job_code_uri, REPLAY_JOB.with_args("--dates", "2024-03-01"),
                    tmp_path / "quantcore-job-ab.zip", jars)
    request = start_job_run_request(launch, REPLAY_JOB.with_args("--dates", "2024-03-01"), code)
    assert request["applicationId"] == "00app" and request["executionRoleArn"] == EMR["emr_execution_role_arn"]
    assert request["name"] == "quantcore-replay_job"
    submit = request["jobDriver"]["sparkSubmit"]
    assert submit["entryPoint"] == code.entry_point and submit["entryPointArguments"] == ["--dates", "2024-03-01"]
    assert shlex.split(submit["sparkSubmitParameters"]) == [
        "--py-files", code.archive, "--jars", ",".join(code.jars),
        "--conf", "spark.emr-serverless.driverEnv.QUANTCORE_SPARK_MASTER="]
    assert request["configurationOverrides"] == CONFIGURATION


@mock_aws
def test_upload_skips_what_s3_holds(jars, tmp_path):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="artifacts")
    archive = tmp_path / "quantcore-job-ab.zip"
    archive.write_bytes(b"zip")
    code = job_code("s3://artifacts/jobs/", REPLAY_JOB, archive, jars)
    assert upload(s3, code) == list(code.sources)
    assert upload(s3, code) == [], "content-addressed: nothing twice"
    body = s3.get_object(Bucket="artifacts", Key=code.archive.removeprefix("s3://artifacts/"))["Body"].read()
    assert body == b"zip"


@mock_aws
def test_the_application_must_be_the_one_the_settings_describe():
    emr = boto3.client("emr-serverless", region_name="us-east-1")
    application = emr.create_application(name="spark", releaseLabel="emr-7.9.0", type="SPARK")["applicationId"]
    launch = load_settings(**{**EMR, "emr_application_id": application}).spark_launch
    check_application(emr, launch)
    check_application(emr, launch.with_overrides(emr_release_label="emr-7.9.0"))
    with pytest.raises(ConfigError, match="QUANTCORE_EMR_RELEASE_LABEL"):
        check_application(emr, launch.with_overrides(emr_release_label="emr-7.1.0"))
    with pytest.raises(ConfigError, match="no EMR Serverless application 00nothere"):
        check_application(emr, launch.with_overrides(emr_application_id="00nothere"))


# --- CloudWatch Logs -----------------------------------------------------------------------------------

def pipes_line(method: str) -> str:
    return json.dumps({PIPES_PROTOCOL_VERSION_FIELD: "0.1", "method": method, "params": None})


@mock_aws
def test_the_driver_log_reader_forwards_its_stream_and_ends_with_the_session():
    logs = boto3.client("logs", region_name="us-east-1")
    logs.create_log_group(logGroupName="g")
    logs.create_log_stream(logGroupName="g", logStreamName="s/stdout")
    now = int(time.time() * 1000)
    logs.put_log_events(logGroupName="g", logStreamName="s/stdout", logEvents=[
        {"timestamp": now, "message": "spark says hello"}, {"timestamp": now, "message": pipes_line("opened")}])
    forwarded, closed = io.StringIO(), threading.Event()
    reader = DriverLogReader(client=logs, log_group="g", log_stream="s/stdout", target_stream=forwarded)
    reader.start({}, closed)
    time.sleep(1.5)
    assert reader.is_running(), "it waits for more while the session is open"
    closed.set()
    reader.thread.join(5)
    assert not reader.is_running(), "dagster-aws's own reader never ends"
    assert forwarded.getvalue() == "spark says hello\n", "Pipes messages are not logs"


@mock_aws
def test_the_message_reader_passes_on_json_objects_only():
    logs = boto3.client("logs", region_name="us-east-1")
    logs.create_log_group(logGroupName="g")
    logs.create_log_stream(logGroupName="g", logStreamName="s/stdout")
    lines = ["{", '  "days": [', '    "2024-03-01"', "  ]", "}", "0", pipes_line("closed")]
    now = int(time.time() * 1000) + 1000
    logs.put_log_events(logGroupName="g", logStreamName="s/stdout",
                        logEvents=[{"timestamp": now, "message": line} for line in lines])
    reader = DriverMessageReader(client=logs, log_group="g", log_stream="s/stdout")
    _, chunk = reader.download_messages(None, {})
    assert chunk.split("\n") == ["{", pipes_line("closed")], "a JSON string or number line killed the reader"
    reader.add_log_reader(DriverLogReader(client=logs, log_group="g", log_stream="x"))
    reader.add_log_reader(PipesCloudWatchLogReader(client=logs, log_group="g", log_stream="s/stderr"))
    assert all(type(r) is DriverLogReader for r in reader.log_readers.values())
