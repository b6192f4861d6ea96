"""Multi-level order-flow imbalance (MLOFI), per book update, in plain Python.

Xu, Gould & Howison (2019), "Multi-level order-flow imbalance in a limit order book",
Market Microstructure and Liquidity 4(3-4), arXiv:1907.06230: Cont, Kukanov & Stoikov
(2014)'s best-level OFI contribution applied at each level m = 1..M of the book, by rank
(level m is the m-th best price of its side, whatever that price is):

    e_m = 1{Pb_m ≥ Pb_m'}·qb_m − 1{Pb_m ≤ Pb_m'}·qb_m' − 1{Pa_m ≤ Pa_m'}·qa_m + 1{Pa_m ≥ Pa_m'}·qa_m'

(primed = previous book). The inequalities are NOT strict: at an unchanged price both bid
terms apply and the level contributes its queue change qb_m − qb_m' (the paper's
ΔW_m = qb_m − qb_m' case; likewise −(qa_m − qa_m') on the ask side). A strict version
would report 0 for every add or cancel that does not move the price, i.e. miss most flow.
Level 1 is exactly the stream's `ofi` (streaming/spark/ofi.py `ofi_value`).

Missing levels (a side shallower than m), chosen so that the vector is always defined
for a book with both sides:
- a level beyond a side's depth is an empty queue (qty 0) at a price worse than any real
  one (−∞ for bids, +∞ for asks). So a level that disappears contributes the departure of
  its queue (−qb_m' on the bid side, +qa_m' on the ask side), a level that appears
  contributes its arrival (+qb_m, −qa_m), and a level missing on both books contributes 0;
- a book with an empty side (no bid or no ask at all) has no OFI: every level is None,
  as `ofi_value` returns None, so level 1 stays equal to the stream's value.

What the paper (and its successors) do beyond the per-update vector, and what is here:
- MLOFI over an interval is the sum of the per-update vectors over it: `sum_ofi`;
- Cont, Cucuringu & Zhang (2023), "Cross-impact of order flow imbalance in equity
  markets", Quantitative Finance 23(10), normalise each level by the average depth of the
  first M levels over the interval, Q = (1/2M)·Σ_m (qb_m + qa_m) averaged over its books
  (`mean_depth` gives one book's term, `normalized_ofi` divides), and integrate the levels
  into one number with the weights w of the first principal component of the normalised
  vectors over a history: OFI^I = wᵀx / ‖w‖₁ (`integrated_ofi`). The PCA itself is NOT
  done here (it needs a history and a linear-algebra library): the caller supplies w.
Xu et al. regress the mid change on the vector (OLS/ridge); no regression is done here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

# A level: (price, qty), best first on each side.
Level = tuple[float, float]

DEFAULT_LEVELS = 10

# A level beyond a side's depth: an empty queue behind every real price.
_NO_BID: Level = (-math.inf, 0.0)
_NO_ASK: Level = (math.inf, 0.0)


def level_ofi(prev_bid: Level, prev_ask: Level, bid: Level, ask: Level) -> float:
    """e_m for one level from its (price, qty) on each side, previous then current; the
    same operations in the same order as `ofi_value`, so level 1 gives the same double."""
    (prev_bid_px, prev_bid_qty), (prev_ask_px, prev_ask_qty) = prev_bid, prev_ask
    (bid_px, bid_qty), (ask_px, ask_qty) = bid, ask
    return (
        (bid_qty if bid_px >= prev_bid_px else 0.0)
        - (prev_bid_qty if bid_px <= prev_bid_px else 0.0)
        - (ask_qty if ask_px <= prev_ask_px else 0.0)
        + (prev_ask_qty if ask_px >= prev_ask_px else 0.0)
    )


def _level(side: Sequence[Level], index: int, missing: Level) -> Level:
    return side[index] if index < len(side) else missing


def ofi_levels(prev_bids: Sequence[Level], prev_asks: Sequence[Level],
               bids: Sequence[Level], asks: Sequence[Level], levels: int = DEFAULT_LEVELS) -> list[float | None]:
    """[e_1, ..., e_levels] between two books (sides as (price, qty) sequences, best
    first); all None when either book has an empty side (see the module docstring)."""
    if levels < 1:
        raise ValueError(f"levels must be >= 1, got {levels}")
    if not (prev_bids and prev_asks and bids and asks):
        return [None] * levels
    return [level_ofi(_level(prev_bids, m, _NO_BID), _level(prev_asks, m, _NO_ASK),
                      _level(bids, m, _NO_BID), _level(asks, m, _NO_ASK))
            for m in range(levels)]


def sum_ofi(vectors: Iterable[Sequence[float | None]], levels: int = DEFAULT_LEVELS) -> list[float | None]:
    """MLOFI over an interval: the element-wise sum of its per-update vectors. A level is
    None if it was None in any of them (an update without OFI leaves the interval's flow
    unknown, it does not make it zero); 0.0 for each level of an empty interval."""
    totals: list[float | None] = [0.0] * levels
    for vector in vectors:
        if len(vector) != levels:
            raise ValueError(f"expected {levels} levels, got {len(vector)}")
        totals = [None if total is None or value is None else total + value
                  for total, value in zip(totals, vector, strict=True)]
    return totals


def mean_depth(bids: Sequence[Level], asks: Sequence[Level], levels: int = DEFAULT_LEVELS) -> float | None:
    """One book's (1/2M)·Σ_{m ≤ M} (qb_m + qa_m), M = `levels`, a missing level counting
    as qty 0 (as in `ofi_levels`); None when a side is empty. Cont, Cucuringu & Zhang
    average this over the books of an interval to normalise the interval's MLOFI."""
    if not (bids and asks):
        return None
    total = sum(qty for _, qty in bids[:levels]) + sum(qty for _, qty in asks[:levels])
    return total / (2 * levels)


def normalized_ofi(ofi: Sequence[float | None], depth: float | None) -> list[float | None]:
    """Each level divided by the interval's average depth (None where undefined, or all
    None when the depth is missing or not positive)."""
    if depth is None or not depth > 0:
        return [None] * len(ofi)
    return [None if value is None else value / depth for value in ofi]


def integrated_ofi(normalized: Sequence[float | None], weights: Sequence[float]) -> float | None:
    """wᵀx / ‖w‖₁ (Cont, Cucuringu & Zhang 2023's integrated OFI) with w the first
    principal component of historical normalised vectors, estimated by the caller; None
    if any level is None or the weights are all 0."""
    if len(weights) != len(normalized):
        raise ValueError(f"{len(weights)} weights for {len(normalized)} levels")
    scale = sum(abs(weight) for weight in weights)
    if scale == 0 or any(value is None for value in normalized):
        return None
    return sum(weight * value for weight, value in zip(weights, normalized, strict=True)) / scale
