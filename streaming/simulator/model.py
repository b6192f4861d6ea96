"""The pure, seeded market model behind the simulator (no I/O, no clocks).

A queue-reactive limit order book per symbol, leaning toward a latent fair price.

**Book.** Integer price levels (ticks -> lots) per side. Each queue is indexed, as in Cont,
Stoikov & Talreja (2010, "A stochastic model for order book dynamics", Operations Research
58(3)), by its distance ``i >= 1`` in ticks from the *opposite* best quote: a bid at distance
``i`` sits at ``best_ask - i`` (so ``i`` below the spread is an empty level inside it, and an
arrival there improves the quote; no event can ever cross the book). Queue sizes are
counted in units ``b = ceil(q / unit)`` of a typical order (``market_params.py``), the
"queue size in average event size" of Huang, Lehalle & Rosenbaum (2015, "Simulating and
analyzing order book data: the queue-reactive model", JASA 110(509)).

**Intensities** (events per second, for the bid side; the ask side mirrors with ``-s``):

* limit arrivals  ``lambda_L(i, b) = A * h(i) * i**-alpha / (1 + b / b0) * (1 + a_L * s)``
  - the power-law decay in the distance of CST 2010 (their ``lambda(i) = k / i**alpha``),
  made queue-reactive as in HLR 2015 (arrival intensity falling with the queue size), with
  ``h(i)`` the tier's willingness to quote at/inside the touch (a 1-tick market for majors,
  a few ticks for thin pairs);
* cancellations   ``lambda_C(i, b) = theta(i) * min(b, bc(i)) * (1 - a_C * s)``,
  ``theta(i) = theta0 * (1 + c / i)`` - CST 2010's ``theta(i) * x`` (each resting order
  cancels at rate ``theta(i)``), with HLR's observation that the cancellation intensity
  saturates for long queues (``bc(i)`` = 1.5 x the level's stationary mean + 2);
* market orders   ``lambda_M = mu * (1 - a_M * s)`` (sells, hitting the best bid; buys at the
  best ask get ``1 + a_M * s``) - CST 2010's rate ``mu`` at the best quote.

``s = clip((fair - mid) / S, -1, 1)`` is the lean toward the latent **fair price**: when fair
is above the mid, buyers take the ask, bids arrive and asks cancel more (and symmetrically),
so the mid trends toward fair and reverts to it, and order-flow imbalance (OFI, Cont,
Kukanov & Stoikov 2014) and the level-1 imbalance (OBI) carry signal. The fair price is a
random walk ``fair += sigma * regime * sqrt(dt) * Z`` with a per-instrument ``sigma`` (ticks
per sqrt(second)) and a two-state calm/burst regime (a Markov chain; a burst triples the
vol and multiplies every intensity by 1.8).

**Simulation.** Exactly, by uniformization (Jensen 1953): proposals arrive as a Poisson
process of rate ``Lambda = sum of per-slot bounds`` (a slot = one side and distance, or the
market orders of one side); a proposal at a slot with bound ``Lambda_k`` becomes a limit
arrival with probability ``lambda_L / Lambda_k``, a cancellation with ``lambda_C / Lambda_k``,
and is void otherwise. The acceptance thresholds are tables precomputed per
(lean state, slot, queue bucket), so the inner loop is a bisect, a dict lookup and two
comparisons. Levels beyond the K simulated distances are the far book: when a side holds
fewer than ``levels`` levels a far level is added one to a few ticks behind the deepest
(as real books refill), and beyond ``levels + slack`` the deepest leaves.

**Stream.** ``step()`` advances model time by ``dt`` (default 0.1 s, one stream interval)
and returns ONE ``BookEvent``: the net level changes of the interval (absolute quantities,
0 = removed: Binance's diff semantics - levels whose quantity differs from the start of the
interval), ids ``U..u`` with one update id per accepted micro event (refills and trims
included), so ids are gap-free across steps, and the interval's trades.

**Trades.** A market order consumes the book in the same micro event, from the best level
outward (up to 10 levels); it prints ONE ``Trade`` PER PRICE LEVEL it touches, with the
level's filled quantity: the aggregation Binance's ``@aggTrade`` does for the fills of one
taker order at one price (we do not model individual resting orders, so ``@trade``'s one
print per maker order has no counterpart). Trade ids increase by 1 per symbol without gaps;
``buyer_is_maker`` is True when the taker sold; ``update_id`` is the id of the micro event.

The same seed and symbol give the same sequence, whatever the clock and the other symbols.
"""

