"""The rows of `quantcore watch`: values, missing values, age and rate."""

from __future__ import annotations

from quantcore.wire import MarketUpdate
from serving.watch import COLUMNS, WatchState, format_age, format_price
from quantcore.samples import signal_update


def message(kind, *updates) -> MarketUpdate:
    return MarketUpdate(kind=kind, updates=list(updates), server_send_us=1)


def test_rows_show_signals_age_and_rate():
    btc = signal_update("BTCUSDT", 1, obi=0.5, mid=65_000.0)
    btc.times.publish_us = 1_000_000
    state = WatchState(["BTCUSDT", "ETHUSDT"], rate_window_s=5)
    state.apply(message(MarketUpdate.SNAPSHOT, btc), now=100.0)
    for i in range(1, 11):
        update = signal_update("BTCUSDT", 1 + i, obi=-0.25, mid=65_001.0)
        update.times.publish_us = 1_000_000 + i * 100_000
        state.apply(message(MarketUpdate.UPDATE, update), now=100.0 + i * 0.1)
    rows = {row[0]: dict(zip(COLUMNS, row)) for row in state.rows(now=101.0, wall_us=2_250_000)}
    assert rows["BTCUSDT"] == {"symbol": "BTCUSDT", "obi_1": "-0.250", "obi_5": "-0.125", "obi_10": "-0.062",
                               "obi_20": "-0.031", "mid": "65,001.00", "spread bps": "0.15", "age": "250ms",
                               "msgs/s": "10.0"}
    assert set(rows["ETHUSDT"].values()) == {"ETHUSDT", "-"}, "asked for but not seen yet"
    assert state.rate("BTCUSDT", now=110.0) == 0.0, "old arrivals leave the window"


def test_unset_signals_and_formats():
    update = signal_update("SHIBUSDT", 1)
    update.signals.ClearField("obi_1")
    state = WatchState()
    state.apply(message(MarketUpdate.UPDATE, update), now=0.0)
    row = state.rows(now=0.0, wall_us=0)[0]
    assert row[0] == "SHIBUSDT" and row[1] == "-" and row[7] == "-", "no value, no publish time"
    assert format_price(0.00001234) == "1.234e-05" and format_price(1234.5) == "1,234.50"
    assert (format_age(0.0123), format_age(5.25), format_age(600)) == ("12ms", "5.2s", "10m")
