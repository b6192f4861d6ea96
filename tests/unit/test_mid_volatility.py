"""Realized volatility of the mid: the writer's per-symbol windows (MidVolatility, on
TradeWindows) against the replay's Spark windows (add_rv), and the writer's handling of
superseded books, runs and restarts (fake Redis, as test_redis_writer_chaining.py)."""

from __future__ import annotations

import math
import random

import pytest

from quantcore.microstructure.trade_windows import TradeWindows
from streaming.spark.mid_volatility import MidVolatility
from streaming.spark.signals import RV_COLUMNS, RV_WINDOWS_US
from tests.unit.test_redis_writer_chaining import FakeRedis, book_row, sink_on

SECOND = 1_000_000


def brute_force(books: list[tuple[int, float]], j: int, window_us: int) -> float | None:
    """The definition, literally: books[..j] (time, mid) in order, those with t − w < tᵢ ≤ t,
    the returns from each one's predecessor but the oldest's."""
    now = books[j][0]
    inside = [i for i in range(j + 1) if now - window_us < books[i][0] <= now]
    if len(inside) < 2:
        return None
    return math.sqrt(sum(math.log(books[i][1] / books[i - 1][1]) ** 2 for i in inside[1:]))


def random_books(rng: random.Random, count: int) -> list[dict]:
    """Books of a few symbols over two days: event times with ties and gaps (and, rarely,
    going backwards), mids on a tick grid, some books invalid, one-sided or without time."""
    books, clock, mids, update_ids = [], {}, {}, {}
    for _ in range(count):
        symbol = rng.choice(["A", "B", "C"])
        clock[symbol] = clock.get(symbol, 0) + rng.choice([0, 0, 1_000, 50_000, 300_000, 2 * SECOND,
                                                           15 * SECOND, 70 * SECOND, -2_000])
        mids[symbol] = max(1.0, mids.get(symbol, 100.0) + rng.randint(-2, 2) * 0.05)
        update_ids[symbol] = update_ids.get(symbol, 0) + rng.randint(1, 3)
        time_us = max(1, clock[symbol])
        day = "2024-03-01" if time_us < 900 * SECOND else "2024-03-02"
        mid = None if rng.random() < 0.03 else mids[symbol]
        books.append({"symbol": symbol, "update_id": update_ids[symbol], "date": day,
                      "event_time_us": 0 if rng.random() < 0.02 else time_us, "mid": mid,
                      "valid": rng.random() > 0.05})
    return books


def writer_values(books: list[dict]) -> dict[tuple[str, int], dict]:
    """Every book as if published: fed in order, each read right after it is fed (one
    state per symbol and day, as the replay is per day)."""
    states: dict[tuple[str, str], MidVolatility] = {}
    result = {}
    for book in books:
        state = states.setdefault((book["symbol"], book["date"]), MidVolatility())
        if book["valid"]:
            state.feed(book["symbol"], book["update_id"], book["event_time_us"], book["mid"])
        result[(book["symbol"], book["update_id"])] = state.values(book["symbol"], book["update_id"]) \
            if book["valid"] else dict.fromkeys(RV_COLUMNS)
    return result


def test_the_writer_state_is_the_definition():
    rng = random.Random(3)
    series, state = [], MidVolatility()
    clock = 0
    for update_id in range(1, 400):
        clock += rng.choice([0, 100_000, 400_000, 3 * SECOND, 20 * SECOND])
        mid = 100 + rng.randint(-20, 20) * 0.01
        assert state.feed("X", update_id, clock, mid)
        series.append((clock, mid))
        values = state.values("X", update_id)
        for window_us, name in zip(RV_WINDOWS_US, RV_COLUMNS, strict=True):
            expected = brute_force(series, len(series) - 1, window_us)
            assert values[name] == pytest.approx(expected, rel=1e-12) if expected is not None else \
                values[name] is None
    assert not state.feed("X", 399, clock, 100.0), "an update id not above the last is not fed"
    assert not state.feed("X", 500, 0, 100.0) and not state.feed("X", 501, clock, None)
    assert state.values("X", 501) == dict.fromkeys(RV_COLUMNS), "an unfed book has none"


