"""Imbalance, weighted mid and Stoikov (2018)'s micro-price: hand-computed chains with known
answers, and a seeded random market against an independent numpy estimator."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest

from quantcore.microstructure.microprice import (
    MicropriceTable,
    Quote,
    Transition,
    apply,
    estimate,
    imbalance,
    imbalance_bucket,
    spread_ticks,
    transitions,
    weighted_mid,
)


def test_imbalance_and_weighted_mid():
    assert imbalance(3.0, 1.0) == 0.75
    assert imbalance(0.0, 0.0) is None
    assert weighted_mid(100.0, 101.0, 3.0, 1.0) == 100.75  # leans to the ask: buyers queue up
    assert weighted_mid(100.0, 101.0, 0.0, 0.0) is None
    rng = random.Random(3)
    for _ in range(1000):
        bid = round(rng.uniform(1, 1000), 2)
        ask = bid + rng.randint(1, 5) * 0.01
        bid_qty, ask_qty = rng.uniform(0.01, 100), rng.uniform(0.01, 100)
        obi_1 = (bid_qty - ask_qty) / (bid_qty + ask_qty)  # the stream's weighted_mid = mid + S/2·obi_1
        assert weighted_mid(bid, ask, bid_qty, ask_qty) == pytest.approx((bid + ask) / 2 + (ask - bid) / 2 * obi_1,
                                                                          rel=1e-14)


def test_buckets_and_spread_ticks():
    assert [imbalance_bucket(i, 10) for i in (0.0, 0.0999, 0.1, 0.5, 0.95, 1.0)] == [0, 0, 1, 5, 9, 9]
    assert imbalance_bucket(0.5, 2) == 1 and imbalance_bucket(0.49, 2) == 0
    assert spread_ticks(100.0, 100.01, 0.01) == 1  # 0.00999999999999801 / 0.01
    assert spread_ticks(0.1, 0.3, 0.1) == 2
    with pytest.raises(ValueError):
        spread_ticks(100.0, 101.0, 0.0)


def test_transitions_between_consecutive_quotes_in_range():
    quotes = [
        Quote(100.0, 101.0, 9.0, 1.0),   # bucket 9 (I = 0.9), spread 1
        Quote(100.0, 101.0, 1.0, 1.0),   # no move, bucket 5
        Quote(101.0, 102.0, 1.0, 3.0),   # up a tick, bucket 2
        Quote(101.0, 103.0, 1.0, 3.0),   # up half a tick, spread 2
        Quote(101.0, 104.0, 1.0, 3.0),   # spread 3: out of range, breaks the chain
        Quote(101.0, 102.0, 1.0, 3.0),   # not linked to the quote before the break
        Quote(103.0, 104.0, 1.0, 3.0),   # up two ticks: dropped
        Quote(103.0, 104.0, 0.0, 0.0),   # no quantity: out of range
        Quote(103.0, 104.0, 3.0, 1.0),
        Quote(102.0, 103.0, 3.0, 1.0),   # down a tick
    ]
    assert list(transitions(quotes, tick=1.0, buckets=10, max_spread_ticks=2)) == [
        Transition(9, 1, 5, 1, 0),
        Transition(5, 1, 2, 1, 2),
        Transition(2, 1, 2, 2, 1),
        Transition(7, 1, 7, 1, -2),
    ]


# A three-bucket chain whose answer is known in closed form (one spread).
# From the high bucket 2: half the time nothing happens, a quarter of the time the queue
# thins to bucket 1 without a move, a quarter of the time the mid ticks up into bucket 1.
# From bucket 1 the mid ticks up once (mirrored: down once), staying in bucket 1.
# Symmetrised: G1(2) = ½·G1(2) + ¼·G1(1) + ¼·1, G1(1) = 0, so G1(2) = ½ and G1(0) = −½;
# every first move lands in bucket 1, so B·G1 = 0 and the micro-price adjustment is G1.
CHAIN = [Transition(2, 1, 2, 1, 0)] * 2 + [Transition(2, 1, 1, 1, 0), Transition(2, 1, 1, 1, 2),
                                           Transition(1, 1, 1, 1, 2)]


def test_known_chain():
    table = estimate(CHAIN, buckets=3, max_spread_ticks=1)
    assert table.adjustments == ((-0.5, 0.0, 0.5),)
    assert table.terms == 6 and table.last_term_ticks == 0.0 and table.transitions == 5 and table.symmetrized
    assert apply(table, 100.0, 101.0, 9.0, 1.0, tick=1.0) == 101.0  # bucket 2
    assert apply(table, 100.0, 101.0, 1.0, 1.0, tick=1.0) == 100.5
    assert apply(table, 100.0, 101.0, 1.0, 9.0, tick=1.0) == 100.0
    assert apply(table, 10.0, 10.01, 9.0, 1.0, tick=0.01) == pytest.approx(10.01)
    assert apply(table, 100.0, 102.0, 9.0, 1.0, tick=1.0) is None  # a 2-tick spread is not in the table
    assert apply(table, 100.0, 101.0, 0.0, 0.0, tick=1.0) is None
    assert apply(table, 101.0, 100.0, 9.0, 1.0, tick=1.0) is None  # crossed


def test_without_symmetrisation_a_trend_does_not_converge_and_the_table_says_so():
    table = estimate(CHAIN, buckets=3, max_spread_ticks=1, terms=6, symmetrize=False)
    # Only up-moves: G1 = 1 tick from buckets 1 and 2, B·G1 = G1 there, so each term adds 1.
    assert table.adjustments == ((None, 6.0, 6.0),)  # bucket 0 was never seen
    assert table.last_term_ticks == 1.0
    assert apply(table, 100.0, 101.0, 1.0, 9.0, tick=1.0) is None


def test_table_round_trips_through_json():
    table = estimate(CHAIN, buckets=3, max_spread_ticks=2)
    assert table.adjustments[1] == (None, None, None)
    data = json.loads(json.dumps(table.to_dict()))
    assert MicropriceTable.from_dict(data) == table
    data["adjustments"] = data["adjustments"][:1]
    with pytest.raises(ValueError):
        MicropriceTable.from_dict(data)


def test_estimation_errors():
    with pytest.raises(ValueError, match="singular"):
        estimate([Transition(1, 1, 1, 1, 0)] * 3, buckets=3, max_spread_ticks=1)
    with pytest.raises(ValueError, match="out of range"):
        estimate([Transition(3, 1, 1, 1, 0)], buckets=3, max_spread_ticks=1)
    with pytest.raises(ValueError, match="out of range"):
        estimate([Transition(1, 1, 1, 1, 3)], buckets=3, max_spread_ticks=1)


def simulated_quotes(count: int, seed: int, tick: float = 0.01) -> list[Quote]:
    """A market where the queues predict the next move: the mid ticks toward the thinner
    side with a probability rising with the imbalance; spreads of 1-3 ticks."""
    rng = random.Random(seed)
    bid, spread, bid_qty, ask_qty = 10_000, 1, 5.0, 5.0  # prices in ticks
    quotes = []
    for _ in range(count):
        quotes.append(Quote(bid * tick, (bid + spread) * tick, bid_qty, ask_qty))
        share = bid_qty / (bid_qty + ask_qty)
        u = rng.random()
        if u < 0.15 * share:  # ask queue depleted: up
            bid, spread = (bid + 1, 1) if spread == 1 else (bid + 1, spread - 1)
            bid_qty, ask_qty = rng.uniform(0.5, 10), rng.uniform(0.5, 10)
        elif u < 0.15:  # bid queue depleted: down
            bid, spread = (bid - 1, 1) if spread == 1 else (bid, spread - 1)
            bid_qty, ask_qty = rng.uniform(0.5, 10), rng.uniform(0.5, 10)
        elif u < 0.20:  # a side backs off: the spread widens
            spread = min(spread + 1, 3)
            bid -= rng.choice([0, 1]) if spread > 1 else 0
        else:
            bid_qty = max(0.1, bid_qty + rng.uniform(-1.5, 1.5))
            ask_qty = max(0.1, ask_qty + rng.uniform(-1.5, 1.5))
    return quotes


def reference_transitions(quotes: list[Quote], tick: float, n: int, s_max: int) -> list[tuple[int, ...]]:
    """The paper's data preparation, vectorised over consecutive pairs."""
    q = np.array(quotes)
    bid, ask, bq, aq = q.T
    share = bq / (bq + aq)
    bucket = np.minimum(n - 1, np.floor(share * n)).astype(int)
    spread = np.rint((ask - bid) / tick).astype(int)
    ok = (spread >= 1) & (spread <= s_max)
    mid = (bid + ask) / 2
    change = np.rint(np.diff(mid) * 2 / tick).astype(int)
    keep = ok[:-1] & ok[1:] & (np.abs(change) <= 2)
    i = np.nonzero(keep)[0]
    return list(zip(bucket[i], spread[i], bucket[i + 1], spread[i + 1], change[i], strict=True))


