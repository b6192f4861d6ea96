"""The local cluster's layout, from the settings alone: Kafka nodes' ports, quorum and
replication; Spark workers' slots; the job archive the executors import from."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from quantcore.job_package import job_archive
from quantcore.settings import ConfigError, KafkaSettings, SparkSettings, load_settings
from quantcore.spark_session import spark_conf
from quantcore_platform.services.kafka_broker import node_name, server_properties
from quantcore_platform.services.platform import components, record_topology, with_recorded_topology
from quantcore_platform.services.spark_cluster import auto_worker_cores


def properties(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def test_one_broker_is_the_default_and_keeps_its_dynamic_quorum(tmp_path):
    kafka = KafkaSettings.load(port=9092, controller_port=9093)
    assert kafka.bootstrap_servers == "127.0.0.1:9092"
    assert (kafka.topic_replication, kafka.insync_replicas) == (1, 1)
    config = properties(server_properties(kafka, tmp_path))
    assert config["controller.quorum.bootstrap.servers"] == "127.0.0.1:9093"
    assert "controller.quorum.voters" not in config
    assert config["offsets.topic.replication.factor"] == "1"


def test_three_nodes_have_their_own_ports_a_static_quorum_and_replicate_three_times(tmp_path):
    kafka = KafkaSettings.load(port=19092, controller_port=19093, brokers=3)
    assert kafka.bootstrap_servers == "127.0.0.1:19092,127.0.0.1:19094,127.0.0.1:19096"
    assert (kafka.topic_replication, kafka.insync_replicas) == (3, 2)
    node2 = properties(server_properties(kafka, tmp_path / "data", node=2))
    assert node2["node.id"] == "2"
    assert node2["listeners"] == "PLAINTEXT://127.0.0.1:19094,CONTROLLER://127.0.0.1:19095"
    assert node2["controller.quorum.voters"] == "1@127.0.0.1:19093,2@127.0.0.1:19095,3@127.0.0.1:19097"
    assert node2["log.dirs"] == str(tmp_path / "data")
    # the internal topics survive a node too, and acks=all means two copies
    assert node2["offsets.topic.replication.factor"] == "3"
    assert node2["transaction.state.log.min.isr"] == "2"
    assert node2["min.insync.replicas"] == "2"
    assert [node_name(n) for n in (1, 2, 3)] == ["kafka", "kafka-2", "kafka-3"]


def test_an_external_cluster_keeps_its_own_replication_defaults():
    kafka = KafkaSettings.load(bootstrap="b-1.msk:9096,b-2.msk:9096")
    assert kafka.topic_replication == -1  # the cluster's default.replication.factor
    assert kafka.insync_replicas is None
    assert KafkaSettings.load(bootstrap="b-1.msk:9096", replication_factor=3).insync_replicas == 2


@pytest.mark.parametrize("values, fragment", [
    ({"brokers": 1, "replication_factor": 3}, "needs as many brokers"),
    ({"brokers": 3, "min_insync_replicas": 4}, "no write could ever succeed"),
    ({"brokers": 3, "port": 9092, "controller_port": 9094}, "ports overlap"),
])
def test_impossible_cluster_settings_say_what_to_change(values, fragment):
    with pytest.raises(ConfigError, match=fragment):
        load_settings(**{("kafka_" + k if k in ("brokers", "port", "controller_port", "min_insync_replicas")
                          else k): v for k, v in values.items()}).kafka


def test_workers_get_slots_for_the_realtime_stream_its_standby_and_a_replay():
    # 30 partitions: each real-time query holds 32 tasks; two queries and a replay's 2
    assert auto_worker_cores(30, 2) == 33
    assert auto_worker_cores(30, 1) == 66
    assert auto_worker_cores(30, 4) * 4 >= 66


def test_jobs_use_the_local_cluster_when_it_has_workers():
    assert SparkSettings.load().job_master == "local[2]"
    assert SparkSettings.load(workers=2, cluster_port=17077).job_master == "spark://127.0.0.1:17077"
    assert SparkSettings.load(master="").job_master == ""


def test_cluster_jobs_ship_the_code_and_spark_submit_jobs_bring_their_own(tmp_path, monkeypatch):
    monkeypatch.setattr("quantcore.spark_session.spark_jars", lambda _: ["/jars/a.jar", "/jars/b.jar"])
    paths = load_settings(home=tmp_path).paths
    local = spark_conf(SparkSettings.load(), paths)
    assert local["spark.jars"] == "/jars/a.jar,/jars/b.jar" and "spark.submit.pyFiles" not in local
    cluster = spark_conf(SparkSettings.load(workers=2), paths)
    assert cluster["spark.submit.pyFiles"].startswith(str(tmp_path / "spark" / "jobs"))
    assert cluster["spark.jars"] == "/jars/a.jar,/jars/b.jar"
    assert cluster["spark.driver.host"] == "127.0.0.1"
    under_submit = spark_conf(SparkSettings.load(master=""), paths)
    assert "spark.jars" not in under_submit and "spark.submit.pyFiles" not in under_submit


def test_the_job_archive_imports_without_the_checkout(tmp_path):
    archive = job_archive(tmp_path / "jobs")
    assert job_archive(tmp_path / "jobs") == archive  # one build per content
    names = zipfile.ZipFile(archive).namelist()
    assert "quantcore/v1/__init__.py" in names  # zipimport needs it for the generated package
    assert not any(name.startswith("quantcore_platform/") for name in names)  # no control plane
    # from another directory, with the checkout installed (editable) too: the zip comes first
    probe = ("import sys; sys.path.insert(0, sys.argv[1]); import quantcore.v1.book_pb2 as b, "
             "streaming.spark.signals as s; print(b.__file__); print(s.__file__)")
    result = subprocess.run([sys.executable, "-c", probe, str(archive)], capture_output=True, text=True,
                            cwd=tmp_path, check=False)
    assert result.returncode == 0, result.stderr
    assert [Path(line).relative_to(archive).as_posix() for line in result.stdout.split()] == [
        "quantcore/v1/book_pb2.py", "streaming/spark/signals.py"]


def test_the_cluster_shape_of_up_is_what_status_and_down_see(tmp_path):
    started = load_settings(home=tmp_path, kafka_brokers=3, spark_workers=2, kafka_port=19092,
                            kafka_controller_port=19093)
    record_topology(started)
    later = with_recorded_topology(load_settings(home=tmp_path, kafka_port=19092, kafka_controller_port=19093))
    names = [component.name for component, _ in components(later)]
    assert names[:6] == ["kafka", "kafka-2", "kafka-3", "redis", "spark-master", "spark-worker-1"]
    assert "spark-worker-2" in names
    assert [c.name for c, _ in components(load_settings(home=tmp_path / "other"))][:2] == ["kafka", "redis"]


def test_bench_masters_are_local_threads_or_standalone_workers():
    from bench.scenarios.replay_scaling import parse_master, per_core_projection
    from quantcore.errors import PlatformError

    assert parse_master("local[2]") == ("local[2]", 0)
    assert parse_master("cluster:2") == ("", 2)
    for bad in ("yarn", "cluster:0", "local[*]x"):
        with pytest.raises(PlatformError, match="local\\[N\\] or cluster:N"):
            parse_master(bad)
    # 26 M records at 36 core-us each: 936 core-seconds = 0.26 core-hours, 7.8 min on 2 cores
    assert per_core_projection(36.0, 2) == {"day_core_hours": 0.26, "day_minutes_on_these_cores": 7.8}


def test_the_brokers_request_threads_come_from_the_settings(tmp_path, monkeypatch):
    default = properties(server_properties(KafkaSettings.load(), tmp_path))
    assert (default["num.network.threads"], default["num.io.threads"]) == ("1", "2")
    monkeypatch.setenv("QUANTCORE_KAFKA_NETWORK_THREADS", "3")
    monkeypatch.setenv("QUANTCORE_KAFKA_IO_THREADS", "8")
    bigger = properties(server_properties(KafkaSettings.load(), tmp_path))
    assert (bigger["num.network.threads"], bigger["num.io.threads"]) == ("3", "8")
