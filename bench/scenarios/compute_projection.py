"""What a compute record costs in Spark, and what issue 20's signals add to it.

`quantcore bench compute --set projection=1 [--set records=300000 --set rounds=3]` fills a
private topic with `records` 20-level books (compute.py's BookFeed) and runs, as batch jobs
on one `local[2]` session (warm: one untimed pass first), the compute stream's own row
function `computed_books` written to Spark's `noop` sink, in alternating rounds:

- `read`: Kafka's source alone (every value read);
- `projection`: every column the stream hands its writer (COMPUTED_COLUMNS);
- `projection_before_issue_20`: the same without the columns issue 20 added to the
  projection (each side's top 10 levels for the writer's multi-level OFI, and the best
  quantities for the micro-price); Spark prunes their expressions, so this is the
  projection as it was when bench/README.md measured it at 31.5 core-µs a record.

Cost: the whole machine's busy core-seconds over the pass (/proc/stat, the broker's share
included) per record; medians over the rounds, the ratio taken within each round.

The writer's new per-book work runs in the driver's Python on the newest book of each
symbol per run (not on every record): timed here with `timeit` on rows of the same books,
µs per published book: multi-level OFI against the previous book, the top levels kept in
Redis for the next one (JSON), the realized-volatility windows, the micro-price lookup.
"""

from __future__ import annotations

import json
import statistics
import timeit
from collections.abc import Callable
from typing import Any

from bench.process_cpu import machine_busy_seconds
from bench.scenarios.compute import SEED_SYMBOLS, BookFeed, prefill, private_topic
from quantcore.settings import Settings
from streaming.spark.signals import BOOK_TOP_COLUMNS, TOP_LEVEL_COLUMNS

# What issue 20 added to the projection: the top levels the writer chains multi-level OFI
# with, and the best quantities the micro-price reads.
ISSUE_20_COLUMNS = (*TOP_LEVEL_COLUMNS, *BOOK_TOP_COLUMNS)
PASSES = ("read", "projection", "projection_before_issue_20")


def batch_source(spark, settings: Settings, topic: str):
    return (spark.read.format("kafka").options(**settings.kafka.spark_options())
            .option("subscribe", topic).option("startingOffsets", "earliest").load())


def pass_frame(name: str, source, obi_lambda: float):
    from streaming.spark.compute_rows import computed_books

    if name == "read":
        return source.select("value")
    computed = computed_books(source, obi_lambda)
    return computed.drop(*ISSUE_20_COLUMNS) if name == "projection_before_issue_20" else computed


def core_us_per_record(frame, records: int) -> float:
    busy = machine_busy_seconds()
    frame.write.format("noop").mode("overwrite").save()
    return (machine_busy_seconds() - busy) * 1e6 / records


def writer_costs(rows: list[dict[str, Any]]) -> dict[str, float]:
    """µs per published book of the writer's issue-20 steps, over consecutive rows."""
    from quantcore.microstructure.microprice import MicropriceTable
    from streaming.spark.microprice_tables import Published
    from streaming.spark.mid_volatility import MidVolatility
    from streaming.spark.newest_books import chained_levels, top_levels

    levels = [top_levels(row) for row in rows]
    pairs = list(zip(levels, levels[1:]))
    volatility = MidVolatility()
    # a table as Redis hands it to the writer (its values do not change the lookup's cost)
    table = Published(MicropriceTable(10, 2, ((0.1,) * 10, (0.2,) * 10), 6, 0.0, 1000, True), 0.01, "2024-01-01")

    def ofi_levels() -> None:
        for previous, current in pairs:
            chained_levels(previous, current)

    def kept_levels() -> None:
        for current in levels:
            json.dumps(current, separators=(",", ":"))

    def realized_volatility() -> None:
        for row in rows:
            volatility.feed(row["symbol"], row["update_id"], row["exchange_event_us"], row["mid"])
            volatility.values(row["symbol"], row["update_id"])

    def microprice() -> None:
        for row in rows:
            table.microprice(row["best_bid"], row["best_ask"], row["best_bid_qty"], row["best_ask_qty"])

    steps: dict[str, Callable[[], None]] = {"ofi_levels": ofi_levels, "top_levels_json": kept_levels,
                                            "realized_volatility": realized_volatility, "microprice": microprice}
    return {name: round(min(timeit.repeat(step, number=1, repeat=5)) * 1e6 / len(rows), 2)
            for name, step in steps.items()}


def measure_projection(settings: Settings, records: int, rounds: int,
                       progress: Callable[[str], None] = print) -> dict[str, Any]:
    from quantcore.spark_session import build_spark_session

    feed = BookFeed([f"BENCH{i:02d}USDT" for i in range(SEED_SYMBOLS)])
    local = settings.override(spark_master="local[2]", spark_workers=0)
    spark = build_spark_session(local.spark, local.paths, app_name="quantcore-bench-projection")
    obi_lambda = settings.signals.obi_lambda
    with private_topic(settings.kafka, "qc.bench.projection") as topic:
        progress(f"pre-filling {records:,} records")
        prefill(settings.kafka, topic, feed, records)
        source = batch_source(spark, settings, topic).cache()
        source.count()  # from memory from here on: the passes differ by their projection only
        progress("warm-up pass")
        core_us_per_record(pass_frame("projection", source, obi_lambda), records)
        costs: dict[str, list[float]] = {name: [] for name in PASSES}
        for round_number in range(rounds):
            for name in PASSES:
                costs[name].append(round(core_us_per_record(pass_frame(name, source, obi_lambda), records), 1))
            progress(f"round {round_number + 1}: " + ", ".join(f"{n} {c[-1]}" for n, c in costs.items()))
        sample = [row.asDict() for row in pass_frame("projection", source, obi_lambda).limit(2000).collect()]
        source.unpersist()
    spark.stop()
    ratios = [new / old for new, old in zip(costs["projection"], costs["projection_before_issue_20"])]
    return {
        "records": records, "rounds": rounds, "master": "local[2]",
        "core_us_per_record": {name: {"median": statistics.median(values), "runs": values}
                               for name, values in costs.items()},
        "projection_vs_before_issue_20": {"median": round(statistics.median(ratios), 3),
                                          "runs": [round(r, 3) for r in ratios]},
        "note": "the Kafka source is cached: `read` is the cached scan, the projections add decode, checks, signals",
        "writer_us_per_published_book": writer_costs(sample),
    }
