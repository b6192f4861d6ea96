"""A single-node Apache Kafka 4.x broker in KRaft mode, from Apache's own jars.

Storage is formatted once (`StorageTool format --standalone`) and kept under
`<home>/kafka/data`; every start rewrites `server.properties` from the settings but
never touches the data, so a crash or a restart loses nothing.
"""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import uuid
from pathlib import Path

from quantcore.clients import kafka_healthy
from quantcore.errors import PlatformError
from quantcore.jars import kafka_classpath
from quantcore_platform.services.process import ManagedProcess, port_in_use, wait_until
from quantcore.settings import KafkaSettings, PathsSettings, Settings

LOG4J2_CONFIG = """\
Configuration:
  status: warn
  Appenders:
    Console:
      name: STDOUT
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: WARN
      AppenderRef:
        - ref: STDOUT
    Logger:
      - name: kafka.server.KafkaRaftServer
        level: INFO
      - name: kafka.server.BrokerServer
        level: INFO
      - name: kafka.log.LogManager
        level: INFO
"""


def new_cluster_id() -> str:
    """Kafka's cluster id format: a UUID as 22 url-safe base64 characters."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def java_binary() -> str:
    java = shutil.which("java")
    if java is None:
        raise PlatformError("Java is not installed (the Kafka broker needs Java 17+)",
                            "apt-get install -y openjdk-17-jre-headless")
    version = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    match = re.search(r'version "(\d+)', version)
    if match and int(match.group(1)) < 17:
        raise PlatformError(f"Java {match.group(1)} found, Kafka 4 needs Java 17+",
                            "install openjdk-17 and put it first on PATH")
    return java


def server_properties(kafka: KafkaSettings, data_dir: Path) -> str:
    broker, controller = kafka.port, kafka.controller_port
    return "\n".join([
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.bootstrap.servers=127.0.0.1:{controller}",
        f"listeners=PLAINTEXT://127.0.0.1:{broker},CONTROLLER://127.0.0.1:{controller}",
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{broker}",
        "controller.listener.names=CONTROLLER",
        "inter.broker.listener.name=PLAINTEXT",
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        f"log.dirs={data_dir}",
        f"num.partitions={kafka.partitions}",
        "auto.create.topics.enable=false",
        "offsets.topic.replication.factor=1",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "share.coordinator.state.topic.replication.factor=1",
        "share.coordinator.state.topic.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
        # Coming back from a kill -9 (kill -> serving again, loaded: 34 s before these, 18-24 s after):
        # - the controller refuses the restarted broker's registration until the dead
        #   incarnation's session expires (9 s by default);
        "broker.session.timeout.ms=3000",
        "broker.heartbeat.interval.ms=1000",
        # - log recovery re-reads every segment after the last recovery point, and without
        #   flushes that point only moves when a segment rolls (the whole active segment).
        #   Flushing every second keeps the re-read to about a second of records.
        "log.flush.interval.ms=1000",
        "log.flush.scheduler.interval.ms=1000",
        "log.flush.offset.checkpoint.interval.ms=1000",
        "num.recovery.threads.per.data.dir=2",
        # fewer partitions to recover: the consumer-offsets topic's 50 are for big clusters
        "offsets.topic.num.partitions=5",
        f"log.retention.hours={kafka.retention_hours}",
        "",
    ])


class KafkaBroker:
    name = "kafka"

    def __init__(self, kafka: KafkaSettings, paths: PathsSettings, env: dict[str, str]) -> None:
        """`env`: the broker's whole environment (it reads no QUANTCORE_* setting)."""
        self.kafka, self.paths, self.env = kafka, paths, env
        self.root = self.paths.home_dir / "kafka"
        self.data_dir = self.root / "data"
        self.process = ManagedProcess(self.name, self.paths.run_dir, self.paths.logs_dir)

    @classmethod
    def from_settings(cls, settings: Settings) -> "KafkaBroker":
        return cls(settings.kafka, settings.paths, settings.child_env())

    @property
    def address(self) -> str:
        return self.kafka.bootstrap_servers

    def _write_config(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "log4j2.yaml").write_text(LOG4J2_CONFIG)
        config = self.root / "server.properties"
        config.write_text(server_properties(self.kafka, self.data_dir))
        return config

    def _java(self, java: str, *args: str) -> list[str]:
        return [java, f"-Dlog4j2.configurationFile={self.root / 'log4j2.yaml'}",
                "-cp", kafka_classpath(self.paths.jars_path), *args]

    def _format_once(self, java: str, config: Path) -> None:
        if (self.data_dir / "meta.properties").exists():
            return  # formatted before: keep the data
        cluster_id = new_cluster_id()
        result = subprocess.run(
            # `=` form: a base64 id may start with "-", which argparse would take for an option.
            self._java(java, "kafka.tools.StorageTool", "format", "--standalone",
                       f"--cluster-id={cluster_id}", "-c", str(config)),
            capture_output=True, text=True,
        )
        if result.returncode != 0:
            raise PlatformError(f"formatting Kafka storage in {self.data_dir} failed: {result.stdout}{result.stderr}",
                                "check disk space and permissions of the platform home")

    def start(self, timeout: float = 90.0) -> None:
        java = java_binary()
        for port in (self.kafka.port, self.kafka.controller_port):
            if port_in_use(port):
                raise PlatformError(f"port {port} for Kafka is already in use by another process",
                                    "stop it, or set QUANTCORE_KAFKA_PORT / QUANTCORE_KAFKA_CONTROLLER_PORT")
        config = self._write_config()
        self._format_once(java, config)
        self.process.start(
            self._java(java, f"-Xmx{self.kafka.heap}", "-Xms256m", "-XX:+UseG1GC",
                       "-Djava.awt.headless=true", "kafka.Kafka", str(config)),
            port=None, env=self.env,
        )
        wait_until(self.healthy, timeout, what="Kafka broker",
                   alive=lambda: self.process.running() is not None, log_tail=self.process.log_tail)

    def stop(self) -> bool:
        # A controlled shutdown flushes logs; give it time before the kill.
        return self.process.stop(timeout=30.0)

    def healthy(self) -> bool:
        return kafka_healthy(self.kafka)
