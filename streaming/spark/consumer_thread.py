"""The compute driver's background threads (the trade-flow writer, the real-time row socket):
a daemon thread running the subclass's `_run` until `stop()`, which sets `_ready` once its
consumer or listener is up and `error` when it fails."""

from __future__ import annotations

import threading


class ConsumerThread:
    role = "consumer"  # named in the start error, e.g. "row socket"
    topic: str

    def _init_thread(self, name: str) -> None:
        self.error: str | None = None
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        raise NotImplementedError

    def start(self, timeout_s: float = 30.0):
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise RuntimeError(f"{self.role} for {self.topic} did not start: {self.error}")
        return self

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
