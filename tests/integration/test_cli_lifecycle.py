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

        # A crash: both services die without cleaning their pid files.
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
