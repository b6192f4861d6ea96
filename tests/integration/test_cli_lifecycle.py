"""`quantcore up/status/down` as an operator runs them, and each failure message.

Every case runs the real CLI in its own temporary home with its own ports. Failures
must be one explanation plus a fix, exit code 2, and never a Python traceback.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer

from quantcore.polling import wait_until
from quantcore.settings import KafkaSettings, Settings
from quantcore_platform.services import platform
from quantcore_platform.services.process import processes_of_home
from tests.support.settings import make_settings, platform_env

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
QUANTCORE = [sys.executable, "-m", "quantcore_platform.cli"]
SERVICES_ONLY = ("--only", "kafka", "--only", "redis")  # the foundation's services, no streams


def cli(settings: Settings, *args: str, env: dict | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([*QUANTCORE, *args], capture_output=True, text=True,
                          env=platform_env(settings, **(env or {})), timeout=timeout, cwd=REPO)


def assert_clean_failure(result: subprocess.CompletedProcess, *needles: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output, output
    assert "error:" in output
    for needle in needles:
        assert needle in output, output


def status_json(settings: Settings) -> dict[str, dict]:
    result = cli(settings, "status", "--json", *SERVICES_ONLY)
    return {item["name"]: item for item in json.loads(result.stdout)}


@pytest.fixture
def home_settings(tmp_path) -> Settings:
    return make_settings(tmp_path / "home")


def test_up_status_down_lifecycle_with_a_crash(home_settings: Settings):
    settings = home_settings
    started = cli(settings, "up", "--detach", *SERVICES_ONLY)
    assert started.returncode == 0, started.stderr
    try:
        state = status_json(settings)
        assert state["kafka"]["healthy"] and state["redis"]["healthy"]
        assert state["kafka"]["pid"] and state["redis"]["pid"]

        assert_clean_failure(cli(settings, "up", "--detach", *SERVICES_ONLY), "already up")

        producer = Producer(settings.kafka.client_config())
        producer.produce(settings.kafka.book_topic, key="BTCUSDT", value=b"survives-a-crash")
        assert producer.flush(10) == 0

        # A crash of the whole machine: the watchdog and both services die without cleaning
        # their pid files (a dead service alone is restarted: the next test).
        os.killpg(supervisor_pid(settings), signal.SIGKILL)
        for name in ("kafka", "redis"):
            os.killpg(state[name]["pid"], signal.SIGKILL)
        time.sleep(1)
        crashed = cli(settings, "status", "--json", *SERVICES_ONLY)
        assert crashed.returncode == 1
        assert not any(item["healthy"] for item in json.loads(crashed.stdout))

        restarted = cli(settings, "up", "--detach", *SERVICES_ONLY)
        assert restarted.returncode == 0, restarted.stderr
        assert "stale pid file" in restarted.stderr and "data kept" in restarted.stderr
        assert _read_all(settings.kafka, settings.kafka.book_topic) == [b"survives-a-crash"]
    finally:
        stopped = cli(settings, "down")
    assert stopped.returncode == 0, stopped.stderr
    assert all(item["pid"] is None for item in status_json(settings).values())
    assert_clean_failure(cli(settings, "down"), "not running")


def supervisor_pid(settings: Settings) -> int:
    return json.loads((settings.paths.run_dir / "supervisor.json").read_text())["pid"]


def wait_restarted(settings: Settings, name: str, old_pid: int, restarts: int,
                   timeout_s: float) -> tuple[dict, float]:
    """(its status entry, seconds) once `name` is healthy again under a new pid, counted."""
    started = time.monotonic()

    def restarted() -> dict | None:  # in-process: polling through the CLI would add its start-up time
        entry = platform.status(settings, [name])[0].as_dict()
        done = entry["healthy"] and entry["pid"] not in (None, old_pid) and entry["restarts"] == restarts
        return entry if done else None

    entry = wait_until(restarted, timeout_s, f"{name} restarted by the watchdog", interval=0.1)
    return entry, time.monotonic() - started


def test_the_watchdog_restarts_killed_services_and_status_says_why(home_settings: Settings):
    settings = home_settings
    started = cli(settings, "up", "--detach", *SERVICES_ONLY)
    assert started.returncode == 0, started.stderr
    try:
        assert "supervisor: watching" in started.stderr
        first = status_json(settings)
        assert first["redis"]["restarts"] == 0 and first["redis"]["last_exit"] is None

        os.killpg(first["redis"]["pid"], signal.SIGKILL)
        redis_entry, took = wait_restarted(settings, "redis", first["redis"]["pid"], 1, 20)
        assert took < 5, f"Redis restarted after {took:.1f}s"
        # started by `up`, not by the watchdog's process: its exit status is not ours to read
        assert "status unknown" in redis_entry["last_exit"]

        os.killpg(redis_entry["pid"], signal.SIGKILL)  # now the watchdog's own child
        redis_entry, _ = wait_restarted(settings, "redis", redis_entry["pid"], 2, 20)
        assert redis_entry["last_exit"] == "killed by SIGKILL"

        producer = Producer(settings.kafka.client_config())
        producer.produce(settings.kafka.book_topic, key="BTCUSDT", value=b"acknowledged-before-the-kill")
        assert producer.flush(10) == 0
        del producer  # it would only log the broker's absence
        os.killpg(first["kafka"]["pid"], signal.SIGKILL)
        kafka_entry, _ = wait_restarted(settings, "kafka", first["kafka"]["pid"], 1, 90)
        assert _read_all(settings.kafka, settings.kafka.book_topic) == [b"acknowledged-before-the-kill"]
        shown = cli(settings, "status", *SERVICES_ONLY)
        assert "SIGKILL" in shown.stdout and "restarts" in shown.stdout  # the table (wrapped at 80 columns)
    finally:
        stopped = cli(settings, "down")
    assert stopped.returncode == 0 and "supervisor: stopped" in stopped.stderr, stopped.stderr
    time.sleep(1)  # nothing may come back after `down`: the watchdog went first
    assert all(item["pid"] is None for item in status_json(settings).values())
    assert processes_of_home(settings.paths.home_dir) == {}


def test_ctrl_c_through_a_pipe_whose_reader_dies_first_still_stops_everything(home_settings: Settings,
                                                                              tmp_path):
    """`quantcore up | tee log`, then Ctrl-C: the terminal signals the whole foreground group,
    tee dies first, and `up` must still stop every service it started."""
    settings = home_settings
    log = tmp_path / "tee.log"
    command = f"{sys.executable} -m quantcore_platform.cli up {' '.join(SERVICES_ONLY)} 2>&1 | tee {log}"
    # a terminal's foreground job: own process group, SIGINT not ignored (a `&` job ignores it)
    shell = subprocess.Popen(["bash", "-c", command], env=platform_env(settings), cwd=REPO,
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        wait_until(lambda: "Ctrl-C stops everything" in (log.read_text() if log.exists() else ""), 120,
                   "the platform to be up", interval=0.5, alive=lambda: shell.poll() is None)
        assert processes_of_home(settings.paths.home_dir)
        os.killpg(shell.pid, signal.SIGINT)
        shell.wait(60)
        wait_until(lambda: not processes_of_home(settings.paths.home_dir), 30, "every process to stop",
                   on_timeout=lambda: str(processes_of_home(settings.paths.home_dir)))
    finally:
        if shell.poll() is None:
            os.killpg(shell.pid, signal.SIGKILL)
        cli(settings, "down")


def _read_all(kafka: KafkaSettings, topic: str) -> list[bytes]:
    consumer = Consumer({**kafka.client_config(), "group.id": "lifecycle",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    values: list[bytes] = []

    def some() -> bool:
        values.extend(m.value() for m in consumer.consume(100, timeout=1) if m.error() is None)
        return bool(values)

    try:  # consume() waits for records itself: no sleep between reads
        wait_until(some, 20, f"records on {topic}", interval=0)
    finally:
        consumer.close()
    return values


def test_port_in_use_is_explained(home_settings: Settings):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", home_settings.kafka.port))
        squatter.listen()
        result = cli(home_settings, "up", "--detach")
    assert_clean_failure(result, f"port {home_settings.kafka.port}", "in use", "QUANTCORE_KAFKA_PORT")


def test_missing_java_is_explained(home_settings: Settings, tmp_path):
    bin_without_java = _path_without(tmp_path, "java")
    result = cli(home_settings, "up", "--detach", env={"PATH": str(bin_without_java)})
    assert_clean_failure(result, "Java is not installed", "apt-get install")


def test_missing_jars_are_explained(home_settings: Settings, tmp_path):
    result = cli(home_settings, "up", "--detach", env={"QUANTCORE_JARS_DIR": str(tmp_path / "empty")})
    assert_clean_failure(result, "no Kafka broker jars", "make jars")


def test_missing_maven_is_explained(tmp_path):
    result = subprocess.run(["make", "-s", "jars", f"QUANTCORE_JARS_DIR={tmp_path / 'jars'}"],
                            capture_output=True, text=True, cwd=REPO,
                            env={**os.environ, "PATH": str(_path_without(tmp_path, "mvn"))})
    assert result.returncode != 0
    assert "Maven is required: apt-get install -y maven" in result.stdout + result.stderr


def test_bad_setting_is_explained(home_settings: Settings):
    result = cli(home_settings, "status", env={"QUANTCORE_REDIS_PORT": "not-a-port"})
    assert_clean_failure(result, "invalid setting redis.port", "QUANTCORE_REDIS_PORT")


def _path_without(tmp_path: Path, tool: str) -> Path:
    """A PATH folder with every system tool but one."""
    folder = tmp_path / f"bin-without-{tool}"
    folder.mkdir()
    for directory in ("/usr/local/bin", "/usr/bin"):
        for entry in Path(directory).iterdir():
            target = folder / entry.name
            if entry.name != tool and not target.exists():
                target.symlink_to(entry)
    return folder
