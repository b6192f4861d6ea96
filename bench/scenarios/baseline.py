"""baseline: the seed's designs re-created here and measured in the same run as ours,
reported as ratios: serving (polling every 500 ms, one Redis subscription per client),
payload bytes (JSON with numbers in strings vs our protobuf), and the Spark record path
(JSON `from_json` + `foreachBatch` collect vs our compute stream, micro-batch)."""

from __future__ import annotations

from bench.scenarios import baseline_serving, baseline_spark
from bench.scenarios.payload import payload_sizes


def run(ctx) -> dict:
    return {"payload": payload_sizes(len(ctx.settings.market.symbols)), "serving": baseline_serving.run(ctx),
            "spark": baseline_spark.run(ctx)}
