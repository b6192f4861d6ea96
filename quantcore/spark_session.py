"""The one way the platform builds a SparkSession, for the stream, the replay and tests.

Connector jars come from Maven (`make jars`) and are passed as local files: no Ivy, no
network at session start. The master comes from the settings (`local[2]` here, a cluster
URL or EMR elsewhere). On a cluster the platform's Python code travels to the executors
as a zip (quantcore/job_package.py).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pyspark.java_gateway
from pyspark.sql import SparkSession
from pyspark.sql.types import DataType

from quantcore.jars import spark_jars
from quantcore.job_package import from_checkout, home_job_archive
from quantcore.lifecycle import die_with_parent
from quantcore.settings import PathsSettings, SparkSettings


def spark_conf(settings: SparkSettings, paths: PathsSettings) -> dict[str, str]:
    master = settings.job_master
    local = master.startswith("local")
    this_machine = local or settings.workers > 0  # local[N], or the local standalone cluster
    conf = {
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.session.timeZone": "UTC",
        # A 2-core machine: few partitions, no idle shuffle tasks (measured: a 30,000-record
        # replay on the local cluster took 100 s with 64 shuffle partitions).
        "spark.sql.shuffle.partitions": "4" if this_machine else "64",
        "spark.default.parallelism": "2" if this_machine else "64",
        "spark.driver.memory": settings.driver_memory,
        "spark.ui.enabled": str(settings.ui).lower(),
        "spark.sql.streaming.metricsEnabled": "true",
        "spark.python.worker.reuse": "true",
    }
    if not master:
        return conf  # under spark-submit (EMR Serverless): it was given the jars and the code
    jars = spark_jars(paths.jars_path)
    conf["spark.jars"] = ",".join(jars)
    # extraClassPath as well: the driver JVM loads Java UDF classes from it.
    conf["spark.driver.extraClassPath"] = ":".join(jars)
    if local:
        conf["spark.driver.bindAddress"] = "127.0.0.1"
        conf["spark.driver.host"] = "127.0.0.1"
    else:
        conf.update(cluster_conf(settings, paths))
    return conf


def cluster_conf(settings: SparkSettings, paths: PathsSettings) -> dict[str, str]:
    """What executors on other machines need: the platform's Python code shipped as a zip
    (they never see the driver's checkout), memory that fits the workers, and, on the
    local cluster, a driver reachable on loopback."""
    conf = {"spark.executor.memory": settings.executor_memory}
    if from_checkout():  # else spark-submit shipped the zip this driver runs from
        conf["spark.submit.pyFiles"] = str(home_job_archive(paths))
    if settings.app_cores:
        conf["spark.cores.max"] = str(settings.app_cores)
    if settings.workers:
        conf["spark.driver.host"] = "127.0.0.1"
    return conf


def app_cores(settings: SparkSettings, task_slots: int | None) -> int | None:
    """Cores one application takes on a standalone cluster (None: Spark's default, every free one).
    A stream takes the task slots its trigger holds; on the local cluster, whose workers offer
    more slots than the machine has cores (the real-time trigger's tasks mostly wait), a batch
    job takes as many as the machine has: measured, a 30,000-record replay took 95 s holding
    all 66 slots of two workers, against 34 s on local[2]."""
    if task_slots:
        return task_slots
    return (os.cpu_count() or 2) if settings.workers else None


def register_java_function(spark: SparkSession, name: str, class_name: str, return_type: DataType) -> None:
    """Register a Java UDF of quantcore-spark.jar (jvm/spark) as SQL function `name`;
    re-registering replaces it. A clear error when the jar is not on the classpath."""
    try:
        spark.udf.registerJavaFunction(name, class_name, return_type)
    except Exception as exc:  # AnalysisException or Py4JJavaError, by where loading fails
        if any(m in str(exc) for m in ("Can not load class", "ClassNotFound", "NoClassDefFound")):
            raise RuntimeError(
                f"{class_name} (or the protobuf-java it needs) is not on the Spark "
                "classpath: run `make jars`, then pass quantcore-spark.jar and protobuf-java "
                "in spark.jars"
            ) from exc
        raise


def local_threads(master: str) -> int | None:
    """Task threads of a `local`, `local[N]`, `local[*]` or `local[N,F]` master; None otherwise."""
    match = re.fullmatch(r"local(?:\[(\*|\d+)(,\d+)?\])?", master)
    if match is None:
        return None
    threads = match.group(1)
    if threads is None:
        return 1
    return os.cpu_count() or 1 if threads == "*" else int(threads)


def with_task_slots(master: str, slots: int | None) -> str:
    """A local master raised to at least `slots` task threads (the real-time trigger keeps
    one task per Kafka partition running); other masters are sized by their cluster."""
    threads = local_threads(master)
    if slots is None or threads is None or threads >= slots:
        return master
    retries = re.search(r",\d+\]$", master)
    return f"local[{slots}{retries.group(0)[:-1] if retries else ''}]"


def build_spark_session(settings: SparkSettings, paths: PathsSettings, app_name: str = "quantcore",
                        extra_conf: dict[str, str] | None = None, task_slots: int | None = None) -> SparkSession:
    """The session (or the running one: `getOrCreate`), `task_slots` raising a local master."""
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    master = with_task_slots(settings.job_master, task_slots)
    builder = SparkSession.builder.appName(app_name)
    if master:  # empty: spark-submit's own (EMR Serverless)
        builder = builder.master(master)
    conf = spark_conf(settings, paths)
    if master.startswith("spark://") and not settings.app_cores and (cores := app_cores(settings, task_slots)):
        conf["spark.cores.max"] = str(cores)
    for key, value in {**conf, **(extra_conf or {})}.items():
        builder = builder.config(key, value)
    with _jvm_dies_with_this_process():
        spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark


def driver_jvm_pid(spark: SparkSession) -> int | None:
    """The pid of the JVM pyspark launched for this driver (None when it did not launch one)."""
    process = getattr(spark.sparkContext._gateway, "proc", None)  # spark-submit execs java: same pid
    return process.pid if process is not None else None


@contextmanager
def _jvm_dies_with_this_process() -> Iterator[None]:
    """While the session starts, make the driver JVM that pyspark launches ask the kernel for
    SIGTERM when this process dies. pyspark relies on the JVM noticing its stdin close, which a
    kill -9 of a stream's Python process did not achieve (its JVM ran on for 24 minutes).
    pyspark sets its own `preexec_fn` (ignore SIGINT), so its `Popen` is wrapped, and chained.
    Only from the main thread: the kernel sends the signal when the creating *thread* ends."""
    original = pyspark.java_gateway.Popen
    if threading.current_thread() is threading.main_thread():
        pyspark.java_gateway.Popen = _popen_dying_with_parent
    try:
        yield
    finally:
        pyspark.java_gateway.Popen = original


def _popen_dying_with_parent(command, **kwargs) -> subprocess.Popen:
    inner = kwargs.get("preexec_fn")

    def preexec() -> None:
        if inner is not None:
            inner()
        die_with_parent()

    return subprocess.Popen(command, **{**kwargs, "preexec_fn": preexec})
