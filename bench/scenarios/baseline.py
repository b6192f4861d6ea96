"""baseline: the seed's designs re-created here and measured in the same run as ours,
reported as ratios (seed / ours): serving (polling, one subscription per client), payload
bytes (JSON vs protobuf), and the Spark record path (JSON + foreachBatch collect)."""

from __future__ import annotations

from bench.scenarios import baseline_serving
from bench.scenarios.payload import payload_sizes


def run(ctx) -> dict:
    figures = {"payload": payload_sizes(len(ctx.settings.symbols))}
    figures["serving"] = baseline_serving.run(ctx)
    spark = _spark_baseline()
    if spark is not None:
        figures["spark_record_path"] = spark(ctx)
    return figures


def _spark_baseline():
    try:
        from bench.scenarios.baseline_spark import run as spark_run
    except ImportError:
        return None
    return spark_run
