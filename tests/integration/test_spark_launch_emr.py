"""The replay asset launched on "EMR Serverless" (moto's AWS API simulator) writes the Delta
rows the same replay writes on `local[2]` (the suite's session: the `local` launcher's own
run of the asset is tests/integration/test_replay_dagster.py's).

What runs for real: the asset and its resource, which pick the `emr` launcher from the
settings; the launcher's uploads to S3 and its StartJobRun request; dagster-aws's
PipesEMRServerlessClient (context injection as driver environment, polling, reading the Pipes
messages back from CloudWatch Logs into the materializations); and the job's entry point
under spark-submit with the zip and jars the launcher uploaded and the driver environment EMR
would give it. moto serves the APIs; tests/support/emr_standin.py plays the service that runs
the job (moto runs none).

What this cannot prove (only a run on AWS can):
- IAM: moto allows every call, so neither the Dagster run role's policy (StartJobRun,
  GetJobRun, GetApplication, GetDashboardForJobRun, iam:PassRole on the job role, s3 on
  jobs/*, logs:GetLogEvents and DescribeLogStreams, KMS for the SSE-KMS bucket) nor the job
  role's access to MSK, S3 and Secrets Manager is evaluated.
- Networking: the job reaches a broker on loopback; on EMR the workers reach MSK (SCRAM over
  TLS) through the VPC's subnets and security groups, and S3 through its endpoint.
- EMR's own spark-submit: how it parses sparkSubmitParameters (an empty driverEnv value,
  precedence over spark-defaults), fetches s3:// files, sets the master and runs the Spark
  of the release label. The stand-in runs pyspark's spark-submit with a local[2] master.
- The image: the stand-in's driver has every Python dependency of the platform; EMR's stock
  image has none of pydantic, confluent-kafka, dagster-pipes... (a custom image, Terraform's
  emr_image_uri, must carry them, with a Spark matching pyspark 4.2).
- Secrets: EMR.secret@ references are not resolved (the stand-in refuses them).
- CloudWatch delivery: EMR ships driver logs late and cuts events at 256 KB; the stand-in
  writes them all before the run turns SUCCESS, so the client never waits for them.
- States and timing: runs go SUBMITTED -> SCHEDULED -> SUCCESS (no RUNNING, so no dashboard
  call), with no capacity wait, no retry attempts, no cancellation by the service.
"""

from __future__ import annotations

import json

import boto3
import polars as pl
import pytest
import requests
from dagster import DagsterInstance, materialize
from moto.server import ThreadedMotoServer

from quantcore.settings import Settings
from quantcore.topics import CREATE_TIME, temporary_topic
from quantcore_platform.replay_assets import REPLAY_SECTIONS, replay_books
from quantcore_platform.resources import QuantcoreSettingsResource
from quantcore_platform.services.process import free_port
from quantcore_platform.spark_launch.emr import DRIVER_ENV
from streaming.spark.delta_tables import TABLES
from streaming.spark.replay_checks import read_day
from streaming.spark.replay_job import replay
from tests.support.emr_standin import EmrStandIn
from tests.support.replay_records import DAY1, DAY2, PARTITIONS, expected_raw, produce_known
from tests.support.settings import settings_toml

pytestmark = pytest.mark.slow

REGION = "eu-west-1"
BUCKET = "qc-test-artifacts"
LOG_GROUP = "/quantcore/test/emr-serverless"
RELEASE = "emr-7.9.0"
ROLE = "arn:aws:iam::123456789012:role/qc-test-emr-job"
KAFKA_COLUMNS = ["kafka_partition", "kafka_offset"]  # a row per record of the topic in each table


