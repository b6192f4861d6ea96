"""Apache Kafka 4.x in KRaft mode from Apache's own jars: one node, or a local cluster of N.

Each node is broker and controller at once, with its own ports (`KafkaSettings.node_ports`),
data dir and log under the platform home: node 1 in `<home>/kafka`, node n in
`<home>/kafka-n`. One node formats a dynamic quorum of itself (`--standalone`); a cluster
has a static quorum of all its nodes and one cluster id, kept in `<home>/kafka/cluster.id`.
Storage is formatted once; every start rewrites `server.properties` from the settings but
never touches the data, so a crash or a restart loses nothing.
"""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import uuid
from pathlib import Path

from quantcore.clients import kafka_healthy, live_brokers
from quantcore.errors import PlatformError
from quantcore.jars import kafka_classpath
from quantcore_platform.services.process import ManagedProcess, port_in_use, port_open, wait_until
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


def node_name(node: int) -> str:
    """The component (and pid file, log) name of node `node`: "kafka" is node 1."""
    return "kafka" if node == 1 else f"kafka-{node}"


def quorum_properties(kafka: KafkaSettings) -> list[str]:
    """One node: a dynamic quorum it bootstraps alone. A cluster: every node a voter."""
    if kafka.brokers == 1:
        return [f"controller.quorum.bootstrap.servers=127.0.0.1:{kafka.controller_port}"]
    voters = ",".join(f"{node}@127.0.0.1:{kafka.node_ports(node)[1]}" for node in range(1, kafka.brokers + 1))
    return [f"controller.quorum.voters={voters}"]


def durability_properties(kafka: KafkaSettings) -> list[str]:
    """Replication of the internal topics and the default of any other, as the platform's."""
    replicas, insync = kafka.topic_replication, kafka.insync_replicas or 1
    return [
        f"default.replication.factor={replicas}",
        f"min.insync.replicas={insync}",
        f"offsets.topic.replication.factor={replicas}",
        f"transaction.state.log.replication.factor={replicas}",
        f"transaction.state.log.min.isr={insync}",
        f"share.coordinator.state.topic.replication.factor={replicas}",
        f"share.coordinator.state.topic.min.isr={insync}",
    ]


def server_properties(kafka: KafkaSettings, data_dir: Path, node: int = 1) -> str:
    broker, controller = kafka.node_ports(node)
    return "\n".join([
        "process.roles=broker,controller",
        f"node.id={node}",
        *quorum_properties(kafka),
        f"listeners=PLAINTEXT://127.0.0.1:{broker},CONTROLLER://127.0.0.1:{controller}",
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{broker}",
        "controller.listener.names=CONTROLLER",
        "inter.broker.listener.name=PLAINTEXT",
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        f"log.dirs={data_dir}",
        f"num.partitions={kafka.partitions}",
        "auto.create.topics.enable=false",
        *durability_properties(kafka),
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
        f"num.network.threads={kafka.network_threads}",
        f"num.io.threads={kafka.io_threads}",
        # fewer partitions to recover: the consumer-offsets topic's 50 are for big clusters
        "offsets.topic.num.partitions=5",
        f"log.retention.hours={kafka.retention_hours}",
        "",
    ])


