"""bench/platform_cost.py: which component a process is, and a window's cores and memory,
against sums worked out by hand."""

from __future__ import annotations

import pytest

from bench.platform_cost import OTHER, ProcessSample, component_of_command, components_of, standing_cost

PY = "/repo/.venv/bin/python -m quantcore_platform.cli --home /h"


def p(parent: int, command: str, cpu_s: float, rss_mib: float = 10.0) -> ProcessSample:
    return ProcessSample(parent=parent, command=command, cpu_s=cpu_s, rss_mib=rss_mib)


@pytest.mark.parametrize(("command", "component"), [
    (f"{PY} stream ingest", "ingest"),
    (f"{PY} stream compute", "compute"),
    (f"{PY} stream serve", "serve"),
    (f"{PY} simulator", "simulator"),
    ("/repo/.venv/bin/python -m quantcore_platform.cli supervise", "supervisor"),
    ("java -Xmx1g -cp /jars/* kafka.Kafka /h/kafka/server.properties", "kafka"),
    ("redis-server 127.0.0.1:6390", "redis"),
    ("/repo/.venv/bin/dagster code-server start -h 127.0.0.1 -p 4000", "dagster-code-server"),
    ("/repo/.venv/bin/python -m dagster api grpc --lazy-load-user-code", "dagster-code-server"),
    ("/repo/.venv/bin/dagster-webserver -h 127.0.0.1 -p 3000 -w /h/workspace.yaml", "dagster-webserver"),
    ("/repo/.venv/bin/dagster-daemon run -w /h/workspace.yaml", "dagster-daemon"),
    ("/repo/.venv/bin/python -m dagster api execute_run {...}", "dagster-run-workers"),
    ("/repo/.venv/bin/python -B -c from multiprocessing.spawn import spawn_main; spawn_main(tracker_fd=17)",
     "dagster-run-workers"),
    ("/repo/.venv/bin/python -B -c from multiprocessing.resource_tracker import main;main(16)", None),
    ("java org.apache.spark.deploy.SparkSubmit pyspark-shell", None),
])
def test_each_command_names_its_component(command, component):
    assert component_of_command(command) == component


def test_unnamed_processes_belong_to_their_nearest_named_ancestor():
    processes = {
        1: p(0, "bash", 0),
        10: p(1, f"{PY} stream compute", 0),
        11: p(10, "java org.apache.spark.deploy.SparkSubmit", 0),
        12: p(11, "java child of the JVM", 0),
        20: p(1, "/repo/.venv/bin/python -m dagster api execute_run", 0),
        21: p(20, f"{PY} stream serve", 0),
        30: p(99, "orphan whose parent left", 0),
    }
    assert components_of(processes) == {1: OTHER, 10: "compute", 11: "compute", 12: "compute",
                                        20: "dagster-run-workers", 21: "serve", 30: OTHER}


def test_cores_memory_and_restarts_over_a_window():
    start = {10: p(1, f"{PY} stream compute", 100.0, rss_mib=300),
             11: p(10, "java", 50.0, rss_mib=700),
             20: p(1, "redis-server", 5.0, rss_mib=8)}
    middle = {10: p(1, f"{PY} stream compute", 101.0, rss_mib=310),
              11: p(10, "java", 54.0, rss_mib=720),  # dies after this sample: keeps its 4 s
              20: p(1, "redis-server", 5.5, rss_mib=8)}
    end = {10: p(1, f"{PY} stream compute", 102.0, rss_mib=320),
           12: p(10, "java", 3.0, rss_mib=600),  # born in the window: counts from 0
           20: p(1, "redis-server", 6.0, rss_mib=9)}
    figures = standing_cost([(0.0, start), (5.0, middle), (10.0, end)])
    # compute: (102 - 100) + (54 - 50) + 3 = 9 CPU seconds over 10 s
    assert figures["compute"] == {"cores": 0.9, "rss_mib_median": 1000.0, "rss_mib_max": 1030.0,
                                  "processes": 2, "started_in_window": 1}
    assert figures["redis"] == {"cores": 0.1, "rss_mib_median": 8.0, "rss_mib_max": 9.0,
                                "processes": 1, "started_in_window": 0}


def test_one_sample_is_not_a_window():
    with pytest.raises(ValueError, match="two samples"):
        standing_cost([(0.0, {})])