def reference_estimate(rows, n: int, s_max: int, terms: int, symmetrize: bool = True):
    """Stoikov's estimator with numpy: counts, row-normalised Q, R1, R2, then
    G1 = (I − Q)⁻¹ R1 K, B = (I − Q)⁻¹ R2, and Σ_{i<terms} Bⁱ G1 per state (NaN if unseen)."""
    a = np.array(rows, dtype=int).reshape(-1, 5)
    if symmetrize:
        mirrored = a.copy()
        mirrored[:, 0], mirrored[:, 2], mirrored[:, 4] = n - 1 - a[:, 0], n - 1 - a[:, 2], -a[:, 4]
        a = np.vstack([a, mirrored])
    states = n * s_max
    x = (a[:, 1] - 1) * n + a[:, 0]
    y = (a[:, 3] - 1) * n + a[:, 2]
    moved = a[:, 4] != 0
    q, r2, r1 = np.zeros((states, states)), np.zeros((states, states)), np.zeros((states, 4))
    np.add.at(q, (x[~moved], y[~moved]), 1)
    np.add.at(r2, (x[moved], y[moved]), 1)
    column = {-2: 0, -1: 1, 1: 2, 2: 3}
    np.add.at(r1, (x[moved], [column[c] for c in a[moved, 4]]), 1)
    total = q.sum(axis=1) + r1.sum(axis=1)
    seen = total > 0
    scale = np.where(seen, total, 1.0)[:, None]
    q, r1, r2 = q / scale, r1 / scale, r2 / scale
    inverse = np.linalg.inv(np.eye(states) - q)
    g1 = inverse @ r1 @ np.array([-1.0, -0.5, 0.5, 1.0])
    b = inverse @ r2
    g = sum(np.linalg.matrix_power(b, i) @ g1 for i in range(terms))
    last = np.abs(np.linalg.matrix_power(b, terms - 1) @ g1)[seen].max()
    return np.where(seen, g, np.nan).reshape(s_max, n), last


