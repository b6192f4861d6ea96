"""A Spark standalone cluster on this machine: a master and N workers from the pyspark wheel.

`spark-class org.apache.spark.deploy.master.Master` and `...deploy.worker.Worker` are the
same daemons a real cluster runs. Each worker offers a bounded number of task slots and
memory, and works in a folder of its own with an environment of its own (no PYTHONPATH,
no QUANTCORE_* setting but the home, by which `down` finds the executors): jobs must ship
their code to it (quantcore/job_package.py), exactly as they would to another machine.

Health comes from the master's JSON status (`http://127.0.0.1:<ui port>/json/`): the master
says ALIVE, and each worker is listed ALIVE at its port.
"""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

import pyspark

from quantcore.errors import PlatformError
from quantcore.settings import PathsSettings, Settings, SparkSettings
from quantcore_platform.services.kafka_broker import java_binary
from quantcore_platform.services.process import ManagedProcess, port_in_use, wait_until

SPARK_HOME = Path(pyspark.__file__).parent
# What a standalone daemon needs from the parent's environment; nothing else goes through.
PASSED_ENV = ("PATH", "JAVA_HOME", "LANG", "LC_ALL", "TZ")


def spark_class() -> str:
    return str(SPARK_HOME / "bin" / "spark-class")


def daemon_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """A daemon's whole environment: the basics, Spark's home, loopback, its home folder."""
    env = {name: os.environ[name] for name in PASSED_ENV if name in os.environ}
    env.update({"SPARK_HOME": str(SPARK_HOME), "SPARK_LOCAL_IP": "127.0.0.1", "HOME": str(home), **(extra or {})})
    return env


def master_status(spark: SparkSettings, timeout: float = 2.0) -> dict | None:
    """The master's JSON status (workers, apps), None when it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{spark.cluster_ui_port}/json/", timeout=timeout) as reply:
            return json.load(reply)
    except (OSError, ValueError):
        return None


def alive_workers(spark: SparkSettings) -> list[dict]:
    status = master_status(spark) or {}
    return [worker for worker in status.get("workers", []) if worker.get("state") == "ALIVE"]


class SparkMaster:
    name = "spark-master"

    def __init__(self, spark: SparkSettings, paths: PathsSettings, quantcore_home: str) -> None:
        self.spark, self.paths = spark, paths
        self.root = paths.home_dir / "spark" / "master"
        self.env = daemon_env(self.root, {"QUANTCORE_HOME": quantcore_home})
        self.process = ManagedProcess(self.name, paths.run_dir, paths.logs_dir)

    @classmethod
    def from_settings(cls, settings: Settings) -> "SparkMaster":
        return cls(settings.spark, settings.paths, str(settings.paths.home_dir))

    @property
    def address(self) -> str:
        return f"{self.spark.local_cluster_master} (UI http://127.0.0.1:{self.spark.cluster_ui_port})"

    def start(self, timeout: float = 60.0) -> None:
        java_binary()
        _ports_free(self.name, self.spark.cluster_port, self.spark.cluster_ui_port)
        self.root.mkdir(parents=True, exist_ok=True)
        self.process.start([spark_class(), "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                            "--port", str(self.spark.cluster_port), "--webui-port", str(self.spark.cluster_ui_port)],
                           port=None, env=self.env, cwd=self.root)
        wait_until(self.healthy, timeout, what="Spark master",
                   alive=lambda: self.process.running() is not None, log_tail=self.process.log_tail)

    def stop(self) -> bool:
        return self.process.stop(timeout=15.0)

    def healthy(self) -> bool:
        return (master_status(self.spark) or {}).get("status") == "ALIVE"


def auto_worker_cores(partitions: int, workers: int) -> int:
    """Task slots per worker when `worker_cores` is 0. The real-time trigger keeps one task per
    book partition running (plus two), in the active compute stream and in its warm standby,
    and a replay needs a couple more: slots, not CPUs (those tasks mostly wait on Kafka)."""
    wanted = 2 * (partitions + 2) + 2
    return -(-wanted // workers)


class SparkWorker:
    """Worker `number` (1-based): RPC port cluster_port + number, UI cluster_ui_port + number."""

    def __init__(self, spark: SparkSettings, paths: PathsSettings, number: int, quantcore_home: str,
                 cores: int) -> None:
        self.spark, self.paths, self.number, self.cores = spark, paths, number, cores
        self.name = f"spark-worker-{number}"
        self.port = spark.cluster_port + number
        self.ui_port = spark.cluster_ui_port + number
        self.root = paths.home_dir / "spark" / self.name
        self.env = daemon_env(self.root, {"QUANTCORE_HOME": quantcore_home})
        self.process = ManagedProcess(self.name, paths.run_dir, paths.logs_dir)

    @classmethod
    def all_from_settings(cls, settings: Settings) -> list["SparkWorker"]:
        spark = settings.spark
        cores = spark.worker_cores or auto_worker_cores(settings.kafka.partitions, spark.workers)
        return [cls(spark, settings.paths, number, str(settings.paths.home_dir), cores)
                for number in range(1, spark.workers + 1)]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port} ({self.cores} task slots, {self.spark.worker_memory})"

    def start(self, timeout: float = 60.0) -> None:
        _ports_free(self.name, self.port, self.ui_port)
        (self.root / "work").mkdir(parents=True, exist_ok=True)
        self.process.start([spark_class(), "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1",
                            "--port", str(self.port), "--webui-port", str(self.ui_port),
                            "--cores", str(self.cores), "--memory", self.spark.worker_memory,
                            "--work-dir", str(self.root / "work"), self.spark.local_cluster_master],
                           port=None, env=self.env, cwd=self.root)
        wait_until(self.healthy, timeout, what=f"Spark worker {self.number}",
                   alive=lambda: self.process.running() is not None, log_tail=self.process.log_tail)

    def stop(self) -> bool:
        # a worker's executors are its children, in its process group: stopped with it
        return self.process.stop(timeout=15.0)

    def healthy(self) -> bool:
        return any(worker.get("port") == self.port for worker in alive_workers(self.spark))


def _ports_free(name: str, *ports: int) -> None:
    for port in ports:
        if port_in_use(port):
            raise PlatformError(f"port {port} for {name} is already in use by another process",
                                "stop it, or set QUANTCORE_SPARK_CLUSTER_PORT / QUANTCORE_SPARK_CLUSTER_UI_PORT "
                                "(workers use the next ports)")
