"""The whole platform as an operator gets it: `quantcore up --detach` in a temporary home,
the Dagster UI in headless Chromium, terminate a stream from the UI, watch the health
sensor bring it back, and `quantcore down` leaving no process behind.

The platform is the session's (`seed_platform`, tests/fixtures/platform.py): when one session
runs the chaos suite too, it killed each component of it before, and it came back; the last
test here takes it down.
Screenshots go to test-artifacts/ for a person to look at.
"""

from __future__ import annotations

import json
import time

import pytest

from bench.platform_cost import OTHER
from bench.scenarios.cost import measure_running_platform
from quantcore.polling import wait_until
from quantcore_platform.services.dagster_services import DagsterApi
from quantcore_platform.services.process import processes_of_home, rss_mib
from quantcore_platform.services.readiness import wait_for_signals
from tests.support.platform_cli import cli

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def test_up_brings_all_symbols_to_a_grpc_client(seed_platform, artifacts_dir):
    settings, up_seconds = seed_platform
    symbols_wanted = settings.market.symbols
    seconds, symbols = wait_for_signals(settings.serve, timeout=120, want_symbols=len(symbols_wanted))
    memory = rss_mib(list(processes_of_home(settings.paths.home_dir)))
    (artifacts_dir / "platform-figures.json").write_text(json.dumps(
        {"up_to_first_update_s": round(up_seconds, 1), "all_symbols_after_s": round(seconds, 1),
         "platform_rss_mib": round(memory)}, indent=2))
    assert symbols == set(symbols_wanted)


def test_standing_cost_of_each_component(seed_platform, artifacts_dir):
    """`quantcore bench cost`'s measure, on this running platform for a few seconds: every
    process of the home is some component's, and each component costs memory; the data
    path costs CPU while the client receives updates."""
    settings, _ = seed_platform
    measured = measure_running_platform(settings, duration_s=6.0, sample_s=1.0)
    (artifacts_dir / "platform-cost.json").write_text(json.dumps(measured, indent=2))
    components = measured["components"]
    assert OTHER not in components, f"processes of no component: {components.get(OTHER)}"
    assert set(components) >= {"kafka", "redis", "simulator", "ingest", "compute", "serve", "supervisor",
                               "dagster-code-server", "dagster-webserver", "dagster-daemon"}, sorted(components)
    assert all(c["rss_mib_median"] > 0 and c["processes"] >= 1 for c in components.values()), components
    assert all(components[name]["cores"] > 0 for name in ("kafka", "simulator", "ingest", "compute")), components
    assert measured["client"]["updates"] > 0
    assert 0 < measured["platform_cores"] <= measured["machine_cores_busy"] + 0.2, measured


def test_ui_shows_streams_and_heals_a_terminated_one(seed_platform, artifacts_dir):
    from playwright.sync_api import sync_playwright

    settings, _ = seed_platform
    api = DagsterApi(settings)
    runs = {run["jobName"]: run["runId"] for run in api.stream_runs(["STARTED"])}
    assert set(runs) == {"ingest_stream", "compute_stream", "serve_stream"}
    ui = f"http://127.0.0.1:{settings.dagster.port}"

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})

        page.goto(f"{ui}/runs")
        for job in runs:
            page.get_by_text(job).first.wait_for(timeout=60_000)
        page.screenshot(path=artifacts_dir / "dagster-runs.png")

        page.goto(f"{ui}/asset-groups")
        page.get_by_text("live_signals").first.wait_for(timeout=60_000)
        for asset in ("book_topic", "books_raw", "book_signals"):
            page.get_by_text(asset).first.wait_for(timeout=10_000)
        page.screenshot(path=artifacts_dir / "dagster-asset-graph.png")

        victim = runs["serve_stream"]
        page.goto(f"{ui}/runs/{victim}")
        page.get_by_role("button", name="Terminate").first.click(timeout=60_000)
        page.get_by_role("dialog").get_by_role("button", name="Terminate").click(timeout=10_000)
        stopped_at = time.monotonic()
        wait_until(lambda: _status(api, victim) in ("CANCELED", "FAILURE", "SUCCESS"), 60, "the terminated run to stop",
                   interval=1)
        stop_seconds = time.monotonic() - stopped_at
        page.reload()
        page.screenshot(path=artifacts_dir / "dagster-run-terminated.png")

        replacement = wait_until(lambda: _started_run(api, "serve_stream", exclude=victim), 120,
                                 "the health sensor to restart serve_stream", interval=1)
        restart_seconds = time.monotonic() - stopped_at
        page.goto(f"{ui}/runs/{replacement}")
        page.get_by_text("serve stream started").first.wait_for(timeout=60_000)
        page.screenshot(path=artifacts_dir / "dagster-run-restarted.png")
        browser.close()

    wait_for_signals(settings.serve, timeout=60)  # clients are served again
    (artifacts_dir / "platform-restart.json").write_text(json.dumps(
        {"terminate_to_stopped_s": round(stop_seconds, 1), "terminate_to_restarted_s": round(restart_seconds, 1)}))
    assert stop_seconds < 30


def test_down_leaves_no_process(seed_platform):
    settings, _ = seed_platform
    assert processes_of_home(settings.paths.home_dir), "the platform runs before down"
    result = cli(settings, "down")
    assert result.returncode == 0, result.stderr
    assert "run terminated through Dagster" in result.stderr
    wait_until(lambda: not processes_of_home(settings.paths.home_dir), 30, "every platform process to exit",
               interval=1)


def _status(api: DagsterApi, run_id: str) -> str | None:
    data = api.query("query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }", {"id": run_id})
    return data["runOrError"].get("status")


def _started_run(api: DagsterApi, job: str, exclude: str) -> str | None:
    return next((r["runId"] for r in api.stream_runs(["STARTED"]) if r["jobName"] == job and r["runId"] != exclude),
                None)

