"""The `microprice_tables` asset materialized in-process by Dagster: a synthetic book_signals
(written with deltalake, no Spark) in a temp Delta root, a real Redis; the Delta rows, the
published payload and a backfill of an older day that must not move Redis back."""

from __future__ import annotations

import json
import random
from datetime import date

import polars as pl
import pytest
from dagster import DagsterInstance, materialize
from deltalake import write_deltalake

from quantcore.clients import redis_client
from quantcore.settings import Settings
from quantcore_platform.replay_assets import microprice_tables_asset
from quantcore_platform.resources import QuantcoreSettingsResource
from quantcore_platform.services.process import free_port
from streaming.spark import microprice_tables as mt
from streaming.spark.delta_tables import BOOK_SIGNALS
from tests.support.settings import settings_toml
from tests.unit.test_microprice_tables import random_walk

pytestmark = pytest.mark.slow
DAYS = (date(2024, 3, 1), date(2024, 3, 2))


def book_signals(root: str) -> dict[date, list[tuple]]:
    """Two days of BTCUSDT books (tick 0.01) and a symbol whose spreads are all too wide."""
    written = {}
    for n, day in enumerate(DAYS):
        start = (day - date(1970, 1, 1)).days * 86_400_000_000
        books = random_walk(random.Random(n), 6000, start)
        written[day] = books
        rows = [{"symbol": "BTCUSDT", "update_id": i + 1 + 10_000 * n, "event_time_us": t, "best_bid": b,
                 "best_ask": a, "best_bid_qty": bq, "best_ask_qty": aq, "invalid_reason": None, "date": day}
                for i, (t, b, a, bq, aq) in enumerate(books)]
        rows += [{"symbol": "WIDEUSDT", "update_id": i + 1, "event_time_us": start + i * 100_000, "best_bid": 1.0,
                  "best_ask": 1.5, "best_bid_qty": 1.0, "best_ask_qty": 1.0, "invalid_reason": None, "date": day}
                 for i in range(50)]
        write_deltalake(f"{root}/{BOOK_SIGNALS}", pl.DataFrame(rows).to_arrow(), mode="append", partition_by=["date"])
    return written


def test_tables_are_estimated_written_and_published(redis_service: Settings, tmp_path):
    root = str(tmp_path / "delta")
    written = book_signals(root)
    resource = QuantcoreSettingsResource(config_file=settings_toml(tmp_path / "qc.toml", redis_service,
                                                                   data_root=root, simulator_port=free_port()))

    def run(day: date):
        return materialize([microprice_tables_asset], resources={"quantcore": resource},
                           instance=DagsterInstance.ephemeral(), partition_key=day.isoformat())

    result = run(DAYS[1])
    assert result.success
    (event,) = result.get_asset_materialization_events()
    (origin,) = event.materialization.metadata["tick_sources"].value  # no simulator on its port: the fallback
    assert origin.startswith(mt.SIMULATOR_INSTRUMENTS) and "ConnectionRefusedError" in origin
    rows = pl.read_delta(f"{root}/{mt.TABLE}")
    (row,) = rows.to_dicts()
    assert row["symbol"] == "BTCUSDT" and row["date"] == DAYS[1] and row["estimated_from"] == "2024-02-29..2024-03-02"
    expected = mt.estimate_symbol("BTCUSDT", DAYS[1], mt.history_days(DAYS[1]), written[DAYS[0]] + written[DAYS[1]],
                                  0.01)
    assert json.loads(row["table"])["table"] == expected.table.to_dict(), "the pure estimate of both days' books"
    assert row["samples"] == expected.samples and row["last_term_ticks"] == expected.table.last_term_ticks

    client = redis_client(redis_service.redis)
    try:
        stored = mt.Published.parse(client.get(mt.redis_key("BTCUSDT")))
        assert stored.table == expected.table and stored.day == "2024-03-02" and stored.tick == 0.01
        assert client.get(mt.redis_key("WIDEUSDT")) is None, "no table for a symbol without usable quotes"

        assert run(DAYS[0]).success  # a backfill of an older day
        assert sorted(pl.read_delta(f"{root}/{mt.TABLE}")["date"].to_list()) == list(DAYS)
        assert mt.Published.parse(client.get(mt.redis_key("BTCUSDT"))).day == "2024-03-02", "never moved back"
        client.delete(mt.redis_key("BTCUSDT"))
    finally:
        client.close()
