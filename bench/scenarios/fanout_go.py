"""The fanout benchmark's Go subscribers: one `qc-subscribers` process (bench/loadclient/).

One process for every stream: Go schedules its goroutines on both cores itself. It speaks
the Python workers' protocol as JSON lines over stdin/stdout (bench/loadclient/protocol.go):
ready -> window -> window_set -> finish -> the result, whose latencies and hops come as
base64 of little-endian int64 (millions of numbers read far faster than a JSON array).
"""

from __future__ import annotations

import base64
import json
import queue
import subprocess
import threading
from typing import Any

from bench.go_client import build_load_client
from bench.scenarios.fanout_clients import SAMPLED_STREAMS, STREAMS_PER_CONNECTION

READY_TIMEOUT_S = 120


class GoSubscribers:
    """`count` streams of one `qc-subscribers`, `per_connection` to an HTTP/2 connection."""

    def __init__(self, address: str, count: int, per_connection: int = STREAMS_PER_CONNECTION) -> None:
        command = [str(build_load_client()), "-address", address, "-streams", str(count),
                   "-per-connection", str(per_connection), "-sampled", str(SAMPLED_STREAMS)]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.pids = [self.process.pid]
        # A thread reads the lines so every wait for an answer can time out.
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read_lines, name="qc-subscribers-stdout", daemon=True).start()
        try:
            errors = self._answer(READY_TIMEOUT_S)["errors"]
            if errors:
                raise RuntimeError(f"{errors} subscriber streams failed to open")
        except BaseException:
            self.stop()
            raise

    def set_window(self, low: int, high: int) -> None:
        self._send({"window": [low, high]})
        self._answer(30)

    def finish(self, expected: int, settle_s: float) -> list[dict[str, Any]]:
        self._send({"finish": {"expected": expected, "settle_s": settle_s}})
        return [decode_result(self._answer(settle_s + 60))]

    def stop(self) -> None:
        if self.process.stdin and not self.process.stdin.closed:
            self.process.stdin.close()  # a client still waiting for a command exits on end of input
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def _send(self, command: dict[str, Any]) -> None:
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()

    def _answer(self, timeout: float) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"qc-subscribers did not answer within {timeout:g}s") from None
        if line is None:
            raise RuntimeError(f"qc-subscribers exited with {self.process.wait()} (its stderr is above)")
        return json.loads(line)

    def _read_lines(self) -> None:
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)  # end of output: the process is gone


def decode_result(document: dict[str, Any]) -> dict[str, Any]:
    """The Go client's result line in the Python workers' shape: latencies and hops as the
    int64 bytes numpy reads (base64-decoded), seen entries as tuples."""
    return {**document,
            "latencies_us": base64.b64decode(document["latencies_us"]),
            "hops_us": base64.b64decode(document["hops_us"]),
            "seen": [[tuple(entry) for entry in stream] for stream in document["seen"]]}
