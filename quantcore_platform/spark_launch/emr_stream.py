"""A long-running Spark stream (the compute stream) as an EMR Serverless STREAMING job run,
supervised like a child process: `EmrStreamRun` has StreamProcess's start / wait / stop, so the
Dagster stream op (stream_jobs.py) restarts it with the platform's backoff and reports its
heartbeats from Redis whichever launcher runs it.

- The code and the request are the `emr` launcher's (emr.py: `ship_job_code`,
  `start_job_run_request`): the entry point is the stream module's file, the settings reach the
  driver as the job configuration's environment, plus the stream's options as driverEnv confs.
- `mode=STREAMING` (EMR 7.1.0 and later), no timeout (`executionTimeoutMinutes=0`, allowed for
  streaming runs), and `retryPolicy.maxFailedAttemptsPerHour=1`: EMR does not retry a failed
  attempt itself (a value of 1 means no retry), so a failure reaches the op, whose restarts are
  counted and bounded like a local stream's (one lifecycle, not two restart policies stacked).
- Job run states: SUBMITTED, PENDING, SCHEDULED, RUNNING, QUEUED and CANCELLING are alive;
  SUCCESS exits 0, FAILED and CANCELLED exit non-zero (`exit_code`), their stateDetails logged.
- `stop` cancels the run (with a shutdown grace period) and waits, bounded, for CANCELLED.
- One writer of the query's checkpoint: on a host the query's lock guarantees it; here `start`
  first cancels a run of the same stream that an earlier supervisor left alive (a run worker
  that died without stopping it), and waits for it to end.
"""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from quantcore.errors import PlatformError
from quantcore.settings import ConfigError, PathsSettings, Settings, SparkLaunchSettings
from quantcore_platform.spark_launch.aws import aws_client
from quantcore_platform.spark_launch.emr import check_application, ship_job_code, start_job_run_request
from quantcore_platform.spark_launch.emr_code import JobCode
from quantcore_platform.spark_launch.job import SparkJob

ALIVE_STATES = frozenset({"SUBMITTED", "PENDING", "SCHEDULED", "RUNNING", "QUEUED", "CANCELLING"})
FAILED_EXIT = 1  # stateDetails' "ExitCode: N" when it names the driver's
CANCELLED_EXIT = -signal.SIGTERM  # cancelling stops the driver: "killed by SIGTERM"
STREAMING_SINCE = (7, 1)  # the first EMR release with STREAMING job runs
# The driver's home (the query's lock under run/): inside the job zip by default, which is no
# directory; the job configuration's settings have no QUANTCORE_HOME.
DRIVER_HOME = "/tmp/quantcore"
GRACE_RANGE_S = (15, 1800)  # CancelJobRun's shutdownGracePeriodInSeconds
CANCEL_MARGIN_S = 60.0  # after the grace period, EMR still has to end the run
POLL_S = 5.0
MAX_POLL_ERRORS = 12  # GetJobRun failing this many times in a row (after botocore's retries) fails the op


def exit_code(state: str, details: str | None = None) -> int | None:
    """A job run's state as a process's exit: None while it is alive."""
    if state in ALIVE_STATES:
        return None
    if state == "SUCCESS":
        return 0
    if state == "CANCELLED":
        return CANCELLED_EXIT
    if state == "FAILED":
        named = re.search(r"ExitCode: (\d+)", details or "")
        code = int(named.group(1)) if named else FAILED_EXIT
        return code or FAILED_EXIT  # a FAILED run is never a clean exit
    raise PlatformError(f"unknown EMR Serverless job run state {state!r}", "update quantcore_platform/spark_launch")


def check_streaming_release(application: Mapping[str, Any]) -> None:
    """STREAMING job runs need EMR 7.1.0 or later."""
    label = application.get("releaseLabel", "")
    found = re.match(r"emr-(\d+)\.(\d+)", label)
    if found and (int(found.group(1)), int(found.group(2))) < STREAMING_SINCE:
        raise ConfigError(f"EMR Serverless application {application.get('applicationId')} runs {label}: streaming "
                          "job runs need emr-7.1.0 or later (Terraform's emr_release_label), or run the compute "
                          "stream with QUANTCORE_SPARK_LAUNCHER=local")


