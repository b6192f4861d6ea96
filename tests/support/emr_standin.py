"""EMR Serverless's part in the tests, around moto's AWS API simulator.

moto (server mode) serves the EMR Serverless, S3 and CloudWatch Logs APIs but runs no job:
a job run is SUCCESS the moment StartJobRun returns (`moto.emrserverless.models.JOB_STATUS`;
moto 5.2 has no state machine for these runs). `EmrStandIn` plays the service instead:

- job runs start SUBMITTED (that constant, patched while the stand-in runs);
- a thread takes each one, sets it SCHEDULED (not RUNNING: in that state the Pipes client
  asks for the run's dashboard, GetDashboardForJobRun, which moto does not serve), fetches the
  entry point, `--py-files` and `--jars` from moto's S3, and runs spark-submit here the way
  EMR starts a driver: a `local[2]` master, the job configuration's `spark-defaults` and the
  run's sparkSubmitParameters, `spark.emr-serverless.driverEnv.*` as the driver's environment;
- the driver's stdout and stderr go to CloudWatch Logs, in the streams EMR writes
  (`/applications/<app>/jobs/<run>/SPARK_DRIVER/stdout|stderr` of the configured group);
- the run ends SUCCESS or FAILED (stateDetails: the end of stderr) in moto's backend.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import boto3
from moto.core import DEFAULT_ACCOUNT_ID
from moto.emrserverless import models as emr_models

from quantcore_platform.spark_launch.emr import DRIVER_ENV
from quantcore_platform.spark_launch.emr_code import split_s3_uri
from quantcore_platform.spark_launch.submit import spark_submit

MASTER = "local[2]"
KEPT_ENV = ("PATH", "HOME", "JAVA_HOME", "LANG", "TMPDIR", "SPARK_LOCAL_IP")  # of this machine, not of Dagster's


class EmrStandIn:
    """Runs the job runs of moto's EMR Serverless (see the module doc); a context manager."""

    def __init__(self, endpoint: str, region: str, workdir: Path, timeout_s: float = 600) -> None:
        self.region, self.workdir, self.timeout_s = region, workdir, timeout_s
        self.s3 = boto3.client("s3", endpoint_url=endpoint, region_name=region)
        self.logs = boto3.client("logs", endpoint_url=endpoint, region_name=region)
        self.driver_env: dict[str, dict[str, str]] = {}  # run id -> the driver's environment it ran with
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="emr-standin", daemon=True)

    def __enter__(self) -> EmrStandIn:
        self._initial_state, emr_models.JOB_STATUS = emr_models.JOB_STATUS, "SUBMITTED"
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(self.timeout_s)
        emr_models.JOB_STATUS = self._initial_state

    # --- the service's loop -------------------------------------------------------------------
    def _serve(self) -> None:
        backend = emr_models.emrserverless_backends[DEFAULT_ACCOUNT_ID][self.region]
        while not self._stop.is_set():
            for runs in list(backend.job_runs.values()):
                for run in [r for r in runs if r.state == "SUBMITTED"]:
                    run.state = "SCHEDULED"
                    self._run(run)
            time.sleep(0.2)

    def _run(self, run: Any) -> None:
        try:
            result = self.execute(run)
            run.state = "SUCCESS" if result.returncode == 0 else "FAILED"
            run.state_details = result.stderr[-2000:] if result.returncode else None
        except Exception as exc:  # the run fails, as EMR's would, and the test sees why
            run.state, run.state_details = "FAILED", f"stand-in: {exc!r}"

    # --- one job run ---------------------------------------------------------------------------
    def execute(self, run: Any) -> subprocess.CompletedProcess:
        folder = self.workdir / run.id
        folder.mkdir(parents=True)
        driver = run.job_driver["sparkSubmit"]
        overrides = run.configuration_overrides or {}
        env, conf = self.spark_defaults(overrides)
        options = self.submit_options(shlex.split(driver.get("sparkSubmitParameters", "")), env, conf, folder)
        entry_point = self.fetch(driver["entryPoint"], folder)
        env = {**{k: os.environ[k] for k in KEPT_ENV if k in os.environ}, "PYSPARK_PYTHON": sys.executable, **env}
        self.driver_env[run.id] = env
        command = [str(spark_submit()), "--master", MASTER, *options,
                   *(arg for key, value in conf.items() for arg in ("--conf", f"{key}={value}")),
                   str(entry_point), *driver.get("entryPointArguments", [])]
        result = subprocess.run(command, env=env, cwd=folder, capture_output=True, text=True, timeout=self.timeout_s)
        for name in ("stdout", "stderr"):  # beside the run's files, for whoever reads a failure
            (folder / f"driver.{name}").write_text(getattr(result, name))
        self.ship_logs(run, overrides, {"stdout": result.stdout, "stderr": result.stderr})
        return result

    @staticmethod
    def spark_defaults(overrides: dict) -> tuple[dict[str, str], dict[str, str]]:
        """(driver environment, other Spark properties) of the job configuration's spark-defaults."""
        env, conf = {}, {}
        for classification in overrides.get("applicationConfiguration", []):
            if classification.get("classification") != "spark-defaults":
                continue
            for key, value in classification.get("properties", {}).items():
                if value.startswith("EMR.secret@"):
                    raise NotImplementedError(f"{key}: the stand-in cannot resolve Secrets Manager references")
                if key.startswith(DRIVER_ENV):
                    env[key.removeprefix(DRIVER_ENV)] = value
                else:
                    conf[key] = value
        return env, conf

    def submit_options(self, parameters: list[str], env: dict[str, str], conf: dict[str, str],
                       folder: Path) -> list[str]:
        """The run's sparkSubmitParameters for a local spark-submit: driverEnv confs into `env`,
        other confs into `conf` (over the defaults), S3 files fetched."""
        options, tokens = [], iter(parameters)
        for token in tokens:
            value = next(tokens)
            if token == "--conf":
                key, _, setting = value.partition("=")
                (env if key.startswith(DRIVER_ENV) else conf)[key.removeprefix(DRIVER_ENV)] = setting
            elif token in ("--py-files", "--jars", "--files", "--archives"):
                options += [token, ",".join(str(self.fetch(uri, folder)) for uri in value.split(","))]
            else:
                options += [token, value]
        return options

    def fetch(self, uri: str, folder: Path) -> Path:
        bucket, key = split_s3_uri(uri)
        target = folder / key
        target.parent.mkdir(parents=True, exist_ok=True)
        self.s3.download_file(bucket, key, str(target))
        return target

    def ship_logs(self, run: Any, overrides: dict, outputs: dict[str, str]) -> None:
        logging = overrides.get("monitoringConfiguration", {}).get("cloudWatchLoggingConfiguration", {})
        if not logging.get("enabled"):
            return
        group = logging.get("logGroupName", "/aws/emr-serverless")
        prefix = f"{logging.get('logStreamNamePrefix', '')}/applications/{run.application_id}/jobs/{run.id}/SPARK_DRIVER"
        for name, text in outputs.items():
            stream = f"{prefix}/{name}"
            self.logs.create_log_stream(logGroupName=group, logStreamName=stream)
            lines = [line for line in text.splitlines() if line]
            for start in range(0, len(lines), 1000):  # PutLogEvents takes at most 10,000 events and 1 MB
                now = int(time.time() * 1000)
                self.logs.put_log_events(logGroupName=group, logStreamName=stream,
                                         logEvents=[{"timestamp": now, "message": m} for m in lines[start:start + 1000]])
