"""Redis from the OS package (`redis-server`), on loopback with a platform config.

Redis holds derived state only (the latest signals, heartbeats), rebuilt by the
streams, so it runs without persistence.
"""

from __future__ import annotations

import shutil

from quantcore.clients import redis_healthy
from quantcore.errors import PlatformError
from quantcore_platform.services.process import ManagedProcess, wait_until
from quantcore.settings import Settings


class RedisServer:
    name = "redis"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.data_dir = settings.home_dir / "redis"
        self.process = ManagedProcess(self.name, settings.run_dir, settings.logs_dir)

    @property
    def address(self) -> str:
        return self.settings.redis_address

    def start(self, timeout: float = 20.0) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise PlatformError("redis-server is not installed",
                                "`make setup` installs it as root, or: apt-get install -y redis-server")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = [
            binary, "--bind", "127.0.0.1", "--port", str(self.settings.redis_port),
            "--dir", str(self.data_dir), "--save", "", "--appendonly", "no",
            "--daemonize", "no", "--protected-mode", "yes", "--maxclients", "10000",
            # Redis rewrites its process title; keep the home in it so the platform's
            # processes can still be found by home (`processes_of_home`).
            "--proc-title-template", f"{{title}} {{listen-addr}} home={self.settings.home_dir}",
        ]
        if self.settings.redis_password:
            command += ["--requirepass", self.settings.redis_password]
        self.process.start(command, port=self.settings.redis_port)
        wait_until(self.healthy, timeout, what="Redis",
                   alive=lambda: self.process.running() is not None, log_tail=self.process.log_tail)

    def stop(self) -> bool:
        return self.process.stop(timeout=10.0)

    def healthy(self) -> bool:
        return redis_healthy(self.settings)