def streaming_job_run_request(launch: SparkLaunchSettings, job: SparkJob, code: JobCode,
                              driver_env: Mapping[str, str]) -> dict[str, Any]:
    """The launcher's StartJobRun request, as a STREAMING run that EMR neither times out nor retries."""
    env = {PathsSettings.env_of("home"): DRIVER_HOME, **driver_env}
    return {**start_job_run_request(launch, job, code, env), "mode": "STREAMING", "executionTimeoutMinutes": 0,
            "retryPolicy": {"maxFailedAttemptsPerHour": 1}}


def driver_log_locations(overrides: Mapping[str, Any], application_id: str, run_id: str) -> list[str]:
    """Where EMR writes the driver's stdout and stderr, by the job configuration's monitoring."""
    monitoring = overrides.get("monitoringConfiguration", {})
    driver = f"/applications/{application_id}/jobs/{run_id}/SPARK_DRIVER"
    found = []
    cloudwatch = monitoring.get("cloudWatchLoggingConfiguration", {})
    if cloudwatch.get("enabled"):
        group = cloudwatch.get("logGroupName") or "/aws/emr-serverless"
        found.append(f"CloudWatch Logs {group}: {cloudwatch.get('logStreamNamePrefix', '')}{driver}/stdout, /stderr")
    if log_uri := monitoring.get("s3MonitoringConfiguration", {}).get("logUri"):
        found.append(f"{log_uri.rstrip('/')}{driver}/")
    return found or ["the application's monitoring configuration (the job configuration sets none)"]


