"""The chaos suite's judgement (pure): recovery time, regressions, chain faults, acknowledged loss."""

from __future__ import annotations

import subprocess
import sys

import pytest

from quantcore.errors import PlatformError
from quantcore_platform.chaos.runner import check_components
from quantcore_platform.chaos.verdict import (
    ChainFaults,
    ClientUpdate,
    Outcome,
    acknowledged_lost,
    chain_faults,
    regressions,
    signals_again_after,
    table,
)

KILL = 1000.0


def update(symbol: str, update_id: int, received: float, event: float) -> ClientUpdate:
    return ClientUpdate(symbol, update_id, received, event)


def test_recovery_is_when_the_last_symbol_shows_an_event_after_the_kill():
    seen = [
        update("BTC", 1, 1000.2, 999.9),  # in flight at the kill: made from an older event
        update("BTC", 2, 1001.5, 1000.1),
        update("ETH", 7, 1003.0, 1002.9),
        update("BTC", 3, 1004.0, 1003.9),
    ]
    assert signals_again_after(seen, ["BTC", "ETH"], KILL) == pytest.approx(3.0)
    assert signals_again_after(seen, ["BTC", "ETH", "SOL"], KILL) is None  # SOL never came back
    assert signals_again_after(seen[:1], ["BTC"], KILL) is None


def test_a_repeated_id_is_not_a_regression_but_an_older_one_is():
    seen = [update("BTC", 5, 0, 0), update("BTC", 5, 0, 0), update("ETH", 1, 0, 0), update("BTC", 4, 0, 0),
            update("BTC", 6, 0, 0), update("BTC", 5, 0, 0)]
    assert regressions(seen) == 2


def test_chains_count_gaps_and_duplicates_separately():
    chains = {
        "BTC": [(1, 3), (4, 4), (5, 9)],  # continuous
        "ETH": [(1, 3), (6, 8), (9, 9)],  # 4..5 missing
        "SOL": [(1, 3), (4, 5), (4, 5), (2, 3), (6, 7)],  # the same record twice, then an older one
    }
    assert chain_faults(chains) == ChainFaults(gaps=1, duplicates=2)
    assert chain_faults({"BTC": [(7, 9)]}) == ChainFaults(0, 0)


def test_acknowledged_records_are_lost_when_a_watermark_moves_back():
    assert acknowledged_lost({0: 100, 1: 50}, {0: 130, 1: 50}) == 0
    assert acknowledged_lost({0: 100, 1: 50}, {0: 90, 1: 50}) == 10
    assert acknowledged_lost({0: 100}, {}) == 100  # the partition is gone


def outcome(component="serve", signals=1.5, back=0.4, regressions_=0, chain=ChainFaults(0, 0), lost=0,
            floor=None) -> Outcome:
    return Outcome(component, 4242, back, signals, regressions_, chain, lost, floor)


@pytest.mark.parametrize("case, verdict", [
    (outcome(), "ok"),
    (outcome(signals=2.5), "slow"),
    (outcome(component="redis", back=4.0, signals=12.0), "ok"),  # Redis's promise runs from when it is back
    (outcome(component="ingest", signals=0.6, floor=0.15), "ok"),  # "0 s": within half a second of no kill
    (outcome(component="ingest", signals=0.7, floor=0.15), "slow"),
    (outcome(component="ingest", signals=0.9, floor=None), "ok"),  # no floor measured: assumed 0.5 s
    (outcome(signals=None), "NOT RECOVERED"),
    (outcome(back=None), "NOT RECOVERED"),
    (outcome(chain=ChainFaults(1, 0)), "LOSS"),
    (outcome(regressions_=1), "LOSS"),
    (outcome(lost=3), "LOSS"),
])
def test_each_row_of_the_table_says_its_verdict(case, verdict):
    header, row = table([case])
    assert header[-1] == "verdict" and row[-1] == verdict and row[0] == case.component


def test_an_unknown_component_is_refused_with_the_choices():
    assert check_components([]) == ["ingest", "compute", "serve", "redis", "kafka"]
    with pytest.raises(PlatformError, match="choose from ingest, compute, serve, redis, kafka"):
        check_components(["ingest", "dagster"])


@pytest.mark.parametrize("args, needle", [
    (("--timeout", "1"), "Invalid value for '--timeout': Input should be greater than or equal to 5"),
    (("--pause", "soon"), "Invalid value for '--pause'"),
    (("dagster",), "choose from ingest, compute, serve, redis, kafka"),
])
def test_bad_chaos_arguments_fail_in_one_line_before_touching_anything(tmp_path, args, needle):
    # typer vendors its own click: its usage errors once escaped as a traceback with exit 0
    result = subprocess.run([sys.executable, "-m", "quantcore_platform.cli", "--home", str(tmp_path), "chaos", *args],
                            capture_output=True, text=True, timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode == 2 and "Traceback" not in output and needle in output, output
