"""Rolling trade windows against a brute-force numpy recomputation of every window at every
query, on hand-made events, seeded random streams, and streams built to expose the float
drift of running sums."""

from __future__ import annotations

import math
from collections import deque
import random

import numpy as np
import pytest

from quantcore.microstructure.trade_windows import TradeWindows, window_label

S = 1_000_000


def reference(trades, mids, now, window):
    """Every statistic of the window (now − w, now] straight from the definitions."""
    t = np.array([e[0] for e in trades], dtype=np.int64).reshape(-1)
    p = np.array([e[1] for e in trades], dtype=float).reshape(-1)
    q = np.array([e[2] for e in trades], dtype=float).reshape(-1)
    sell = np.array([e[3] for e in trades], dtype=bool).reshape(-1)
    inside = (t > now - window) & (t <= now)
    volume = q[inside].sum()
    buy, sold = q[inside & ~sell].sum(), q[inside & sell].sum()
    mt = np.array([e[0] for e in mids], dtype=np.int64).reshape(-1)
    m = np.array([e[1] for e in mids], dtype=float).reshape(-1)[(mt > now - window) & (mt <= now)]
    returns = np.log1p(np.diff(m) / m[:-1])
    return {
        "trade_count": int(inside.sum()),
        "vwap": float((p[inside] * q[inside]).sum() / volume) if volume > 0 else None,
        "tfi": float((buy - sold) / volume) if volume > 0 else None,
        "rv": float(np.sqrt(np.sum(returns ** 2))) if len(m) >= 2 else None,
    }


def check(got: dict, trades, mids, now, windows):
    for window in windows:
        label = window_label(window)
        expected = reference(trades, mids, now, window)
        assert got[f"trade_count_{label}"] == expected["trade_count"]
        for name, tolerance in (("vwap", dict(rel=1e-12)), ("tfi", dict(abs=1e-12)), ("rv", dict(rel=1e-9))):
            value, want = got[f"{name}_{label}"], expected[name]
            assert (value is None) == (want is None), (name, label, now, value, want)
            if want is not None:
                assert value == pytest.approx(want, **tolerance), (name, label, now)


def test_names_and_empty_windows():
    windows = TradeWindows()
    values = windows.values(0)
    assert list(values) == [f"{stat}_{label}" for label in ("1s", "10s", "60s")
                            for stat in ("trade_count", "vwap", "tfi", "rv")]
    assert values["trade_count_1s"] == 0
    assert all(values[k] is None for k in values if not k.startswith("trade_count"))
    assert [window_label(w) for w in (2 * S, 1_500_000, 250_000, 250)] == ["2s", "1500ms", "250ms", "250us"]


def test_hand_computed_window():
    windows = TradeWindows(windows_us=(S,))
    windows.add_trade(10, 100.0, 1.0, buyer_is_maker=False)      # a buy
    windows.add_trade(10, 102.0, 3.0, buyer_is_maker=True)       # same time; m=true: a sell
    windows.add_mid(10, 100.0)
    windows.add_mid(20, 101.0)
    windows.add_mid(30, 100.0)
    values = windows.values(30)
    assert values["trade_count_1s"] == 2
    assert values["vwap_1s"] == (100.0 * 1 + 102.0 * 3) / 4
    assert values["tfi_1s"] == (1.0 - 3.0) / 4
    assert values["rv_1s"] == pytest.approx(math.hypot(math.log(1.01), math.log(100 / 101)), rel=1e-15)
    # At 10 + 1 s the window is (10, 1_000_010]: the trades and the first mid have left,
    # and the 100 -> 101 return, which started outside, no longer counts.
    values = windows.values(10 + S)
    assert values["trade_count_1s"] == 0 and values["vwap_1s"] is None and values["tfi_1s"] is None
    assert values["rv_1s"] == pytest.approx(abs(math.log(100 / 101)), rel=1e-15)
    assert windows.values(20 + S)["rv_1s"] is None  # one mid left: no return
    assert windows.values(30 + S)["rv_1s"] is None


def test_window_is_open_on_the_left_and_closed_on_the_right():
    windows = TradeWindows(windows_us=(S,))
    windows.add_trade(0, 10.0, 1.0, False)
    windows.add_trade(S, 20.0, 1.0, False)
    windows.add_trade(S + 1, 30.0, 1.0, False)  # after `now`: not yet counted
    values = windows.values(S)
    assert values["trade_count_1s"] == 1 and values["vwap_1s"] == 20.0
    values = windows.values(S + 1)
    assert values["trade_count_1s"] == 2 and values["vwap_1s"] == 25.0


def test_order_and_input_errors():
    windows = TradeWindows(windows_us=(S,))
    windows.add_trade(5, 10.0, 1.0, False)
    with pytest.raises(ValueError, match="time order"):
        windows.add_trade(4, 10.0, 1.0, False)
    windows.add_mid(3, 10.0)  # mids are their own stream
    windows.values(10)
    with pytest.raises(ValueError, match="forward"):
        windows.values(9)
    for bad in (0.0, -1.0, math.nan, math.inf):
        with pytest.raises(ValueError):
            windows.add_trade(20, bad, 1.0, False)
        with pytest.raises(ValueError):
            windows.add_trade(20, 10.0, bad, False)
        with pytest.raises(ValueError):
            windows.add_mid(20, bad)
    for windows_us in ((), (0,), (S, S), (1.5,)):
        with pytest.raises(ValueError):
            TradeWindows(windows_us=windows_us)