from __future__ import annotations

import hashlib
import math
from bisect import bisect_right
from dataclasses import dataclass, field
from functools import lru_cache
from statistics import NormalDist

import numpy as np

from streaming.simulator.instruments import UNITS, Instrument, format_units, instrument
from streaming.simulator.market_params import (BURST_MEAN_S, BURST_RATE, BURST_VOL, CALM_MEAN_S, MarketParams,
                                               TierParams, market_params)

Level = tuple[str, str]  # (price, qty) exactly as printed on the wire

LEAN_STATES = 21  # s discretized to -1, -0.9, ..., 1
BUCKETS = 33  # queue-size buckets b = 0..32 (b = ceil(q / unit), capped)
MAX_SWEEP_LEVELS = 10  # a market order consumes at most this many levels
MAX_MARKET_UNITS = 14.0  # and at most this many units
_RANDOM_BATCH = 1 << 15
_SIZE_QUANTILES = 512


@dataclass(frozen=True, slots=True)
class Trade:
    """One print: the fills of one taker order at one price level (aggTrade semantics)."""

    symbol: str
    trade_id: int  # +1 per trade per symbol, no gaps
    price_ticks: int
    qty_lots: int
    price: str  # as Binance prints it, 8 decimals
    qty: str
    buyer_is_maker: bool  # True when the taker sold (hit the bid)
    update_id: int  # the book update (micro event) this trade belongs to


@dataclass(frozen=True)
class BookEvent:
    """One diff: levels whose quantity changed (qty 0 = removed), ids U..u, and the trades."""

    symbol: str
    first_id: int
    last_id: int
    bids: list[Level]
    asks: list[Level]
    trades: list[Trade] = field(default_factory=list)