def test_the_writer_uses_trade_windows():
    state = MidVolatility()
    windows = TradeWindows(RV_WINDOWS_US)
    for update_id, (time_us, mid) in enumerate([(1, 100.0), (500_000, 100.5), (900_000, 100.0), (1_200_000, 99.0)]):
        state.feed("X", update_id, time_us, mid)
        windows.add_mid(time_us, mid)
    assert state.values("X", 3) == {name: windows.values(1_200_000)[name] for name in RV_COLUMNS}


@pytest.mark.slow
def test_the_replay_windows_equal_the_writer_state(spark):
    from pyspark.sql import functions as F

    from streaming.spark.mid_volatility import add_rv

    books = random_books(random.Random(7), 1500)
    frame = spark.createDataFrame(
        [(b["symbol"], b["update_id"], b["date"], b["event_time_us"], b["mid"], b["valid"]) for b in books],
        "symbol string, update_id long, date string, event_time_us long, mid double, valid boolean")
    rows = add_rv(frame, F.col("valid"), F.col("mid"), F.col("event_time_us")).collect()
    got = {(r.symbol, r.update_id): {name: r[name] for name in RV_COLUMNS} for r in rows}
    expected = writer_values(books)
    assert got.keys() == expected.keys()
    for key, values in expected.items():
        for name in RV_COLUMNS:
            if values[name] is None:
                assert got[key][name] is None, (key, name)
            else:
                assert got[key][name] == pytest.approx(values[name], rel=1e-9, abs=1e-15), (key, name)
    defined = [v for values in expected.values() for v in values.values() if v is not None]
    assert len(defined) > 1000 and sum(v == 0.0 for v in defined) > 10, "moving and flat windows covered"


def mid_row(symbol: str, update_id: int, time_us: int, mid: float) -> dict:
    row = book_row(symbol, update_id, [(mid - 0.5, 1.0)], [(mid + 0.5, 1.0)])
    row.update(exchange_event_us=time_us, mid=mid)
    return row


def test_the_writer_counts_superseded_books_and_conflation_changes_nothing():
    mids = [100.0, 100.5, 101.0, 100.0, 99.5, 100.0, 102.0]
    rows = [mid_row("A", i + 1, (i + 1) * 100_000, mid) for i, mid in enumerate(mids)]
    one_run, published = sink_on(FakeRedis())
    one_run.write(rows)
    (update,) = published
    expected = math.sqrt(sum(math.log(b / a) ** 2 for a, b in zip(mids, mids[1:])))
    assert update.signals.rv_1s == pytest.approx(expected, rel=1e-12), "every book's return, superseded ones too"
    assert update.signals.rv_60s == update.signals.rv_10s == update.signals.rv_1s

    run_by_run, published = sink_on(FakeRedis())
    for row in rows:
        run_by_run.write([row])
    assert [u.update_id for u in published] == list(range(1, 8))
    assert not published[0].signals.HasField("rv_1s"), "one mid: no return yet"
    assert published[-1].signals.rv_1s == update.signals.rv_1s, "conflation does not change the value"


def test_a_gap_in_what_the_process_saw_drops_its_state():
    redis = FakeRedis()
    first, published = sink_on(redis)
    first.write([mid_row("A", 1, 100_000, 100.0), mid_row("A", 2, 200_000, 101.0)])
    assert published[-1].signals.HasField("rv_1s")

    other, _ = sink_on(redis)  # another process writes book 3: `first` never sees it
    other.write([mid_row("A", 3, 300_000, 102.0)])
    first.write([mid_row("A", 4, 400_000, 103.0)])
    assert not published[-1].signals.HasField("rv_1s"), "state dropped, book 4 alone in its windows"
    first.write([mid_row("A", 5, 500_000, 104.0)])
    assert published[-1].signals.rv_1s == pytest.approx(abs(math.log(104.0 / 103.0)), rel=1e-12)

    restarted, published = sink_on(redis)  # a restart starts empty (documented)
    restarted.write([mid_row("A", 6, 600_000, 105.0)])
    assert not published[-1].signals.HasField("rv_1s")
