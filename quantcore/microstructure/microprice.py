"""Imbalance, weighted mid and Stoikov's micro-price, in plain Python.

Stoikov (2018), "The micro-price: a high-frequency estimator of future prices",
Quantitative Finance 18(12), SSRN 2970694; the estimation follows the paper's section on
discrete states and the author's notebook (github.com/sstoikov/microprice).

From the best levels (Pb, Qb), (Pa, Qa):
- imbalance I = Qb / (Qb + Qa) in [0, 1] (the paper's I; obi_1 = 2I − 1);
- weighted mid = I·Pa + (1 − I)·Pb (= mid + S/2·obi_1, the stream's `weighted_mid`);
- micro-price P_micro = M + g(I, S): the mid M plus the limit of the expected mid changes
  g = Σ_{i≥1} g_i, with g_1(x) = E[M_τ1 − M_t | X_t = x] (τ1 = the next mid change) and
  g_{i+1}(x) = E[g_i(X_τ1) | X_t = x] for the state X = (I, S).

Estimation (`estimate`, from `transitions` of quotes sampled at a fixed interval):
- states: I cut into n equal-width buckets, bucket k = [k/n, (k+1)/n) (I = 1 in the
  last), and the spread S in ticks, 1..max_spread_ticks; state index (S − 1)·n + k.
  (The paper closes its buckets on the right, ((j−1)/n, j/n], which differs only for I
  exactly on an edge; the notebook uses quantile buckets, which a live table could not
  reproduce without storing the edges.)
- a transition is a pair of consecutive quotes, both in range; its mid change in
  half-ticks must be in {−2, −1, 0, 1, 2} (|ΔM| ≤ 1 tick), otherwise it is dropped, as in
  the paper (moves further than a tick are rare and would need more absorbing states);
- symmetrised by default, as in the paper: every transition is counted again mirrored
  (k → n−1−k, ΔM → −ΔM), which makes the estimated micro-price symmetric and the
  series below converge (B* G1 = 0, the paper's condition);
- from the counts, each row divided by its state's number of transitions:
  Q_xy = P(ΔM = 0, X' = y | x), R1_xk = P(ΔM = K_k | x), R2_xy = P(ΔM ≠ 0, X' = y | x),
  K = (−1, −½, ½, 1) ticks;
- G1 = (1 − Q)⁻¹ R1 K and B = (1 − Q)⁻¹ R2 (solved by Gauss-Jordan elimination, plain
  Python: n·max_spread states, 20 by default);
- the adjustment is the partial sum G_terms = Σ_{i=0}^{terms−1} Bⁱ G1. The paper's
  micro-price is the limit; its figures and notebook stop at 6 terms (G⁶), the default
  here. The table records the largest |B^(terms−1) G1| (the last term added, in ticks) so
  the caller can see whether more terms would still move it.

A state never seen in the data has no estimate: its adjustment is None and `apply`
returns None there (not the mid: no data is not evidence of a zero adjustment).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

DEFAULT_IMBALANCE_BUCKETS = 10
DEFAULT_MAX_SPREAD_TICKS = 2
DEFAULT_TERMS = 6  # the paper's G⁶

# Mid changes a transition may have, in half-ticks (a 1-tick spread moves the mid by ½).
MOVES_HALF_TICKS = (-2, -1, 1, 2)


def imbalance(bid_qty: float, ask_qty: float) -> float | None:
    """I = Qb / (Qb + Qa); None when both queues are empty."""
    total = bid_qty + ask_qty
    return bid_qty / total if total > 0 else None


def weighted_mid(bid: float, ask: float, bid_qty: float, ask_qty: float) -> float | None:
    """I·Pa + (1 − I)·Pb: the ask weighted by the bid's share of the queues."""
    share = imbalance(bid_qty, ask_qty)
    return None if share is None else share * ask + (1.0 - share) * bid


def imbalance_bucket(share: float, buckets: int) -> int:
    """k such that k/n ≤ I < (k+1)/n, with I = 1 in the last bucket."""
    return min(buckets - 1, max(0, int(share * buckets)))


def spread_ticks(bid: float, ask: float, tick: float) -> int:
    """The spread as a whole number of ticks (prices are on the tick grid; rounding
    absorbs the binary-float error of the subtraction)."""
    if not tick > 0:
        raise ValueError(f"tick must be positive, got {tick}")
    return round((ask - bid) / tick)


