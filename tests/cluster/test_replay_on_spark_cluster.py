"""A replay on a Spark standalone cluster (a master and two workers, as `quantcore up
--spark-workers 2` starts them), sent by spark-submit as Dagster's `submit` launcher sends it:
a worker killed while it runs, and it still writes the same Delta rows as `local[2]`.

Only the Kafka node and the Spark daemons run (`up --only`): the streams' CPU would only slow
the replay down on 2 cores, and test_cluster_faults.py covers them on a cluster.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from bench.market_books import market_day
from quantcore.polling import wait_until
from quantcore.settings import Settings
from quantcore.topics import CREATE_TIME, create_topic, produce_all
from quantcore_platform.replay_assets import REPLAY_JOB
from quantcore_platform.services.spark_cluster import master_status
from quantcore_platform.spark_launch.job import shipped_code
from quantcore_platform.spark_launch.submit import submit_command
from streaming.spark.delta_tables import BOOK_SIGNALS, BOOKS_RAW, table_path
from tests.support.platform_cli import cli, kill_leftovers
from tests.support.settings import cluster_ports, make_settings, platform_env

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
WORKERS = 2
REPLAY_RECORDS = 15_000
REPLAY_DAY = date(2024, 5, 2)
NODES = ("kafka", "spark-master", *(f"spark-worker-{n}" for n in range(1, WORKERS + 1)))


@pytest.fixture(scope="module")
def spark_cluster(tmp_path_factory, artifacts_dir) -> Iterator[Settings]:
    settings = make_settings(tmp_path_factory.mktemp("spark-cluster") / "home", **cluster_ports(1, WORKERS))
    result = cli(settings, "up", "--detach", "--spark-workers", str(WORKERS),
                 *(arg for name in NODES for arg in ("--only", name)), timeout=600)
    (artifacts_dir / "spark-cluster-up.log").write_text(result.stdout + result.stderr)
    try:
        assert result.returncode == 0, result.stderr[-3000:]
        yield settings.override(spark_workers=WORKERS)
    finally:
        down = cli(settings, "down", timeout=600)
        left = kill_leftovers(settings)
        assert down.returncode == 0, down.stderr[-2000:]
        assert not left, f"`quantcore down` left processes: {left}"


def replay_topic(settings: Settings) -> str:
    topic = f"qc.test.cluster-replay.{int(time.time())}"
    create_topic(settings.kafka, topic, settings.kafka.partitions, CREATE_TIME)
    produce_all(settings.kafka, topic, market_day(settings.market.symbols, REPLAY_RECORDS, REPLAY_DAY))
    return topic


def submit_replay(settings: Settings) -> subprocess.Popen:
    """The replay as the `submit` launcher runs it: spark-submit to the cluster's master with
    the job zip and the jars (here without Dagster Pipes around it)."""
    archive, jars = shipped_code(settings)
    command = submit_command(settings.spark, REPLAY_JOB.with_args("--dates", REPLAY_DAY.isoformat()), archive, jars)
    return subprocess.Popen(command, env=platform_env(settings, PYSPARK_PYTHON=sys.executable), cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def worker_runs_an_executor(settings: Settings, worker: int, app_name: str) -> bool:
    url = f"http://127.0.0.1:{settings.spark.cluster_ui_port + worker}/json/"
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            executors = json.load(reply).get("executors", [])
    except (OSError, ValueError):
        return False
    return any(e.get("appdesc", {}).get("name", "").startswith(app_name) for e in executors)


def delta_rows(settings: Settings, table: str) -> list[tuple]:
    import polars as pl

    frame = pl.read_delta(table_path(settings.paths, table))
    return sorted(frame.select(sorted(frame.columns)).rows())


def test_a_replay_on_the_cluster_survives_a_worker_kill_and_equals_local(spark_cluster, spark, tmp_path,
                                                                          artifacts_dir):
    """The cluster's run goes through spark-submit as the `submit` launcher sends it; the
    local[2] one is the same `replay` in the suite's session."""
    from streaming.spark.replay_job import replay as replay_days

    master = master_status(spark_cluster.spark)
    assert master["status"] == "ALIVE" and master["aliveworkers"] == WORKERS, master
    topic = replay_topic(spark_cluster)
    local = spark_cluster.override(book_topic=topic, data_root=str(tmp_path / "local"),
                                   spark_workers=0, spark_master="local[2]")
    on_cluster = spark_cluster.override(book_topic=topic, data_root=str(tmp_path / "cluster"))
    assert replay_days(spark, local, [REPLAY_DAY]).rows[BOOKS_RAW] == REPLAY_RECORDS

    replay = submit_replay(on_cluster)
    wait_until(lambda: worker_runs_an_executor(on_cluster, 1, "quantcore-replay") or replay.poll() is not None,
               300, "the replay's executor on worker 1", on_timeout=lambda: json.dumps(master_status(on_cluster.spark)))
    assert replay.poll() is None, "the replay ended before the worker could be killed"
    time.sleep(3)  # its tasks under way
    (worker,) = [s for s in json.loads(cli(on_cluster, "status", "--json").stdout) if s["name"] == "spark-worker-1"]
    os.kill(worker["pid"], signal.SIGKILL)
    killed_while_running = replay.poll() is None
    output, _ = replay.communicate(timeout=900)
    (artifacts_dir / "cluster-replay.log").write_text(output[-20000:])
    assert replay.returncode == 0, output[-3000:]
    assert killed_while_running

    for table in (BOOKS_RAW, BOOK_SIGNALS):
        rows = delta_rows(on_cluster, table)
        assert rows == delta_rows(local, table), f"{table} differs between the cluster and local[2]"
    assert len(delta_rows(on_cluster, BOOKS_RAW)) == REPLAY_RECORDS
