"""The exchange simulator as a managed process of `quantcore up` (the offline default source)."""

from __future__ import annotations

import sys

import requests

from quantcore_platform.services.process import ManagedProcess, wait_until
from quantcore.settings import Settings


class SimulatorService:
    name = "simulator"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.process = ManagedProcess(self.name, settings.run_dir, settings.logs_dir)

    @property
    def address(self) -> str:
        return f"ws://127.0.0.1:{self.settings.simulator_port}"

    def start(self, timeout: float = 30.0) -> None:
        command = [sys.executable, "-m", "quantcore_platform.cli", "simulator"]
        self.process.start(command, port=self.settings.simulator_port, env=self.settings.as_env())
        wait_until(self.healthy, timeout, what="exchange simulator",
                   alive=lambda: self.process.running() is not None, log_tail=self.process.log_tail)

    def stop(self) -> bool:
        return self.process.stop(timeout=10.0)

    def healthy(self) -> bool:
        # Binance's own liveness endpoint, served by the simulator too.
        try:
            return requests.get(f"http://127.0.0.1:{self.settings.simulator_port}/api/v3/ping", timeout=1).ok
        except requests.RequestException:
            return False
