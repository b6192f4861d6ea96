"""Run one stream as a child process: forward its log lines, report progress, stop it
gracefully (SIGINT, bounded wait, then SIGKILL). Used by the Dagster stream ops."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Callable

from quantcore_platform.services.process import signal_group
from quantcore_platform.streams.catalog import StreamLaunch


class StreamProcess:
    def __init__(self, launch: StreamLaunch, on_line: Callable[[str], None]) -> None:
        self.launch = launch
        self.on_line = on_line
        self.process: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None

    def start(self) -> int:
        self.process = subprocess.Popen(
            self.launch.command, env=self.launch.env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            text=True, bufsize=1, start_new_session=True,
        )
        self._reader = threading.Thread(target=self._forward, daemon=True, name="stream-log")
        self._reader.start()
        return self.process.pid

    @property
    def label(self) -> str:
        return f"pid {self.process.pid}" if self.process else "not started"

    def _forward(self) -> None:
        assert self.process and self.process.stdout
        for line in self.process.stdout:
            if line.strip():
                self.on_line(line.rstrip())

    def wait(self, on_progress: Callable[[], None], interval_s: float) -> int:
        """Block until the process exits, calling `on_progress` every `interval_s`."""
        assert self.process is not None
        next_report = time.monotonic() + interval_s
        while (code := self.process.poll()) is None:
            time.sleep(0.2)
            if time.monotonic() >= next_report:
                on_progress()
                next_report = time.monotonic() + interval_s
        if self._reader:
            self._reader.join(timeout=5)
        return code

    def stop(self, grace_s: float = 20.0) -> int | None:
        """SIGINT the process group (streams flush and exit), kill it after `grace_s`."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        signal_group(self.process.pid, signal.SIGINT)
        try:
            return self.process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            signal_group(self.process.pid, signal.SIGKILL)
            return self.process.wait(timeout=10)