@pytest.mark.parametrize(("n", "s_max", "terms", "symmetrize"), [
    (10, 2, 6, True), (10, 2, 1, True), (5, 3, 20, True), (4, 1, 6, False),
])
def test_random_market_equals_the_numpy_estimator(n, s_max, terms, symmetrize):
    tick = 0.01
    quotes = simulated_quotes(20_000, seed=18)
    rows = list(transitions(quotes, tick, n, s_max))
    assert [tuple(r) for r in rows] == reference_transitions(quotes, tick, n, s_max)

    table = estimate(rows, n, s_max, terms=terms, symmetrize=symmetrize)
    expected, last = reference_estimate(rows, n, s_max, terms, symmetrize)
    got = np.array([[np.nan if v is None else v for v in row] for row in table.adjustments])
    assert np.array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
    assert table.last_term_ticks == pytest.approx(last, rel=1e-9, abs=1e-15)
    assert table.transitions == len(rows)

    # The signal the market carries is found: a bid-heavy book's micro-price is above its
    # mid, within the spread's reach.
    if symmetrize:
        heavy, light = table.adjustment(n - 1, 1), table.adjustment(0, 1)
        assert heavy is not None and 0.05 < heavy < 1.0 and light == pytest.approx(-heavy)
        price = apply(table, 100.0, 100.01, 9.0, 0.5, tick)
        assert price == pytest.approx(100.005 + heavy * tick) and math.isfinite(price)
