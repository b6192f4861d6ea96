"""The chaos suite: the whole platform at the seed's load (`quantcore up --detach`, 30 symbols
at 10 Hz), then kill -9 of one ingest shard, the active compute driver, a serve process,
Redis and the broker, one at a time, while a gRPC client watches every symbol.

For each: the platform comes back by itself, every symbol updates at the client again, no
symbol regresses, no update-id chain in Kafka has a gap or a duplicate, and nothing Kafka
acknowledged is lost. How fast is a benchmark figure (`quantcore chaos` prints the table);
the timeouts here only bound a hang. The platform is the session's (`seed_platform`, shared
with tests/e2e/ when one session runs both), left healthy for the e2e suite.
"""

from __future__ import annotations


import pytest

from quantcore_platform.chaos.runner import run_chaos
from quantcore_platform.chaos.verdict import COMPONENTS, table

pytestmark = pytest.mark.slow


def test_every_component_survives_kill_9_without_loss(seed_platform, artifacts_dir):
    settings, _ = seed_platform
    outcomes = run_chaos(settings, COMPONENTS, timeout_s=150)
    printed = "\n".join(" | ".join(row) for row in table(outcomes))
    (artifacts_dir / "chaos-table.txt").write_text(printed + "\n")
    assert [o.component for o in outcomes] == list(COMPONENTS)
    for outcome in outcomes:
        assert outcome.recovered, f"{outcome.component} did not recover:\n{printed}"
        assert outcome.regressions == 0, f"a symbol went backwards at the client:\n{printed}"
        assert (outcome.chain.gaps, outcome.chain.duplicates) == (0, 0), f"a Kafka chain broke:\n{printed}"
        assert outcome.acknowledged_lost == 0, f"acknowledged records lost:\n{printed}"