class KafkaBroker:
    """One KRaft node (broker + controller) of the local cluster; node 1 alone by default."""

    def __init__(self, kafka: KafkaSettings, paths: PathsSettings, env: dict[str, str], node: int = 1) -> None:
        """`env`: the broker's whole environment (it reads no QUANTCORE_* setting)."""
        self.kafka, self.paths, self.env, self.node = kafka, paths, env, node
        self.name = node_name(node)
        self.cluster_root = self.paths.home_dir / "kafka"
        self.root = self.paths.home_dir / self.name
        self.data_dir = self.root / "data"
        self.process = ManagedProcess(self.name, self.paths.run_dir, self.paths.logs_dir)

    @classmethod
    def from_settings(cls, settings: Settings, node: int = 1) -> "KafkaBroker":
        return cls(settings.kafka, settings.paths, settings.child_env(), node)

    @classmethod
    def cluster(cls, settings: Settings) -> list["KafkaBroker"]:
        """Every node of the local cluster, in start order (node 1 only when external)."""
        nodes = 1 if settings.kafka.is_external else settings.kafka.brokers
        return [cls.from_settings(settings, node) for node in range(1, nodes + 1)]

    @property
    def address(self) -> str:
        if self.kafka.is_external:
            return self.kafka.bootstrap_servers
        return f"127.0.0.1:{self.kafka.node_ports(self.node)[0]}"

    @property
    def is_last(self) -> bool:
        return self.node == self.kafka.brokers

    def _write_config(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "log4j2.yaml").write_text(LOG4J2_CONFIG)
        config = self.root / "server.properties"
        config.write_text(server_properties(self.kafka, self.data_dir, self.node))
        return config

    def _java(self, java: str, *args: str) -> list[str]:
        return [java, f"-Dlog4j2.configurationFile={self.root / 'log4j2.yaml'}",
                "-cp", kafka_classpath(self.paths.jars_path), *args]

    def _cluster_id(self) -> str:
        """The id every node of this home formats with (made by the first node formatted)."""
        id_file = self.cluster_root / "cluster.id"
        if not id_file.exists():
            self.cluster_root.mkdir(parents=True, exist_ok=True)
            id_file.write_text(new_cluster_id())
        return id_file.read_text().strip()

    def _check_shape(self) -> None:
        """A home formatted for N nodes cannot start with M: the quorum's voters differ."""
        shape_file = self.cluster_root / "cluster.nodes"
        formatted = (self.cluster_root / "data" / "meta.properties").exists()
        if not shape_file.exists():
            if formatted and self.kafka.brokers != 1:  # a home from before clusters: one node
                shape_file.write_text("1")
            else:
                self.cluster_root.mkdir(parents=True, exist_ok=True)
                shape_file.write_text(str(self.kafka.brokers))
        nodes = int(shape_file.read_text().strip())
        if nodes != self.kafka.brokers:
            raise PlatformError(
                f"the platform home {self.paths.home_dir} holds a {nodes}-node Kafka cluster, "
                f"not {self.kafka.brokers}",
                f"start with --kafka-brokers {nodes}, or use another QUANTCORE_HOME (or delete its "
                "kafka* folders, losing their records)")

    def _format_once(self, java: str, config: Path) -> None:
        self._check_shape()
        if (self.data_dir / "meta.properties").exists():
            return  # formatted before: keep the data
        # One node bootstraps a dynamic quorum of itself; a cluster's voters are in the config.
        quorum = ["--standalone"] if self.kafka.brokers == 1 else []
        result = subprocess.run(
            # `=` form: a base64 id may start with "-", which argparse would take for an option.
            self._java(java, "kafka.tools.StorageTool", "format", *quorum,
                       f"--cluster-id={self._cluster_id()}", "-c", str(config)),
            capture_output=True, text=True,
        )
        if result.returncode != 0:
            raise PlatformError(f"formatting Kafka storage in {self.data_dir} failed: {result.stdout}{result.stderr}",
                                "check disk space and permissions of the platform home")

    def start(self, timeout: float = 90.0) -> None:
        """Start the node. A cluster's quorum needs a majority, so only the last node waits
        for the whole cluster to serve; the ones before wait for their controller port."""
        java = java_binary()
        for port in self.kafka.node_ports(self.node):
            if port_in_use(port):
                raise PlatformError(f"port {port} for Kafka node {self.node} is already in use by another process",
                                    "stop it, or set QUANTCORE_KAFKA_PORT / QUANTCORE_KAFKA_CONTROLLER_PORT")
        config = self._write_config()
        self._format_once(java, config)
        self.process.start(
            self._java(java, f"-Xmx{self.kafka.heap}", "-Xms256m", "-XX:+UseG1GC",
                       "-Djava.awt.headless=true", "kafka.Kafka", str(config)),
            port=None, env=self.env,
        )
        ready = self.cluster_serving if self.is_last else self.controller_listening
        wait_until(ready, timeout, what=f"Kafka node {self.node}",
                   alive=lambda: self.process.running() is not None, log_tail=self.process.log_tail)

    def stop(self) -> bool:
        # A controlled shutdown flushes logs; give it time before the kill.
        return self.process.stop(timeout=30.0)

    def controller_listening(self) -> bool:
        return port_open(self.kafka.node_ports(self.node)[1])

    def healthy(self) -> bool:
        """This node answers and the cluster counts it among its live brokers."""
        if self.kafka.is_external:
            return kafka_healthy(self.kafka)
        return self.node in live_brokers(self.kafka, self.address)

    def cluster_serving(self) -> bool:
        """Every node of the cluster is a live broker, as this node sees it."""
        return live_brokers(self.kafka, self.address) >= set(range(1, self.kafka.brokers + 1))