class Quote(NamedTuple):
    bid: float
    ask: float
    bid_qty: float
    ask_qty: float


class Transition(NamedTuple):
    """One step of the state chain: from (bucket, spread) to (next_bucket, next_spread),
    the mid moving by `mid_change` half-ticks (−2..2)."""

    bucket: int
    spread: int
    next_bucket: int
    next_spread: int
    mid_change: int


def _state(quote: Quote, tick: float, buckets: int, max_spread: int) -> tuple[int, int] | None:
    share = imbalance(quote.bid_qty, quote.ask_qty)
    spread = spread_ticks(quote.bid, quote.ask, tick)
    if share is None or not 1 <= spread <= max_spread:
        return None
    return imbalance_bucket(share, buckets), spread


def transitions(quotes: Iterable[Quote], tick: float, buckets: int = DEFAULT_IMBALANCE_BUCKETS,
                max_spread_ticks: int = DEFAULT_MAX_SPREAD_TICKS) -> Iterator[Transition]:
    """The transitions between consecutive quotes (sampled by the caller at a fixed
    interval, as the paper does) that are both in range: spread 1..max_spread_ticks, some
    quantity, |ΔM| ≤ 1 tick. A quote out of range breaks the chain: the quotes around it
    are not linked (the author's notebook drops such quotes first, which links them)."""
    previous: tuple[Quote, tuple[int, int]] | None = None
    for quote in quotes:
        state = _state(quote, tick, buckets, max_spread_ticks)
        if previous is not None and state is not None:
            before, (bucket, spread) = previous
            change = round((quote.bid + quote.ask - before.bid - before.ask) / tick)  # 2ΔM / tick
            if abs(change) <= 2:
                yield Transition(bucket, spread, state[0], state[1], change)
        previous = None if state is None else (quote, state)


@dataclass(frozen=True)
class MicropriceTable:
    """The estimated adjustments g(I, S) in ticks: `adjustments[s − 1][k]` for spread s
    ticks and imbalance bucket k, None for a state without data."""

    buckets: int
    max_spread_ticks: int
    adjustments: tuple[tuple[float | None, ...], ...]
    terms: int
    last_term_ticks: float  # max |B^(terms−1) G1| over the states with data
    transitions: int  # counted, before symmetrisation
    symmetrized: bool

    def adjustment(self, bucket: int, spread: int) -> float | None:
        if not (0 <= bucket < self.buckets and 1 <= spread <= self.max_spread_ticks):
            return None
        return self.adjustments[spread - 1][bucket]

    def to_dict(self) -> dict[str, Any]:
        """Plain types only (JSON: None is null)."""
        return {"buckets": self.buckets, "max_spread_ticks": self.max_spread_ticks,
                "adjustments": [list(row) for row in self.adjustments], "terms": self.terms,
                "last_term_ticks": self.last_term_ticks, "transitions": self.transitions,
                "symmetrized": self.symmetrized}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MicropriceTable:
        table = cls(int(data["buckets"]), int(data["max_spread_ticks"]),
                    tuple(tuple(None if v is None else float(v) for v in row) for row in data["adjustments"]),
                    int(data["terms"]), float(data["last_term_ticks"]), int(data["transitions"]),
                    bool(data["symmetrized"]))
        if len(table.adjustments) != table.max_spread_ticks or \
                any(len(row) != table.buckets for row in table.adjustments):
            raise ValueError("adjustments must be max_spread_ticks rows of `buckets` values")
        return table


def apply(table: MicropriceTable, bid: float, ask: float, bid_qty: float, ask_qty: float,
          tick: float) -> float | None:
    """P_micro = mid + g(I, S)·tick; None when the book's state is outside the table
    (spread not 1..max_spread_ticks, both queues empty) or had no data."""
    share = imbalance(bid_qty, ask_qty)
    if share is None:
        return None
    adjustment = table.adjustment(imbalance_bucket(share, table.buckets), spread_ticks(bid, ask, tick))
    return None if adjustment is None else (bid + ask) / 2.0 + adjustment * tick


Matrix = list[list[float]]