def random_stream(seed: int, events: int):
    """Trades on a 0.01 grid with quantities of up to 8 decimals (what Binance prints),
    mids, equal timestamps, bursts and gaps longer than the longest window, and queries
    that sometimes lag the newest event."""
    rng = random.Random(seed)
    time_us, mid = 1_700_000_000 * S, 30_000.0
    script = []
    for _ in range(events):
        time_us += rng.choice([0, 0, 0, 1, 137, 1_000, 50_000, 400_000, 999_999, 1_000_000, 3 * S, 70 * S])
        kind = rng.random()
        if kind < 0.55:
            price = round(mid + rng.randint(-50, 50) * 0.01, 2)
            qty = round(rng.uniform(0.00001, 5), rng.randint(0, 8)) or 0.00000001
            script.append(("trade", time_us, price, qty, rng.random() < 0.5))
        elif kind < 0.85:
            mid = round(mid * math.exp(rng.gauss(0, 2e-4)) * 2, 2) / 2
            script.append(("mid", time_us, mid))
        else:
            script.append(("query", time_us - rng.choice([0, 0, 0, 1, 500_000])))
    return script


@pytest.mark.parametrize("windows_us", [(S, 10 * S, 60 * S), (250_000, 3 * S)])
def test_random_streams_equal_brute_force(windows_us):
    windows = TradeWindows(windows_us=windows_us)
    trades, mids, queries, last_now = [], [], 0, 0
    for event in random_stream(seed=20, events=6000):
        if event[0] == "trade":
            _, t, price, qty, buyer_is_maker = event
            windows.add_trade(t, price, qty, buyer_is_maker)
            trades.append((t, price, qty, buyer_is_maker))
        elif event[0] == "mid":
            windows.add_mid(event[1], event[2])
            mids.append((event[1], event[2]))
        else:
            now = max(event[1], last_now)
            check(windows.values(now), trades, mids, now, windows_us)
            last_now, queries = now, queries + 1
    assert queries > 500


def naive_float_tfi_and_rv(trades, mids, now, window):
    """Running float sums, each event added on arrival and subtracted when it leaves the
    window (events replayed in time order): what drifts."""
    events = sorted([(t, 0, i) for i, (t, *_) in enumerate(trades)] + [(t, 1, i) for i, (t, _) in enumerate(mids)])
    buy = sell = squares = 0.0
    inside: deque[tuple[int, int, float]] = deque()  # (time, kind, value): kind 0 buy, 1 sell, 2 square
    for t, kind, i in events + [(now, 2, -1)]:
        if kind == 0:
            _, _, qty, is_sell = trades[i]
            inside.append((t, 1 if is_sell else 0, qty))
            buy, sell = (buy, sell + qty) if is_sell else (buy + qty, sell)
        elif kind == 1 and i > 0:
            square = math.log(mids[i][1] / mids[i - 1][1]) ** 2
            inside.append((t, 2, square))
            squares += square
        while inside and inside[0][0] <= t - window:
            _, which, value = inside.popleft()
            if which == 0:
                buy -= value
            elif which == 1:
                sell -= value
            else:
                squares -= value
    oldest_square = next(value for _, which, value in inside if which == 2)  # its return started outside
    return (buy - sell) / (buy + sell), squares - oldest_square


def test_sums_do_not_drift():
    """After a long stretch of large, uneven values leaves the window, what is left is
    exact: the buys-only TFI is exactly 1, the VWAP of one price is that price, and a
    window of equal mids has a realized volatility of exactly 0 (running float sums leave
    residues there, which the naive version below shows)."""
    rng = random.Random(5)
    windows = TradeWindows(windows_us=(S,))
    trades, mids = [], []
    for i in range(20_000):
        t = i * 50
        trade = (t, round(rng.uniform(1e4, 1e5), 2), round(rng.uniform(1e3, 1e7), 8), rng.random() < 0.5)
        trades.append(trade)
        windows.add_trade(*trade)
        mid = (t, round(rng.uniform(90, 110), 2))
        mids.append(mid)
        windows.add_mid(*mid)
        if i % 1000 == 0:
            windows.values(t)
    start = 20_000 * 50 + 2 * S
    for i in range(50):
        trade = (start + i, 0.00001234, 0.00000003, False)
        trades.append(trade)
        windows.add_trade(*trade)
        mid = (start + i, 42.5)
        mids.append(mid)
        windows.add_mid(*mid)
    now = start + 49
    values = windows.values(now)
    assert values["trade_count_1s"] == 50
    assert values["tfi_1s"] == 1.0
    assert values["vwap_1s"] == 0.00001234
    assert values["rv_1s"] == 0.0
    naive_tfi, naive_squares = naive_float_tfi_and_rv(trades, mids, now, S)
    assert naive_tfi != 1.0 and naive_squares != 0.0, "the stream is hard enough to make float sums drift"


def test_memory_is_bounded_by_the_windows():
    windows = TradeWindows(windows_us=(S, 10 * S))
    trades, mids = [], []
    for i in range(60_000):
        t = i * 1_000  # 1000 events a second
        trades.append((t, 100.0 + (i % 7) * 0.01, 1.0 + (i % 3), i % 2 == 0))
        windows.add_trade(*trades[-1])
        mids.append((t, 100.0 + (i % 5) * 0.005))
        windows.add_mid(*mids[-1])
        if i % 100 == 0:
            windows.values(t)
            assert len(windows.trades.times) <= 3 * 10_000 + 4_096 + 100
    now = 60_000 * 1_000
    check(windows.values(now), trades[-20_000:], mids[-20_000:], now, (S, 10 * S))
