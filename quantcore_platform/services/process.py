"""Child processes with pid files: start detached, find again later, stop gracefully.

A pid file (`<home>/run/<name>.json`) records pid, command and port so `quantcore
status` and `quantcore down` can find a service started by another invocation. A pid
file whose process is gone is stale (a crash or a reboot): it is reported and replaced,
never trusted.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from quantcore.errors import PlatformError


@dataclass(frozen=True)
class PidRecord:
    name: str
    pid: int
    port: int | None
    command: list[str]
    log: str
    started_at: float


# wait statuses of our children reaped by `pid_alive` ({pid: status}), for `exit_status`
_reaped: dict[int, int] = {}


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); reap it if it is ours, keeping how it ended.
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return _not_zombie(pid)
    if done == 0:
        return True
    _reaped[pid] = status
    return False


def exit_status(pid: int) -> int | None:
    """The wait status of a child of this process that has ended, None if it is not ours
    (started by another invocation) or still running."""
    if pid in _reaped:
        return _reaped[pid]
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return None
    return status if done else None


def _not_zombie(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_port_block(size: int) -> int:
    """A first port p with p .. p + size - 1 all free now, for services that number their
    ports from one setting (Kafka nodes, Spark workers)."""
    import random

    for _ in range(200):
        first = random.randrange(20_000, 40_000)
        if not any(port_in_use(first + i) for i in range(size)):
            return first
    raise PlatformError(f"no block of {size} free ports found in 20000-40000", "free some ports and retry")


class ManagedProcess:
    """One named child process of the platform, tracked by its pid file."""

    def __init__(self, name: str, run_dir: Path, logs_dir: Path) -> None:
        self.name = name
        self.pid_file = run_dir / f"{name}.json"
        self.log_file = logs_dir / f"{name}.log"

    def record(self) -> PidRecord | None:
        try:
            return PidRecord(**json.loads(self.pid_file.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def running(self) -> PidRecord | None:
        record = self.record()
        return record if record and pid_alive(record.pid) else None

    def stale(self) -> bool:
        """A pid file whose process is gone: left by a crash or a reboot."""
        return self.pid_file.exists() and self.running() is None

    def start(self, command: list[str], *, port: int | None, env: dict[str, str] | None = None,
              cwd: Path | None = None) -> PidRecord:
        """Start `command` detached. `env` is the child's WHOLE environment (build it with
        `Settings.child_env`, never merged with os.environ: that would hand it the parent's
        secrets); None inherits this process's environment."""
        if (record := self.running()) is not None:
            raise PlatformError(f"{self.name} is already running (pid {record.pid})", "`quantcore down` stops it")
        if port is not None and port_in_use(port):
            raise PlatformError(
                f"port {port} for {self.name} is already in use by another process",
                f"stop that process or choose another port (QUANTCORE_{self.name.upper()}_PORT)",
            )
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=env, cwd=cwd, start_new_session=True,
            )
        record = PidRecord(self.name, process.pid, port, command, str(self.log_file), time.time())
        self.pid_file.write_text(json.dumps(asdict(record)))
        return record

    def send_signal(self, sig: int) -> bool:
        """Send `sig` to the process group without waiting; True if it was running."""
        record = self.running()
        if record is not None:
            signal_group(record.pid, sig)
        return record is not None

    def stop(self, timeout: float = 20.0, sig: int = signal.SIGTERM) -> bool:
        """Signal the process group, wait up to `timeout`, then kill. True if it was running."""
        record = self.running()
        if record is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        signal_group(record.pid, sig)
        deadline = time.monotonic() + timeout
        while pid_alive(record.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if pid_alive(record.pid):
            signal_group(record.pid, signal.SIGKILL)
            while pid_alive(record.pid) and time.monotonic() < deadline + 5:
                time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
        return True

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def wait_until(check, timeout: float, interval: float = 0.2, what: str = "service",
               alive=lambda: True, log_tail=lambda: "") -> None:
    """Poll `check` until true; fail early (with the log tail) if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if not alive():
            raise PlatformError(f"{what} exited during start-up; last log lines:\n{log_tail()}",
                                "read the log above; `quantcore status` shows the log path")
        time.sleep(interval)
    raise PlatformError(f"{what} was not ready after {timeout:.0f}s; last log lines:\n{log_tail()}",
                        "check the log; a slow machine may need a longer wait")


def processes_of_home(home: Path) -> dict[int, str]:
    """Every live process that belongs to the platform in `home` ({pid: command}): those
    started with its QUANTCORE_HOME, or naming the home on their command line."""
    marker_env = f"QUANTCORE_HOME={home}".encode()
    marker_arg = str(home).encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if cmdline and (marker_arg in cmdline or marker_env in environ.split(b"\0")):
            found[int(entry.name)] = _printable(cmdline)
    return found


def command_line(pid: int) -> str:
    """`pid`'s command line as one string ("" once it is gone)."""
    try:
        return _printable(Path(f"/proc/{pid}/cmdline").read_bytes())
    except OSError:
        return ""


def _printable(cmdline: bytes) -> str:
    return cmdline.replace(b"\0", b" ").decode(errors="replace").strip()


def rss_mib(pids: list[int]) -> float:
    """Resident memory of these processes together, in MiB."""
    total_kib = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kib += int(line.split()[1])
        except OSError:
            continue
    return total_kib / 1024
