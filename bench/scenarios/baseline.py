"""baseline: the seed's designs re-created here and measured in the same run as ours,
reported as ratios (seed / ours): serving (polling every 500 ms, one Redis subscription per
client) and payload bytes (JSON with numbers in strings vs our protobuf)."""

from __future__ import annotations

from bench.scenarios import baseline_serving
from bench.scenarios.payload import payload_sizes


def run(ctx) -> dict:
    return {"payload": payload_sizes(len(ctx.settings.symbols)), "serving": baseline_serving.run(ctx)}
