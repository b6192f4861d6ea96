"""Redis from the OS package (`redis-server`), on loopback with a platform config.

Redis holds derived state only (the latest signals, heartbeats), rebuilt by the
streams, so it runs without persistence.
"""

from __future__ import annotations

import shutil

from quantcore.clients import redis_healthy
from quantcore.errors import PlatformError
from quantcore_platform.services.process import ManagedProcess, wait_until
from quantcore.settings import PathsSettings, RedisSettings, Settings, reveal


class RedisServer:
    name = "redis"

    def __init__(self, redis: RedisSettings, paths: PathsSettings, env: dict[str, str]) -> None:
        """`env`: the server's whole environment (Redis reads no QUANTCORE_* setting, so none
        of the parent's secrets belong there; the password goes on the command line)."""
        self.redis, self.paths, self.env = redis, paths, env
        self.data_dir = self.paths.home_dir / "redis"
        self.process = ManagedProcess(self.name, self.paths.run_dir, self.paths.logs_dir)

    @classmethod
    def from_settings(cls, settings: Settings) -> "RedisServer":
        return cls(settings.redis, settings.paths, settings.child_env())

    @property
    def address(self) -> str:
        return self.redis.address

    def start(self, timeout: float = 20.0) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise PlatformError("redis-server is not installed",
                                "`make setup` installs it as root, or: apt-get install -y redis-server")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = [
            binary, "--bind", "127.0.0.1", "--port", str(self.redis.port),
            "--dir", str(self.data_dir), "--save", "", "--appendonly", "no",
            "--daemonize", "no", "--protected-mode", "yes", "--maxclients", "10000",
            # Redis rewrites its process title; keep the home in it so the platform's
            # processes can still be found by home (`processes_of_home`).
            "--proc-title-template", f"{{title}} {{listen-addr}} home={self.paths.home_dir}",
        ]
        if password := reveal(self.redis.password):
            command += ["--requirepass", password]
        self.process.start(command, port=self.redis.port, env=self.env)
        wait_until(self.healthy, timeout, what="Redis",
                   alive=lambda: self.process.running() is not None, log_tail=self.process.log_tail)

    def stop(self) -> bool:
        return self.process.stop(timeout=10.0)

    def healthy(self) -> bool:
        return redis_healthy(self.redis)
