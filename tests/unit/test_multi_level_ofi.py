"""Multi-level OFI (Xu, Gould & Howison 2019) against an independent numpy version of the
paper's case-by-case definition, on hand-made books and seeded random ones."""

from __future__ import annotations

import random

import numpy as np
import pytest

from quantcore.microstructure.multi_level_ofi import (
    integrated_ofi,
    mean_depth,
    normalized_ofi,
    ofi_levels,
    sum_ofi,
)
from streaming.spark.ofi import TopOfBook, ofi_value


def padded(side, levels, fill_price):
    """Prices and quantities of the top `levels`, a missing level at fill_price, qty 0."""
    prices = np.full(levels, fill_price)
    qtys = np.zeros(levels)
    for m, (price, qty) in enumerate(side[:levels]):
        prices[m], qtys[m] = price, qty
    return prices, qtys


def reference(prev_bids, prev_asks, bids, asks, levels=10):
    """The paper's cases, per level, vectorised: bid flow ΔW = qb if the bid rose,
    qb − qb' if it stayed, −qb' if it fell; ask flow ΔV = qa if the ask fell, qa − qa' if
    it stayed, −qa' if it rose; e = ΔW − ΔV."""
    if not (prev_bids and prev_asks and bids and asks):
        return [None] * levels
    pb0, qb0 = padded(prev_bids, levels, -np.inf)
    pa0, qa0 = padded(prev_asks, levels, np.inf)
    pb, qb = padded(bids, levels, -np.inf)
    pa, qa = padded(asks, levels, np.inf)
    d_bid = np.where(pb > pb0, qb, np.where(pb == pb0, qb - qb0, -qb0))
    d_ask = np.where(pa < pa0, qa, np.where(pa == pa0, qa - qa0, -qa0))
    return list(d_bid - d_ask)


def strict_levels(prev_bids, prev_asks, bids, asks, levels=10):
    """The common mistake: strict inequalities (an unchanged price contributes nothing)."""
    out = []
    for m in range(levels):
        (pb0, qb0), (pa0, qa0), (pb, qb), (pa, qa) = prev_bids[m], prev_asks[m], bids[m], asks[m]
        out.append((qb if pb > pb0 else 0.0) - (qb0 if pb < pb0 else 0.0)
                   - (qa if pa < pa0 else 0.0) + (qa0 if pa > pa0 else 0.0))
    return out


PREV_BIDS = [(100.0, 5.0), (99.0, 3.0), (98.0, 7.0)]
PREV_ASKS = [(101.0, 4.0), (102.0, 6.0), (103.0, 2.0)]


def test_unchanged_prices_contribute_the_queue_change_at_every_level():
    bids = [(100.0, 8.0), (99.0, 1.0), (98.0, 7.0)]
    asks = [(101.0, 4.0), (102.0, 9.0), (103.0, 0.5)]
    expected = [8.0 - 5.0, (1.0 - 3.0) - (9.0 - 6.0), -(0.5 - 2.0)]
    assert ofi_levels(PREV_BIDS, PREV_ASKS, bids, asks, levels=3) == expected
    assert reference(PREV_BIDS, PREV_ASKS, bids, asks, levels=3) == expected
    # The expectation rejects a strict-inequality implementation: it sees no flow at all.
    assert strict_levels(PREV_BIDS, PREV_ASKS, bids, asks, levels=3) == [0.0, 0.0, 0.0]


def test_price_moves_per_level():
    # A new bid level at 99.5 shifts the ranks: level 2 rose (its new queue counts),
    # level 3 rose from 98 to 99 (the queue now there counts).
    bids = [(100.0, 5.0), (99.5, 2.0), (99.0, 3.0)]
    # The best ask fell (its queue is new selling), level 2 rose to 103 (6 left), level 3 rose.
    asks = [(100.5, 1.0), (103.0, 2.0), (104.0, 9.0)]
    assert ofi_levels(PREV_BIDS, PREV_ASKS, bids, asks, levels=3) == [0.0 - 1.0, 2.0 + 6.0, 3.0 + 2.0]
    # Every bid level fell: the previous queues left.
    lower = [(99.0, 4.0), (98.0, 1.0), (97.0, 1.0)]
    assert ofi_levels(PREV_BIDS, PREV_ASKS, lower, PREV_ASKS, levels=3) == [-5.0, -3.0, -7.0]


def test_level_one_is_the_streams_ofi():
    bids, asks = [(100.5, 1.0), (100.0, 9.0)], [(101.0, 3.0)]
    expected = ofi_value(TopOfBook(100.0, 5.0, 101.0, 4.0), TopOfBook(100.5, 1.0, 101.0, 3.0))
    assert ofi_levels(PREV_BIDS, PREV_ASKS, bids, asks, levels=1) == [expected] == [1.0 - 3.0 + 4.0]


