"""The exchange simulator as a managed process of `quantcore up` (the offline default source)."""

from __future__ import annotations

import sys

import requests

from quantcore_platform.services.process import ManagedProcess, wait_until
from quantcore.settings import PathsSettings, Settings, SimulatorSettings

SECTIONS = ("market", "simulator")  # all the simulator reads: no secret reaches it


class SimulatorService:
    name = "simulator"

    def __init__(self, simulator: SimulatorSettings, paths: PathsSettings, env: dict[str, str]) -> None:
        """`env`: the simulator's whole environment (the market and simulator sections only)."""
        self.port = simulator.port
        self.home = paths.home_dir
        self.env = env
        self.process = ManagedProcess(self.name, paths.run_dir, paths.logs_dir)

    @classmethod
    def from_settings(cls, settings: Settings) -> "SimulatorService":
        return cls(settings.simulator, settings.paths, settings.child_env(*SECTIONS))

    @property
    def address(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        # --home on the command line: the platform's processes are found by their home.
        command = [sys.executable, "-m", "quantcore_platform.cli", "--home", str(self.home), "simulator"]
        self.process.start(command, port=self.port, env=self.env)
        wait_until(self.healthy, timeout, what="exchange simulator",
                   alive=lambda: self.process.running() is not None, log_tail=self.process.log_tail)

    def stop(self) -> bool:
        return self.process.stop(timeout=10.0)

    def healthy(self) -> bool:
        # Binance's own liveness endpoint, served by the simulator too.
        try:
            return requests.get(f"http://127.0.0.1:{self.port}/api/v3/ping", timeout=1).ok
        except requests.RequestException:
            return False