def _seed_of(seed: int, symbol: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{symbol}".encode()).digest()[:8], "big")


def stationary_units(tier: TierParams, i: int) -> float:
    """Mean queue (units) at distance i without lean or market orders: lambda_L(i, b) = lambda_C(i, b)."""
    lam = _arrival(tier, i)
    theta = tier.cancel_theta * (1 + tier.cancel_near / i)
    # theta * b * (1 + b / b0) = lam  ->  (theta / b0) b^2 + theta b - lam = 0
    a, c = theta / tier.arrival_b0, theta
    return (-c + math.sqrt(c * c + 4 * a * lam)) / (2 * a)


def _arrival(tier: TierParams, i: int) -> float:
    damp = tier.inside_damp[i - 1] if i <= len(tier.inside_damp) else 1.0
    return tier.arrival_a * damp * i ** -tier.arrival_alpha


@dataclass(frozen=True)
class _Tables:
    """Uniformization tables of one tier, per lean state: slot bounds and acceptance thresholds."""

    k: int
    cum: list[list[float]]  # [lean]: cumulative slot bounds (bisect_right(cum, x) = slot)
    low: list[list[float]]  # [lean]: cum of the previous slot
    inv: list[list[float]]  # [lean]: 1 / bound
    total: list[float]  # [lean]: the proposal rate Lambda
    add: list[list[float]]  # [lean][slot * BUCKETS + b]: P(limit arrival)
    cancel: list[list[float]]  # [lean][slot * BUCKETS + b]: P(arrival or cancel)
    market: list[tuple[float, float]]  # [lean]: (P(sell market), P(buy market)): always 1 (bound = rate)


@lru_cache(maxsize=None)
def _tables(tier: TierParams, k: int) -> _Tables:
    s = np.linspace(-1.0, 1.0, LEAN_STATES)[:, None, None]  # lean
    i = np.arange(1, k + 1, dtype=float)[None, :, None]  # distance
    b = np.arange(BUCKETS, dtype=float)[None, None, :]  # queue bucket
    base = np.array([_arrival(tier, int(d)) for d in range(1, k + 1)])[None, :, None]
    lam_l = base / (1 + b / tier.arrival_b0)
    cap = np.array([1.5 * stationary_units(tier, d) + 2 for d in range(1, k + 1)])[None, :, None]
    lam_c = tier.cancel_theta * (1 + tier.cancel_near / i) * np.minimum(b, cap)
    bid_l, bid_c = lam_l * (1 + tier.lean_limit * s), lam_c * (1 - tier.lean_cancel * s)
    ask_l, ask_c = lam_l * (1 - tier.lean_limit * s), lam_c * (1 + tier.lean_cancel * s)
    add = np.concatenate([bid_l, ask_l], axis=1)  # [lean, slot, b]
    both = add + np.concatenate([bid_c, ask_c], axis=1)
    bounds = both.max(axis=2)  # [lean, slot]: the tightest bound for each lean state
    sl = s[:, 0, 0]
    sell = tier.market_mu * (1 - tier.lean_market * sl)
    buy = tier.market_mu * (1 + tier.lean_market * sl)
    bounds = np.concatenate([bounds, sell[:, None], buy[:, None]], axis=1)
    cum = np.cumsum(bounds, axis=1)
    low = np.concatenate([np.zeros((LEAN_STATES, 1)), cum[:, :-1]], axis=1)
    per_slot = bounds[:, :2 * k, None]
    return _Tables(k, cum.tolist(), low.tolist(), (1.0 / bounds).tolist(), cum[:, -1].tolist(),
                   [row.ravel().tolist() for row in add / per_slot],
                   [row.ravel().tolist() for row in both / per_slot], [(1.0, 1.0)] * LEAN_STATES)


class _Memo(dict):
    """Printed prices by tick, computed on first use: a few thousand prices recur, while
    quantities hardly ever do (so they are printed each time). Bounded, so a long trend cannot
    grow it without limit."""

    def __init__(self, render) -> None:
        super().__init__()
        self._render = render

    def __missing__(self, key: int) -> str:
        if len(self) > 50_000:
            self.clear()
        text = self[key] = self._render(key)
        return text


class SymbolModel:
    """The book of one symbol; `step()` advances it by one stream interval of `dt` seconds."""

    def __init__(self, symbol: str, seed: int, levels: int = 100, dt: float = 0.1, id_base: int = 0) -> None:
        self.instrument: Instrument = instrument(symbol)
        self.symbol = self.instrument.symbol
        self.max_levels = levels
        self.dt = dt
        self.params: MarketParams = market_params(self.instrument)
        tier = self.params.tier
        self._rng = np.random.default_rng(_seed_of(seed, self.symbol))
        # `id_base` shifts the ids, never the market: see `Market`
        self.last_update_id = id_base + int(self._rng.integers(10**9, 10**10))
        self.last_trade_id = id_base + int(self._rng.integers(10**8, 10**9))
        self.time_s = 0.0
        self.events = 0  # accepted micro events so far
        self._floor = max(levels, 2)
        self._cap = self._floor + max(3, levels // 20)
        self._k = min(tier.active_levels, self._floor + 5)
        self._t = _tables(tier, self._k)
        unit = self.params.unit_lots
        self._unit = unit
        q = (np.arange(_SIZE_QUANTILES) + 0.5) / _SIZE_QUANTILES
        z = np.array([NormalDist().inv_cdf(v) for v in q])  # standard normal quantiles
        self._sizes = np.maximum(1, np.round(unit * np.exp(0.7 * z - 0.245))).astype(int).tolist()
        market = np.minimum(tier.market_units * np.exp(0.9 * z - 0.405), MAX_MARKET_UNITS)
        self._market_sizes = np.maximum(1, np.round(unit * market)).astype(int).tolist()
        self._far_sizes = np.maximum(1, np.round(unit * tier.far_units * np.exp(0.6 * z - 0.18))).astype(int).tolist()
        self._u: list[float] = []
        self._p = 0
        self._normals: list[float] = []
        self._np = 0
        self._fill_randoms(0)
        self._burst = False
        self._prices = _Memo(lambda ticks: format_units(ticks * self._tick_units))
        self._tick_units, self._lot_units = self.instrument.tick_units, self.instrument.lot_units
        self._bq: dict[int, int] = {}
        self._aq: dict[int, int] = {}
        self._seed_book()
        self.fair = (self._bb + self._ba) / 2

    # --- randomness ----------------------------------------------------------------------
    def _fill_randoms(self, need: int) -> None:
        self._u = self._u[self._p:] + self._rng.random(max(_RANDOM_BATCH, need)).tolist()
        self._p = 0

    def _uniform(self) -> float:
        if self._p >= len(self._u):
            self._fill_randoms(1)
        self._p += 1
        return self._u[self._p - 1]

    def _normal(self) -> float:
        if self._np >= len(self._normals):
            self._normals, self._np = self._rng.standard_normal(4096).tolist(), 0
        self._np += 1
        return self._normals[self._np - 1]

    # --- reading -------------------------------------------------------------------------
    def best_bid(self) -> int | None:
        return self._bb

    def best_ask(self) -> int | None:
        return self._ba

    def mid_ticks(self) -> float:
        return (self._bb + self._ba) / 2

    def top_ticks(self, limit: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Best-first (ticks, lots) of each side: `top()` without the formatting."""
        bq, aq = self._bq, self._aq
        if limit * 3 < len(bq):
            bids, t, bd = [], self._bb, self._bd
            while len(bids) < limit and t >= bd:
                if t in bq:
                    bids.append((t, bq[t]))
                t -= 1
        else:
            bids = [(t, bq[t]) for t in sorted(bq, reverse=True)[:limit]]
        if limit * 3 < len(aq):
            asks, t, ad = [], self._ba, self._ad
            while len(asks) < limit and t <= ad:
                if t in aq:
                    asks.append((t, aq[t]))
                t += 1
        else:
            asks = [(t, aq[t]) for t in sorted(aq)[:limit]]
        return bids, asks

    def top(self, limit: int) -> tuple[list[Level], list[Level]]:
        """Best-first levels of each side (bids descending, asks ascending)."""
        bids, asks = self.top_ticks(limit)
        level = self._level
        return [level(t, q) for t, q in bids], [level(t, q) for t, q in asks]

    def snapshot(self, limit: int) -> dict:
        """The REST depth snapshot: `{lastUpdateId, bids, asks}`."""
        bids, asks = self.top(limit)
        return {"lastUpdateId": self.last_update_id, "bids": [list(b) for b in bids],
                "asks": [list(a) for a in asks]}

    def _level(self, ticks: int, lots: int) -> Level:
        return self._prices[ticks], "%d.%08d" % divmod(lots * self._lot_units, UNITS)  # 2.5x an f-string's speed

    def _levels(self, book: dict[int, int], start: dict[int, int], descending: bool) -> list[Level]:
        """The levels of `book` whose quantity differs from `start` (0 = removed), best first."""
        get = book.get
        changed = [(t, q) for t, q0 in start.items() if (q := get(t, 0)) != q0]
        changed.sort(reverse=descending)
        level = self._level
        return [level(t, q) for t, q in changed]

    # --- building ------------------------------------------------------------------------
    def _seed_book(self) -> None:
        """A book near the stationary state: mean queues per distance, far levels behind."""
        tier = self.params.tier
        spread = 1 if tier.name == "major" else 2 if tier.name == "large" else 3
        bid = self.instrument.ref_ticks
        ask = bid + spread
        for book, sign, touch in ((self._bq, -1, ask), (self._aq, 1, bid)):
            for i in range(spread, self._k + 1):
                mean = stationary_units(tier, i)
                units = self._rng.poisson(mean) if i > spread else max(1, self._rng.poisson(mean))
                if units:
                    book[touch + sign * i] = max(1, round(self._unit * units * (0.6 + 0.8 * self._uniform())))
            t = touch + sign * self._k
            while len(book) < self._floor:
                t += sign * (1 + int(self._uniform() * tier.far_gap_ticks))
                book[t] = self._far_sizes[int(self._uniform() * _SIZE_QUANTILES)]
        self._bb, self._bd = max(self._bq), min(self._bq)
        self._ba, self._ad = min(self._aq), max(self._aq)

    # --- evolving ------------------------------------------------------------------------
    def step(self) -> BookEvent:
        """Advance by `dt` of model time (many micro events) and return the interval's diff."""
        dt = self.dt
        tier = self.params.tier
        # the latent fair price and its regime
        if self._uniform() < dt / (BURST_MEAN_S if self._burst else CALM_MEAN_S):
            self._burst = not self._burst
        vol = self.params.vol_ticks * (BURST_VOL if self._burst else 1.0)
        self.fair += vol * math.sqrt(dt) * self._normal()
        self.time_s += dt
        lean = (self.fair - (self._bb + self._ba) / 2) / tier.lean_scale_ticks
        lean_index = int(round((min(1.0, max(-1.0, lean)) + 1.0) * (LEAN_STATES - 1) / 2))
        tables = self._t
        n = int(self._rng.poisson(tables.total[lean_index] * dt * (BURST_RATE if self._burst else 1.0)))
        if self._p + 2 * n + 8 > len(self._u):
            self._fill_randoms(2 * n + 8)
        first = self.last_update_id + 1
        events, raw_trades, start_b, start_a = self._run(n, lean_index)
        count = max(1, events)
        self.last_update_id += count
        self.events += events
        bids = self._levels(self._bq, start_b, descending=True)
        asks = self._levels(self._aq, start_a, descending=False)
        trades = []
        if raw_trades:
            tid = self.last_trade_id
            for ticks, lots, maker_buys, offset in raw_trades:
                tid += 1
                price, qty = self._level(ticks, lots)
                trades.append(Trade(self.symbol, tid, ticks, lots, price, qty, maker_buys, first + offset))
            self.last_trade_id = tid
        return BookEvent(self.symbol, first, first + count - 1, bids, asks, trades)

    def _run(self, n: int, lean_index: int):  # noqa: C901 - the hot loop, kept flat on purpose
        """`n` uniformized proposals; returns (accepted events, trades, start quantities b/a)."""
        t_ = self._t
        k, k2 = t_.k, 2 * t_.k
        cum, low, inv, total = t_.cum[lean_index], t_.low[lean_index], t_.inv[lean_index], t_.total[lean_index]
        add_p, cancel_p = t_.add[lean_index], t_.cancel[lean_index]
        sell_p, buy_p = t_.market[lean_index]
        u, p = self._u, self._p
        sizes, msizes, fsizes = self._sizes, self._market_sizes, self._far_sizes
        nsz = _SIZE_QUANTILES
        unit = self._unit
        um1 = unit - 1
        bm = BUCKETS - 1
        nbk = BUCKETS
        gap = self.params.tier.far_gap_ticks
        floor, cap = self._floor, self._cap
        bq, aq = self._bq, self._aq
        bb, bd, ba, ad = self._bb, self._bd, self._ba, self._ad
        nb, na = len(bq), len(aq)
        sb: dict[int, int] = {}
        sa: dict[int, int] = {}
        trades: list[tuple[int, int, bool, int]] = []
        ev = 0
        refill_at = len(u) - 64
        for _ in range(n):
            x = u[p] * total
            p += 1
            j = bisect_right(cum, x)
            r = (x - low[j]) * inv[j]
            if j < k:  # bid queue at distance j+1 from the best ask
                t = ba - j - 1
                q = bq.get(t, 0)
                b = (q + um1) // unit
                idx = j * nbk + (b if b < bm else bm)
                if r < add_p[idx]:
                    if t <= 0:
                        continue
                    if t not in sb:
                        sb[t] = q
                    bq[t] = q + sizes[int(u[p] * nsz)]
                    p += 1
                    ev += 1
                    if not q:
                        nb += 1
                        if t > bb:
                            bb = t
                        elif t < bd:
                            bd = t
                        if nb > cap:
                            if bd not in sb:
                                sb[bd] = bq[bd]
                            del bq[bd]
                            nb -= 1
                            bd += 1
                            while bd not in bq:
                                bd += 1
                            ev += 1
                elif r < cancel_p[idx]:
                    if t not in sb:
                        sb[t] = q
                    size = sizes[int(u[p] * nsz)]
                    p += 1
                    ev += 1
                    if size < q:
                        bq[t] = q - size
                        continue
                    del bq[t]
                    nb -= 1
                    if t == bb:
                        bb -= 1
                        while bb not in bq:
                            bb -= 1
                    elif t == bd:
                        bd += 1
                        while bd not in bq:
                            bd += 1
                    if nb < floor:
                        t = bd - 1 - int(u[p] * gap)
                        p += 1
                        if t > 0:
                            if t not in sb:
                                sb[t] = 0
                            bq[t] = fsizes[int(u[p] * nsz)]
                            p += 1
                            nb += 1
                            bd = t
                            ev += 1
            elif j < k2:  # ask queue at distance j-k+1 from the best bid
                t = bb + j - k + 1
                q = aq.get(t, 0)
                b = (q + um1) // unit
                idx = j * nbk + (b if b < bm else bm)
                if r < add_p[idx]:
                    if t not in sa:
                        sa[t] = q
                    aq[t] = q + sizes[int(u[p] * nsz)]
                    p += 1
                    ev += 1
                    if not q:
                        na += 1
                        if t < ba:
                            ba = t
                        elif t > ad:
                            ad = t
                        if na > cap:
                            if ad not in sa:
                                sa[ad] = aq[ad]
                            del aq[ad]
                            na -= 1
                            ad -= 1
                            while ad not in aq:
                                ad -= 1
                            ev += 1
                elif r < cancel_p[idx]:
                    if t not in sa:
                        sa[t] = q
                    size = sizes[int(u[p] * nsz)]
                    p += 1
                    ev += 1
                    if size < q:
                        aq[t] = q - size
                        continue
                    del aq[t]
                    na -= 1
                    if t == ba:
                        ba += 1
                        while ba not in aq:
                            ba += 1
                    elif t == ad:
                        ad -= 1
                        while ad not in aq:
                            ad -= 1
                    if na < floor:
                        t = ad + 1 + int(u[p] * gap)
                        p += 1
                        if t not in sa:
                            sa[t] = 0
                        aq[t] = fsizes[int(u[p] * nsz)]
                        p += 1
                        na += 1
                        ad = t
                        ev += 1
            elif j == k2:  # a sell market order hits the bids
                if r >= sell_p:
                    continue
                left = msizes[int(u[p] * nsz)]
                p += 1
                offset = ev
                ev += 1
                swept = 0
                while True:
                    q = bq[bb]
                    if bb not in sb:
                        sb[bb] = q
                    if left < q:
                        bq[bb] = q - left
                        trades.append((bb, left, True, offset))
                        break
                    trades.append((bb, q, True, offset))
                    left -= q
                    del bq[bb]
                    nb -= 1
                    swept += 1
                    bb -= 1
                    while bb not in bq:
                        bb -= 1
                    if not left or swept >= MAX_SWEEP_LEVELS or nb <= 1:
                        break
                while nb < floor:
                    t = bd - 1 - int(u[p] * gap)
                    p += 1
                    if t <= 0:
                        break
                    if t not in sb:
                        sb[t] = 0
                    bq[t] = fsizes[int(u[p] * nsz)]
                    p += 1
                    nb += 1
                    bd = t
                    ev += 1
            else:  # a buy market order lifts the asks
                if r >= buy_p:
                    continue
                left = msizes[int(u[p] * nsz)]
                p += 1
                offset = ev
                ev += 1
                swept = 0
                while True:
                    q = aq[ba]
                    if ba not in sa:
                        sa[ba] = q
                    if left < q:
                        aq[ba] = q - left
                        trades.append((ba, left, False, offset))
                        break
                    trades.append((ba, q, False, offset))
                    left -= q
                    del aq[ba]
                    na -= 1
                    swept += 1
                    ba += 1
                    while ba not in aq:
                        ba += 1
                    if not left or swept >= MAX_SWEEP_LEVELS or na <= 1:
                        break
                while na < floor:
                    t = ad + 1 + int(u[p] * gap)
                    p += 1
                    if t not in sa:
                        sa[t] = 0
                    aq[t] = fsizes[int(u[p] * nsz)]
                    p += 1
                    na += 1
                    ad = t
                    ev += 1
            if p > refill_at:  # a long sweep/refill chain: keep the random buffer ahead
                self._p = p
                self._fill_randoms(2 * n)
                u, p = self._u, 0
                refill_at = len(u) - 64
        self._p = p
        self._bb, self._bd, self._ba, self._ad = bb, bd, ba, ad
        return ev, trades, sb, sa

    def crossed_event(self) -> BookEvent:
        """A bogus diff putting a bid at or above the best ask (a fault: not applied here)."""
        ticks = self._ba + int(self._uniform() * 3)
        self.last_update_id += 1
        lots = self._sizes[int(self._uniform() * _SIZE_QUANTILES)]
        return BookEvent(self.symbol, self.last_update_id, self.last_update_id, [self._level(ticks, lots)], [])


class Market:
    """Independent models for a set of symbols (each seeded from `seed` and its name).

    `id_base` is added to every update id and trade id and changes nothing else: an exchange's
    ids only ever grow, so a simulator that restarts (the same seed, the same market from the
    start) passes a base that grows with its start time, and an ingest sees a newer book, not
    a stale one (`id_base_for_start`).
    """

    def __init__(self, symbols: list[str], seed: int, levels: int = 100, dt: float = 0.1, id_base: int = 0) -> None:
        self.models = {s.upper(): SymbolModel(s, seed, levels, dt, id_base) for s in symbols}

    def __getitem__(self, symbol: str) -> SymbolModel:
        return self.models[symbol.upper()]

    def __contains__(self, symbol: str) -> bool:
        return symbol.upper() in self.models

    @property
    def symbols(self) -> list[str]:
        return list(self.models)


IDS_PER_MS_OF_START = 1_000


def id_base_for_start(started_at_s: float) -> int:
    """The id base of a simulator started at `started_at_s` (Unix seconds): a thousand ids per
    millisecond of start time, so a restart's ids exceed the last run's as long as a symbol made
    fewer than a million updates or trades a second in that run (the model makes a few hundred).
    Today's bases are ~1.8e15: below 2**53, so a JavaScript client still reads them exactly."""
    return int(started_at_s * 1000) * IDS_PER_MS_OF_START