def test_missing_levels_are_empty_queues_behind_the_book():
    two_bids, two_asks = PREV_BIDS[:2], PREV_ASKS[:2]
    # Level 3 appears on both sides: its queues arrive (+bid, −ask).
    assert ofi_levels(two_bids, two_asks, PREV_BIDS, PREV_ASKS, levels=3) == [0.0, 0.0, 7.0 - 2.0]
    # Level 3 disappears on both sides: its queues leave (−bid, +ask).
    assert ofi_levels(PREV_BIDS, PREV_ASKS, two_bids, two_asks, levels=3) == [0.0, 0.0, -7.0 + 2.0]
    # Missing on both books: no flow; levels beyond any book are 0.0, not None.
    assert ofi_levels(two_bids, two_asks, two_bids, two_asks, levels=4) == [0.0, 0.0, 0.0, 0.0]
    assert ofi_levels(PREV_BIDS, PREV_ASKS, PREV_BIDS[:1], PREV_ASKS, levels=3) == [0.0, -3.0, -7.0]


def test_a_book_with_an_empty_side_has_no_ofi():
    assert ofi_levels(PREV_BIDS, PREV_ASKS, [], PREV_ASKS, levels=3) == [None, None, None]
    assert ofi_levels(PREV_BIDS, [], PREV_BIDS, PREV_ASKS, levels=2) == [None, None]
    assert ofi_value(TopOfBook(100.0, 5.0, None, None), TopOfBook(100.0, 5.0, 101.0, 4.0)) is None
    with pytest.raises(ValueError):
        ofi_levels(PREV_BIDS, PREV_ASKS, PREV_BIDS, PREV_ASKS, levels=0)


def random_book(rng: random.Random) -> tuple[list, list]:
    """Prices on a coarse grid so that equal prices (the inequalities' edges) are common;
    depths 0..12 so that missing levels and empty sides occur."""
    best_bid = 100 + rng.randint(-2, 2) * 0.5
    best_ask = best_bid + rng.randint(1, 2) * 0.5

    def side(best, step):
        depth = 0 if rng.random() < 0.01 else rng.randint(1, 12)
        price, levels = best, []
        for _ in range(depth):
            levels.append((price, round(rng.uniform(0.001, 50), rng.randint(0, 6))))
            price += step * rng.choice([1, 1, 1, 2])
        return levels

    return side(best_bid, -0.5), side(best_ask, 0.5)


def requoted(book: tuple[list, list], rng: random.Random) -> tuple[list, list]:
    """The same prices with some quantities changed: the usual next book."""
    return tuple([(price, qty if rng.random() < 0.5 else round(rng.uniform(0.001, 50), 3)) for price, qty in side]
                 for side in book)


def test_random_books_equal_the_paper_definition():
    rng = random.Random(20)
    previous = random_book(rng)
    equal_price_levels = strict_differs = undefined = 0
    for _ in range(3000):
        current = requoted(previous, rng) if rng.random() < 0.4 else random_book(rng)
        levels = rng.choice([1, 5, 10])
        got = ofi_levels(*previous, *current, levels=levels)
        expected = reference(*previous, *current, levels=levels)
        assert len(got) == levels
        if expected[0] is None:
            undefined += 1
            assert got == expected
        else:
            assert got == pytest.approx(expected, rel=1e-12, abs=1e-9)
            # Level 1 is the stream's OFI, to the bit.
            top = [TopOfBook(b[0][0], b[0][1], a[0][0], a[0][1]) for b, a in (previous, current)]
            assert got[0] == ofi_value(*top)
            depth = min(len(side) for side in (*previous, *current))
            if depth >= levels:
                strict = strict_levels(*previous, *current, levels=levels)
                strict_differs += strict != pytest.approx(got)
            equal_price_levels += sum(previous[0][m][0] == current[0][m][0]
                                      for m in range(min(levels, len(previous[0]), len(current[0]))))
        previous = current
    assert undefined > 40 and equal_price_levels > 3000 and strict_differs > 300, "the edge cases are covered"


def test_interval_sum_and_normalisation():
    assert sum_ofi([[1.0, 2.0], [3.0, -1.0]], levels=2) == [4.0, 1.0]
    assert sum_ofi([[1.0, 2.0], [None, None], [3.0, 1.0]], levels=2) == [None, None]
    assert sum_ofi([], levels=3) == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError):
        sum_ofi([[1.0]], levels=2)

    # (5 + 3 + 7 + 4 + 6 + 2) / (2·3); a missing level counts 0 against the M levels asked.
    assert mean_depth(PREV_BIDS, PREV_ASKS, levels=3) == 27.0 / 6
    assert mean_depth(PREV_BIDS[:1], PREV_ASKS[:1], levels=2) == 9.0 / 4
    assert mean_depth([], PREV_ASKS) is None
    assert normalized_ofi([3.0, None, -1.5], 1.5) == [2.0, None, -1.0]
    assert normalized_ofi([3.0], 0.0) == [None]
    assert normalized_ofi([3.0], None) == [None]


def test_integrated_ofi_equals_the_normalised_projection():
    rng = np.random.default_rng(7)
    for _ in range(200):
        x, w = rng.normal(size=10), rng.normal(size=10)
        assert integrated_ofi(list(x), list(w)) == pytest.approx(float(w @ x / np.abs(w).sum()), rel=1e-12)
    assert integrated_ofi([1.0, None], [0.5, 0.5]) is None
    assert integrated_ofi([1.0, 2.0], [0.0, 0.0]) is None
    assert integrated_ofi([2.0, 4.0], [1.0, -3.0]) == (2.0 - 12.0) / 4.0
    with pytest.raises(ValueError):
        integrated_ofi([1.0], [1.0, 2.0])