@pytest.fixture(scope="module")
def moto_endpoint():
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def aws(moto_endpoint, monkeypatch) -> dict:
    """What Terraform leaves in the account: the artifacts bucket, the jobs' log group and the
    Spark application. Fake credentials: moto checks none."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    # moto's accounts live in the process, not in one server: start each test from an empty one
    # (another module's server, or the last test, may have made the bucket already).
    requests.post(f"{moto_endpoint}/moto-api/reset", timeout=10).raise_for_status()
    client = lambda service: boto3.client(service, endpoint_url=moto_endpoint, region_name=REGION)  # noqa: E731
    client("s3").create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    client("logs").create_log_group(logGroupName=LOG_GROUP)
    application = client("emr-serverless").create_application(name="qc-test-spark", releaseLabel=RELEASE,
                                                               type="SPARK")
    return {"endpoint": moto_endpoint, "emr": client("emr-serverless"), "s3": client("s3"),
            "application_id": application["applicationId"]}


@pytest.fixture
def topic(kafka: Settings):
    with temporary_topic(kafka.kafka, "qc.test.emr", PARTITIONS, CREATE_TIME) as name:
        produce_known(kafka.kafka, name)
        yield name


def job_configuration(settings: Settings) -> dict:
    """configurationOverrides as terraform/main.tf builds them (emr_job_configuration): the
    jobs' settings as driver and executor environment, but the master (EMR's), and CloudWatch
    logging of the driver."""
    env = {name: value for name, value in settings.child_env(*REPLAY_SECTIONS).items()
           if name.startswith("QUANTCORE_") and name != "QUANTCORE_SPARK_MASTER"}
    properties = {**{f"{DRIVER_ENV}{k}": v for k, v in env.items()}, **{f"spark.executorEnv.{k}": v for k, v in env.items()}}
    return {"applicationConfiguration": [{"classification": "spark-defaults", "properties": properties}],
            "monitoringConfiguration": {"cloudWatchLoggingConfiguration": {"enabled": True,
                                                                           "logGroupName": LOG_GROUP}}}


def replay_both_days(resource: QuantcoreSettingsResource):
    return materialize([replay_books], resources={"quantcore": resource}, instance=DagsterInstance.ephemeral(),
                       tags={"dagster/asset_partition_range_start": DAY1.isoformat(),
                             "dagster/asset_partition_range_end": DAY2.isoformat()})


def rows(settings: Settings, table: str) -> pl.DataFrame:
    return pl.concat([read_day(settings.paths, table, day) for day in (DAY1, DAY2)]).sort(KAFKA_COLUMNS)


def test_replay_on_emr_serverless_writes_the_rows_of_the_local_replay(spark, kafka, topic, aws, tmp_path):
    on_emr = kafka.override(book_topic=topic, data_root=str(tmp_path / "emr-delta"))
    emr_resource = QuantcoreSettingsResource(config_file=settings_toml(
        tmp_path / "emr.toml", kafka, book_topic=topic, data_root=on_emr.paths.delta_root,
        spark_launcher="emr", emr_application_id=aws["application_id"], emr_execution_role_arn=ROLE,
        emr_release_label=RELEASE, emr_job_code_uri=f"s3://{BUCKET}/jobs/",
        emr_job_configuration=json.dumps(job_configuration(on_emr)), aws_region=REGION,
        aws_endpoint_url=aws["endpoint"]))
    with EmrStandIn(aws["endpoint"], REGION, tmp_path / "emr") as emr_service:
        result = replay_both_days(emr_resource)

    assert result.success
    materialized = {(e.asset_key.path[-1], e.partition): e.materialization.metadata
                    for e in result.get_asset_materialization_events()}
    tables = ("books_raw", "book_signals", "trades")  # trades: reported even without a trade topic
    assert set(materialized) == {(t, d.isoformat()) for t in tables for d in (DAY1, DAY2)}
    raw = materialized[("books_raw", DAY1.isoformat())]
    assert raw["rows_by_day"].value == {d.isoformat(): len(expected_raw(d)) for d in (DAY1, DAY2)}, \
        "the job's Pipes messages came back from CloudWatch Logs"
    (run_id,) = emr_service.driver_env
    assert raw["AWS EMR Serverless Job Run ID"].value == run_id

    run = aws["emr"].get_job_run(applicationId=aws["application_id"], jobRunId=run_id)["jobRun"]
    submit = run["jobDriver"]["sparkSubmit"]
    assert submit["entryPoint"].startswith(f"s3://{BUCKET}/jobs/quantcore-job-")
    assert submit["entryPoint"].endswith("/replay_job.py")
    assert submit["entryPointArguments"] == ["--dates", f"{DAY1}..{DAY2}"]
    assert run["configurationOverrides"] == job_configuration(on_emr)
    driver = emr_service.driver_env[run_id]
    assert driver["QUANTCORE_SPARK_MASTER"] == "", "the master is EMR's"
    assert {"DAGSTER_PIPES_CONTEXT", "DAGSTER_PIPES_MESSAGES"} <= set(driver)

    local = kafka.override(book_topic=topic, data_root=str(tmp_path / "local-delta"))
    assert replay(spark, local, [DAY1, DAY2]).complete
    for table in TABLES:
        emr_rows, local_rows = rows(on_emr, table), rows(local, table)
        assert emr_rows.height > 0, table
        assert emr_rows.equals(local_rows), f"{table}: the EMR entry point and local[2] wrote different rows"
