"""Reading an EMR Serverless driver's output from CloudWatch Logs: its Pipes messages, and its
stdout and stderr forwarded to the run's logs.

dagster-aws 0.29's readers, as PipesEMRServerlessClient uses them, have two faults, both met
against the API simulator (tests/integration/test_spark_launch_emr.py):

- the messages thread parses every line of stdout that is JSON and dies on any that is not an
  object (a line `"2024-03-01"` of a job's pretty-printed report): the run then never receives
  the job's `closed` message. `DriverMessageReader` passes on object lines only;
- each log reader tails its stream with `tail_cloudwatch_events`, which yields only non-empty
  pages: once it has read the stream, it calls GetLogEvents in a loop with no pause and never
  looks at the session's end (a thread that outlives the run, throttled by AWS).
  `DriverLogReader` pauses on an empty page and stops at the first one after the session closed.
"""

from __future__ import annotations

from threading import Event
from typing import Any

from dagster._core.pipes.utils import forward_only_logs_to_file
from dagster_aws.pipes import PipesCloudWatchLogReader, PipesCloudWatchMessageReader
from dagster_aws.pipes.message_readers import get_log_events

EMPTY_PAGE_PAUSE_S = 1.0


class DriverLogReader(PipesCloudWatchLogReader):
    """Forwards a CloudWatch stream to `target_stream` until the session has closed and the
    stream has nothing more (see the module doc)."""

    def _start(self, params: dict[str, Any], is_session_closed: Event) -> None:
        query = {"logGroupName": params.get("log_group") or self.log_group,
                 "logStreamName": params.get("log_stream") or self.log_stream, "startFromHead": True}
        start_time = self.start_time or params.get("start_time")
        if start_time is not None:
            query["startTime"] = start_time
        while True:
            closed = is_session_closed.is_set()  # before the page: what it holds is then all there is
            page = get_log_events(client=self.client, max_retries=self.max_retries, **query)
            for event in page.get("events", []):
                for line in event.get("message", "").splitlines():
                    if line:
                        forward_only_logs_to_file(line, self.target_stream)
            if not page.get("events"):
                if closed:
                    return
                is_session_closed.wait(EMPTY_PAGE_PAUSE_S)
            query["nextToken"] = page["nextForwardToken"]


class DriverMessageReader(PipesCloudWatchMessageReader):
    """Pipes messages from the driver's stdout stream; its log readers are `DriverLogReader`s."""

    def download_messages(self, cursor: str | None, params: dict[str, Any]) -> tuple[str, str] | None:
        downloaded = super().download_messages(cursor, params)
        if downloaded is None:
            return None
        cursor, chunk = downloaded
        return cursor, "\n".join(line for line in chunk.split("\n") if line.startswith("{"))

    def add_log_reader(self, log_reader: Any) -> None:
        if type(log_reader) is PipesCloudWatchLogReader:
            log_reader = DriverLogReader(
                client=log_reader.client, log_group=log_reader.log_group, log_stream=log_reader.log_stream,
                target_stream=log_reader.target_stream, start_time=log_reader.start_time,
                debug_info=log_reader.debug_info, max_retries=log_reader.max_retries)
        super().add_log_reader(log_reader)