class EmrStreamRun:
    """One job run of a stream, from StartJobRun to its end (see the module doc). `log` is the
    Dagster context's logger (info / warning / error)."""

    def __init__(self, settings: Settings, job: SparkJob, log: Any, driver_env: Mapping[str, str] | None = None,
                 poll_s: float = POLL_S, name: str = "stream") -> None:
        self.settings, self.job, self.log, self.poll_s, self.name = settings, job, log, poll_s, name
        self.driver_env = dict(driver_env or {})
        self.launch = settings.spark_launch
        self.emr = aws_client(self.launch, "emr-serverless")
        self.run_id: str | None = None
        self.state: str | None = None
        self.code: int | None = None
        self._errors = 0
        self._stop_deadline: float | None = None
        self._dashboard = True  # log the Spark UI's URL once the run is RUNNING

    @property
    def label(self) -> str:
        return f"EMR Serverless job run {self.run_id}"

    @property
    def _ids(self) -> dict[str, str]:
        return {"applicationId": str(self.launch.emr_application_id), "jobRunId": str(self.run_id)}

    # --- start --------------------------------------------------------------------------------
    def start(self) -> str:
        application = check_application(self.emr, self.launch)
        check_streaming_release(application)
        code = ship_job_code(self.settings, self.job, self.log)
        request = streaming_job_run_request(self.launch, self.job, code, self.driver_env)
        self._end_leftovers(request["name"])
        self.run_id = self.emr.start_job_run(**request)["jobRunId"]
        self.log.info(f"{self.name}: started {self.label} (STREAMING) of application {self.launch.emr_application_id}, "
                      f"{code.entry_point} {' '.join(self.job.args)}".rstrip())
        where = driver_log_locations(request["configurationOverrides"], request["applicationId"], self.run_id)
        self.log.info(f"{self.name}: driver logs at {'; '.join(where)}")
        return self.run_id

    def _end_leftovers(self, name: str) -> None:
        """Cancel the live runs of this stream that no supervisor watches any more, and wait for
        their end: two drivers must not write one checkpoint."""
        pages = self.emr.get_paginator("list_job_runs").paginate(
            applicationId=self.launch.emr_application_id, states=sorted(ALIVE_STATES))
        try:
            leftovers = [run["id"] for page in pages for run in page["jobRuns"]
                         if run.get("name") == name and run["state"] in ALIVE_STATES]
        except self.emr.exceptions.ResourceNotFoundException:
            # moto's answer for an application without any run yet (GetApplication just found
            # it); were it gone on AWS, StartJobRun would say so next
            leftovers = []
        for run_id in leftovers:
            self.log.warning(f"{self.name}: cancelling job run {run_id}, left running by an earlier supervisor")
            previous = EmrStreamRun(self.settings, self.job, self.log, poll_s=self.poll_s, name=self.name)
            previous.run_id, previous._dashboard = run_id, False
            if previous.stop() is None:
                raise PlatformError(f"job run {run_id} of the {self.name} stream is still {previous.state} after "
                                    "its cancellation", "wait for it to end (EMR console) and start the stream again")

    # --- the run's end ------------------------------------------------------------------------
    def poll(self) -> int | None:
        """The run's exit code once it has ended, else None (GetJobRun)."""
        if self.code is not None or self.run_id is None:
            return self.code
        try:
            run = self.emr.get_job_run(**self._ids)["jobRun"]
        except (BotoCoreError, ClientError) as exc:
            self._errors += 1
            if self._errors >= MAX_POLL_ERRORS:
                raise
            self.log.warning(f"{self.name}: cannot read {self.label} ({exc}); trying again")
            return None
        self._errors = 0
        if run["state"] != self.state:
            self._changed(run)
        return self.code

    def _changed(self, run: Mapping[str, Any]) -> None:
        self.state, details = run["state"], run.get("stateDetails")
        self.code = exit_code(self.state, details)
        if self.code is None:
            self.log.info(f"{self.name}: {self.label} is {self.state}")
            if self.state == "RUNNING" and self._dashboard:
                self._log_dashboard()
        elif self.code == 0:
            self.log.info(f"{self.name}: {self.label} ended: SUCCESS")
        else:
            self.log.error(f"{self.name}: {self.label} ended: {self.state} ({details or 'no details'})")

    def _log_dashboard(self) -> None:
        try:
            url = self.emr.get_dashboard_for_job_run(**self._ids)["url"]
        except (BotoCoreError, ClientError) as exc:
            self.log.info(f"{self.name}: no dashboard for {self.label} ({str(exc).splitlines()[0]})")
            return
        self.log.info(f"{self.name}: Spark UI of {self.label}: {url}")

    def wait(self, on_progress: Callable[[], None], interval_s: float) -> int:
        """Block until the run ends, calling `on_progress` every `interval_s`; its exit code."""
        next_report = time.monotonic() + interval_s
        while (code := self.poll()) is None:
            time.sleep(max(0.0, min(self.poll_s, next_report - time.monotonic())))
            if time.monotonic() >= next_report:
                on_progress()
                next_report = time.monotonic() + interval_s
        return code

    def stop(self, grace_s: float = 20.0) -> int | None:
        """Cancel the run (its driver gets `grace_s` to stop) and wait for CANCELLED, at most
        the grace period and a margin (None: EMR is still ending it)."""
        if self.run_id is None or self.poll() is not None:
            return self.code
        if self._stop_deadline is None:
            grace = int(min(max(grace_s, GRACE_RANGE_S[0]), GRACE_RANGE_S[1]))
            try:
                self.emr.cancel_job_run(**self._ids, shutdownGracePeriodInSeconds=grace)
            except ClientError as exc:  # it ended meanwhile: the next GetJobRun says how
                self.log.warning(f"{self.name}: cannot cancel {self.label}: {exc}")
            else:
                self.log.info(f"{self.name}: cancelling {self.label} (grace period {grace}s)")
            self._stop_deadline = time.monotonic() + grace + CANCEL_MARGIN_S
        while (code := self.poll()) is None and time.monotonic() < self._stop_deadline:
            time.sleep(min(self.poll_s, 1.0))
        if code is None:
            self.log.warning(f"{self.name}: {self.label} is still {self.state}: EMR goes on cancelling it")
        return code
