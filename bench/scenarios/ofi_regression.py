"""`quantcore bench ofi`: does multi-level OFI explain mid changes better than level-1 OFI
on the simulator's market? No services: the market model is stepped offline.

Xu, Gould & Howison (2019, "Multi-level order-flow imbalance in a limit order book", Market
Microstructure and Liquidity 4(3-4)) regress the mid-price change over an interval on the
order-flow imbalance of the same interval (contemporaneous), level 1 alone (Cont, Kukanov &
Stoikov 2014) vs levels 1..10 together, and find the deeper levels add explanatory power.
This scenario repeats the experiment on `streaming.simulator.model` (the default market
parameters, seeded):

* one hour of market per symbol (a few symbols, one per liquidity tier by default), the
  model stepped every `model_dt` seconds of model time (default 10 ms: ~3 micro events a
  step for a major; the simulator itself publishes every 100 ms) and the full-depth book
  read after every step that changed it; `ofi_levels` between consecutive books (levels
  1..10, by rank), summed over each interval of Δt (1 s and 10 s by default, as in the
  paper) with `sum_ofi`'s semantics;
* each interval's vector divided by the interval's mean depth (`mean_depth` averaged over
  the interval's steps, `normalized_ofi`), as Cont, Cucuringu & Zhang (2023) do;
* y = the mid change over the interval, in ticks;
* OLS with an intercept of y on (a) the level-1 OFI, (b) the 10-level vector, (c) the
  integrated OFI (CCZ's wᵀx/‖w‖₁ with w the first principal component of the training
  half's vectors, `integrated_ofi`);
* R² in sample (fit and scored on the whole hour, as the paper reports) and out of sample
  (fit on the first half hour, scored on the second: 1 − SSE/SST with the second half's own
  mean). In-sample R² of a nested model can only rise with more regressors, so only the
  out-of-sample figure can say whether the deeper levels carry information.

The per-level coefficients and the correlation of each level's OFI with y are reported
too, to show where the explanatory power sits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.harness import BenchContext
from quantcore.microstructure.multi_level_ofi import integrated_ofi, mean_depth, normalized_ofi, ofi_levels
from streaming.simulator.model import Market

LEVELS = 10
DEFAULT_SYMBOLS = ("BTCUSDT", "ADAUSDT", "APTUSDT")  # one per tier: major, large, thin
DEFAULT_INTERVALS_S = (1.0, 10.0)
MODEL_DT_S = 0.01
SEED = 7


@dataclass
class Intervals:
    """One symbol's market cut into intervals of one length: per interval the summed
    normalised OFI vector (rows of `ofi`, raw sums in `raw`), mean depth and mid change."""

    interval_s: float
    raw: np.ndarray  # (n, LEVELS) summed OFI, lots
    depth: np.ndarray  # (n,) mean depth over the interval, lots
    ofi: np.ndarray  # (n, LEVELS) normalised: raw / depth
    dmid: np.ndarray  # (n,) mid change over the interval, ticks


def simulate(symbol: str, seconds: float, intervals_s: tuple[float, ...] = DEFAULT_INTERVALS_S,
             seed: int = SEED, model_dt: float = MODEL_DT_S, book_levels: int = 100,
             levels: int = LEVELS) -> dict[float, Intervals]:
    """Step one symbol's model for `seconds` of model time; the OFI vectors and mid changes
    of every interval length in `intervals_s` (each a whole number of steps)."""
    model = Market([symbol], seed, book_levels, model_dt)[symbol]
    total_steps = int(round(seconds / model_dt))
    per = {}
    for interval in intervals_s:
        steps = int(round(interval / model_dt))
        if steps < 1 or not math.isclose(steps * model_dt, interval, rel_tol=1e-9):
            raise ValueError(f"interval {interval} s is not a whole number of {model_dt} s steps")
        per[interval] = steps
    # running sums per interval length: OFI vector, depth sum, mid at the interval's start
    sums = {interval: [0.0] * levels for interval in per}
    depth_sums = dict.fromkeys(per, 0.0)
    start_mid = dict.fromkeys(per, model.mid_ticks())
    rows: dict[float, tuple[list, list, list]] = {interval: ([], [], []) for interval in per}
    bids, asks = model.top_ticks(levels)
    depth = mean_depth(bids, asks, levels)
    for step in range(1, total_steps + 1):
        before = model.events
        model.step()
        vector = None
        if model.events != before:
            new_bids, new_asks = model.top_ticks(levels)
            if new_bids != bids or new_asks != asks:
                vector = ofi_levels(bids, asks, new_bids, new_asks, levels)
                if any(v is None for v in vector):  # an empty side: never in this model
                    raise RuntimeError(f"{symbol}: a side of the book emptied at step {step}")
                bids, asks = new_bids, new_asks
                depth = mean_depth(bids, asks, levels)
        for interval, steps in per.items():
            if vector is not None:
                total = sums[interval]
                for m in range(levels):
                    total[m] += vector[m]
            depth_sums[interval] += depth  # each step's closing book, time-weighted
            if step % steps == 0:
                mid = model.mid_ticks()
                raw_rows, depth_rows, dmid_rows = rows[interval]
                raw_rows.append(sums[interval])
                depth_rows.append(depth_sums[interval] / steps)
                dmid_rows.append(mid - start_mid[interval])
                sums[interval], depth_sums[interval], start_mid[interval] = [0.0] * levels, 0.0, mid
    out = {}
    for interval, (raw_rows, depth_rows, dmid_rows) in rows.items():
        raw = np.array(raw_rows, dtype=float).reshape(-1, levels)
        depth_arr = np.array(depth_rows, dtype=float)
        normalised = np.array([normalized_ofi(r, d) for r, d in zip(raw_rows, depth_rows)], dtype=float)
        out[interval] = Intervals(interval, raw, depth_arr, normalised.reshape(-1, levels),
                                  np.array(dmid_rows, dtype=float))
    return out


# --- regression --------------------------------------------------------------------------

def design(x: np.ndarray) -> np.ndarray:
    """[1, x]: the regressors with an intercept column first."""
    x = np.asarray(x, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    return np.column_stack([np.ones(len(x)), x])


def ols(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """OLS coefficients (intercept first) of y on x, by least squares (rank-safe)."""
    coef, *_ = np.linalg.lstsq(design(x), np.asarray(y, dtype=float), rcond=None)
    return coef


def predict(coef: np.ndarray, x: np.ndarray) -> np.ndarray:
    return design(x) @ coef


def r_squared(y: np.ndarray, fitted: np.ndarray) -> float:
    """1 − SSE/SST, SST around y's own mean (so a constant forecast at the mean scores 0 and a
    worse one scores below 0)."""
    y = np.asarray(y, dtype=float)
    sst = float(np.sum((y - y.mean()) ** 2))
    if sst == 0:
        return float("nan")
    return 1.0 - float(np.sum((y - fitted) ** 2)) / sst


def first_pc_weights(x: np.ndarray) -> np.ndarray:
    """The first principal component of x's covariance (columns = levels), signed so that
    its weights sum to a positive number (CCZ 2023's integration weights, before the ‖w‖₁)."""
    covariance = np.cov(np.asarray(x, dtype=float), rowvar=False)
    values, vectors = np.linalg.eigh(covariance)
    w = vectors[:, int(np.argmax(values))]
    return w if w.sum() >= 0 else -w


def integrate(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """`integrated_ofi` on each row (the quantcore function, so the stream's and this agree)."""
    weights = [float(v) for v in w]
    return np.array([integrated_ofi([float(v) for v in row], weights) for row in x], dtype=float)


def fit_scores(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """In-sample R² (fit and score on all of it) and out-of-sample R² (fit on the first
    half, score on the second)."""
    half = len(y) // 2
    in_sample = r_squared(y, predict(ols(x, y), x))
    coef = ols(x[:half], y[:half])
    return {"in_sample": in_sample, "out_of_sample": r_squared(y[half:], predict(coef, x[half:]))}


def analyse(data: Intervals) -> dict[str, Any]:
    """The three regressions of one symbol and interval length."""
    x, y = data.ofi, data.dmid
    half = len(y) // 2
    w = first_pc_weights(x[:half])
    integrated = integrate(x, w)
    level1 = fit_scores(x[:, 0], y)
    multi = fit_scores(x, y)
    pc = fit_scores(integrated, y)
    coef = ols(x, y)
    correlations = [float(np.corrcoef(x[:, m], y)[0, 1]) if x[:, m].std() > 0 else float("nan")
                    for m in range(x.shape[1])]
    return {
        "intervals": len(y),
        "r2_level1": {k: round(v, 4) for k, v in level1.items()},
        "r2_multi_level": {k: round(v, 4) for k, v in multi.items()},
        "r2_integrated": {k: round(v, 4) for k, v in pc.items()},
        "multi_minus_level1_out_of_sample": round(multi["out_of_sample"] - level1["out_of_sample"], 4),
        "pc1_weights_l1": [round(float(v), 3) for v in w / np.abs(w).sum()],
        "multi_level_coefficients": [round(float(v), 4) for v in coef[1:]],
        "corr_with_dmid": [round(v, 3) for v in correlations],
        "dmid_std_ticks": round(float(y.std()), 3),
        "mean_depth_lots": round(float(data.depth.mean()), 1),
    }


def measure(symbols: list[str], seconds: float, intervals_s: tuple[float, ...] = DEFAULT_INTERVALS_S,
            seed: int = SEED, model_dt: float = MODEL_DT_S, book_levels: int = 100,
            progress=lambda text: None) -> dict[str, Any]:
    """Every symbol x interval length: `analyse`'s figures, plus a summary per interval."""
    per_symbol: dict[str, Any] = {}
    for symbol in symbols:
        progress(f"{symbol}: {seconds:.0f} s of market")
        data = simulate(symbol, seconds, intervals_s, seed, model_dt, book_levels)
        per_symbol[symbol] = {f"{interval:g}s": analyse(data[interval]) for interval in intervals_s}
    summary = {}
    for interval in intervals_s:
        key = f"{interval:g}s"
        gains = [per_symbol[s][key]["multi_minus_level1_out_of_sample"] for s in symbols]
        summary[key] = {"symbols_where_multi_level_wins_out_of_sample": sum(g > 0 for g in gains),
                        "of": len(symbols), "mean_out_of_sample_gain": round(float(np.mean(gains)), 4)}
    return {"seconds_of_market": seconds, "model_dt_s": model_dt, "seed": seed, "levels": LEVELS,
            "book_levels": book_levels, "summary": summary, "symbols": per_symbol}


def _symbols_option(value: Any) -> list[str]:
    if isinstance(value, (list, tuple)):
        return list(value)
    return [s.strip().upper() for s in str(value).split(",") if s.strip()]


def run(ctx: BenchContext) -> dict[str, Any]:
    """The harness entry point: `quantcore bench ofi [--smoke] [--set seconds=3600]
    [--set symbols=BTCUSDT,ETHUSDT] [--set model_dt=0.1]`."""
    symbols = _symbols_option(ctx.option("symbols", DEFAULT_SYMBOLS, smoke_default=DEFAULT_SYMBOLS[:2]))
    seconds = float(ctx.option("seconds", 3600.0, smoke_default=300.0))
    model_dt = float(ctx.option("model_dt", MODEL_DT_S))
    seed = int(ctx.option("seed", ctx.settings.simulator.seed))
    figures = measure(symbols, seconds, DEFAULT_INTERVALS_S, seed, model_dt, ctx.settings.simulator.levels,
                      progress=ctx.progress)
    for symbol, by_interval in figures["symbols"].items():
        for key, f in by_interval.items():
            ctx.progress(f"{symbol} {key}: R² level-1 {f['r2_level1']} multi {f['r2_multi_level']}")
    return figures
