"""replay on several Spark masters, side by side on the same records: how the replay's
per-core cost holds as the cluster grows (issue 18's scaling figures).

`quantcore bench replay --set masters=local[2],cluster:1,cluster:2` fills one topic, then
for each master replays it into a Delta root of its own, timed with the whole machine's CPU
(/proc/stat: driver, master, workers, executors and broker alike):

- `local[N]`: the driver's own JVM with N task threads (the platform's default);
- `cluster:N`: a Spark standalone master and N workers of one core each (the same daemons as
  `quantcore up --spark-workers N`), the job's code shipped to them as on any cluster.

Each master gets an untimed warm-up replay of an empty day first (JVMs, tables). On 2 cores
the absolute rate cannot grow much with workers; the figure to read is core-µs per record,
which must stay flat for the cost of a day to be a matter of cores x minutes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

from quantcore.errors import PlatformError
from quantcore.settings import Settings
from quantcore.topics import CREATE_TIME, create_topic, produce_all

DAY_RECORDS = 26_000_000  # one day of 30 symbols at 10 Hz


def parse_master(spec: str) -> tuple[str, int]:
    """`local[2]` -> ("local[2]", 0); `cluster:2` -> ("", 2 workers)."""
    if match := re.fullmatch(r"cluster:(\d+)", spec):
        workers = int(match.group(1))
        if 1 <= workers <= 8:
            return "", workers
    elif re.fullmatch(r"local\[\d+\]", spec):
        return spec, 0
    raise PlatformError(f"unknown master {spec!r}", "use local[N] or cluster:N (N workers of one core), "
                                                     "e.g. --set masters=local[2],cluster:1,cluster:2")


@contextmanager
def standalone_cluster(settings: Settings) -> Iterator[None]:
    """The master and `spark.workers` workers of `settings`, for the block."""
    from quantcore_platform.services.spark_cluster import SparkMaster, SparkWorker

    started = []
    try:
        for service in [SparkMaster.from_settings(settings), *SparkWorker.all_from_settings(settings)]:
            service.start()
            started.append(service)
        yield
    finally:
        for service in reversed(started):
            service.stop()


def per_core_projection(core_us_per_record: float, cores: int) -> dict[str, float]:
    """What a day of 26 M records costs at this per-record cost: core-hours, and minutes on `cores`."""
    core_s = DAY_RECORDS * core_us_per_record / 1e6
    return {"day_core_hours": round(core_s / 3600, 2), "day_minutes_on_these_cores": round(core_s / cores / 60, 1)}


def measure_scaling(settings: Settings, records: int, masters: list[str], books: Callable, day,
                    progress: Callable[[str], None] = print) -> dict:
    from bench.scenarios.replay import Costs, broker_pid
    from quantcore.spark_session import build_spark_session
    from streaming.spark.replay_job import replay

    layouts = [(spec, *parse_master(spec)) for spec in masters]
    topic = f"qc.bench.scaling.{abs(hash(tuple(masters))) % 10**6}"
    create_topic(settings.kafka, topic, settings.kafka.partitions, CREATE_TIME)
    sent = produce_all(settings.kafka, topic, books(settings.market.symbols, records, day))
    progress(f"produced {sent:,} records")
    costs = Costs(broker_pid(settings))
    figures: dict[str, dict] = {}
    for spec, master, workers in layouts:
        label = re.sub(r"\W+", "_", spec).strip("_")
        run_settings = settings.override(
            book_topic=topic, data_root=f"{settings.paths.delta_root.rstrip('/')}-{label}",
            spark_master=master or "local[2]", spark_workers=workers, spark_worker_cores=1)
        with standalone_cluster(run_settings) if workers else _nothing():
            spark = build_spark_session(run_settings.spark, run_settings.paths, "quantcore-bench-replay")
            try:
                replay(spark, run_settings, [day - timedelta(days=1)])  # warm-up, untimed
                result, measured = costs.measure(lambda: replay(spark, run_settings), records)
            finally:
                spark.stop()
        slots = workers or int(re.findall(r"\d+", spec)[0])
        figures[spec] = {**measured, "task_slots": slots, "rows": result.rows,
                         "records_per_s_per_slot": round(measured["records_per_s"] / slots),
                         **per_core_projection(measured["core_us_per_record"], slots)}
        progress(f"{spec}: {figures[spec]}")
    base = figures[masters[0]]["core_us_per_record"]
    return {"records": records, "masters": figures,
            "core_us_per_record_vs_first": {spec: round(f["core_us_per_record"] / base, 2)
                                            for spec, f in figures.items()}}


@contextmanager
def _nothing() -> Iterator[None]:
    yield
