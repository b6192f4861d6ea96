"""Every benchmark scenario in its seconds-long smoke mode: the harness starts what the
scenario needs, measures, tears down and saves sane figures. Never a speed assertion."""

from __future__ import annotations

import json
import math

import pytest

from bench.harness import RESULTS_DIR, flatten
from bench.registry import SCENARIOS
from bench.cli import run_one

pytestmark = pytest.mark.slow

# A figure (by a part of its flattened name) that must be positive for the run to mean anything.
MUST_BE_POSITIVE = {
    "e2e": "latency_ms.end_to_end.count",
    "ingest": "frames_per_s",
    "compute": "records_per_s",
    "fanout": "delivery_ratio",
    "replay": "records_per_s",
    "relay": "remembers.cpu_us_per_row",
    "baseline": "payload.json_vs_protobuf",
    "simulator": "events_per_s_per_core",
    "ofi": "r2_multi_level.out_of_sample",
}
# Scenarios that bring up the whole platform: their measure runs on the e2e suite's platform
# instead (a second platform start would cost the suite a minute and a half).
ON_THE_E2E_PLATFORM = {"cost": "tests/e2e/test_platform_up.py::test_standing_cost_of_each_component"}
# Figures (by a part of the name) of which there must be some, every one positive.
ALL_POSITIVE = {
    "baseline": ("spark.ratios.", "throughput.records_per_s", "visible_after_ms.count", "visible_after_ms.p50"),
    # the signals rounds and the smoke's one SubscribeBooks round (under "books.")
    "fanout": ("delivery_ratio", "books.burst.by_subscribers.1.latency_ms.count"),
}


@pytest.mark.parametrize("name", [name for name in SCENARIOS if name not in ON_THE_E2E_PLATFORM])
def test_scenario_smoke_saves_sane_figures(name):
    figures = run_one(name, smoke=True, symbols=6, rate_hz=10.0, options={})

    saved = json.loads((RESULTS_DIR / f"{name}-smoke.json").read_text())
    assert saved["scenario"] == name and saved["smoke"] is True
    assert saved["machine"]["cores"] and saved["command"].startswith("quantcore")
    numbers = [(key, value) for key, value in flatten(figures) if isinstance(value, int | float)]
    assert numbers, "a scenario must report figures"
    assert all(math.isfinite(value) for _, value in numbers), numbers
    key_part = MUST_BE_POSITIVE[name]
    matching = [value for key, value in numbers if key_part in key]
    assert matching and max(matching) > 0, f"no positive {key_part} in {sorted(k for k, _ in numbers)}"
    for key_part in ALL_POSITIVE.get(name, ()):
        matching = {key: value for key, value in numbers if key_part in key}
        assert matching and min(matching.values()) > 0, f"{key_part}: {matching or sorted(k for k, _ in numbers)}"