def _solve(a: Matrix, b: Matrix) -> Matrix:
    """X with A·X = B, by Gauss-Jordan elimination with partial pivoting (A square,
    small). Raises ValueError when A is singular."""
    size, width = len(a), len(b[0])
    rows = [list(a[i]) + list(b[i]) for i in range(size)]
    for col in range(size):
        pivot = max(range(col, size), key=lambda r: abs(rows[r][col]))
        if abs(rows[pivot][col]) < 1e-12:
            raise ValueError("1 − Q is singular: some states never reach a mid change in the data")
        rows[col], rows[pivot] = rows[pivot], rows[col]
        head = rows[col]
        inverse = 1.0 / head[col]
        for j in range(col, size + width):
            head[j] *= inverse
        for r in range(size):
            factor = rows[r][col]
            if r != col and factor != 0.0:
                row = rows[r]
                for j in range(col, size + width):
                    row[j] -= factor * head[j]
    return [row[size:] for row in rows]


def _mat_vec(m: Matrix, v: Sequence[float]) -> list[float]:
    return [math.fsum(x * y for x, y in zip(row, v, strict=True)) for row in m]


def estimate(observed: Iterable[Transition], buckets: int = DEFAULT_IMBALANCE_BUCKETS,
             max_spread_ticks: int = DEFAULT_MAX_SPREAD_TICKS, terms: int = DEFAULT_TERMS,
             symmetrize: bool = True) -> MicropriceTable:
    """The micro-price table from transitions (see the module docstring for the steps)."""
    if buckets < 1 or max_spread_ticks < 1 or terms < 1:
        raise ValueError("buckets, max_spread_ticks and terms must be >= 1")
    states = buckets * max_spread_ticks
    q_counts = [[0.0] * states for _ in range(states)]
    r1_counts = [[0.0] * len(MOVES_HALF_TICKS) for _ in range(states)]
    r2_counts = [[0.0] * states for _ in range(states)]

    def count(bucket: int, spread: int, next_bucket: int, next_spread: int, change: int) -> None:
        x, y = (spread - 1) * buckets + bucket, (next_spread - 1) * buckets + next_bucket
        if change == 0:
            q_counts[x][y] += 1
        else:
            r1_counts[x][MOVES_HALF_TICKS.index(change)] += 1
            r2_counts[x][y] += 1

    counted = 0
    for t in observed:
        if not (0 <= t.bucket < buckets and 0 <= t.next_bucket < buckets
                and 1 <= t.spread <= max_spread_ticks and 1 <= t.next_spread <= max_spread_ticks
                and -2 <= t.mid_change <= 2):
            raise ValueError(f"transition out of range: {t}")
        counted += 1
        count(t.bucket, t.spread, t.next_bucket, t.next_spread, t.mid_change)
        if symmetrize:
            count(buckets - 1 - t.bucket, t.spread, buckets - 1 - t.next_bucket, t.next_spread, -t.mid_change)

    totals = [sum(q_counts[x]) + sum(r1_counts[x]) for x in range(states)]
    seen = [total > 0 for total in totals]

    def rate(counts: Matrix) -> Matrix:
        return [[c / totals[x] if seen[x] else 0.0 for c in counts[x]] for x in range(states)]

    q, r1, r2 = rate(q_counts), rate(r1_counts), rate(r2_counts)
    moves = [change / 2.0 for change in MOVES_HALF_TICKS]  # K, in ticks
    i_minus_q = [[(1.0 if x == y else 0.0) - q[x][y] for y in range(states)] for x in range(states)]
    # One elimination for both right-hand sides: [R1·K | R2].
    solved = _solve(i_minus_q, [[math.fsum(p * k for p, k in zip(r1[x], moves, strict=True))] + r2[x]
                                for x in range(states)])
    g1 = [row[0] for row in solved]
    b = [row[1:] for row in solved]

    total, term = list(g1), list(g1)
    for _ in range(terms - 1):
        term = _mat_vec(b, term)
        total = [t + u for t, u in zip(total, term, strict=True)]
    last = max((abs(term[x]) for x in range(states) if seen[x]), default=0.0)
    adjustments = tuple(tuple(total[x] if seen[x] else None
                              for x in range((s - 1) * buckets, s * buckets))
                        for s in range(1, max_spread_ticks + 1))
    return MicropriceTable(buckets, max_spread_ticks, adjustments, terms, last, counted, symmetrize)
