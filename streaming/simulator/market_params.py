"""Per-instrument market parameters of the simulator's queue-reactive model (pure data).

Three liquidity tiers, shaped like Binance spot:

* ``major`` (BTC, ETH, BNB, SOL, XRP, DOGE): deep, fast books quoted at a 1-tick spread
  almost always (Binance's BTCUSDT/ETHUSDT trade at 0.01 nearly all day).
* ``large`` (ADA, TRX, LTC, LINK, AVAX, ...): a 1-2 tick spread, thinner queues.
* ``thin`` (the rest, and unknown symbols): a spread of a few ticks, sparse queues.

Intensities are per second, queue sizes in *units* (one unit = a typical order of
``order_usdt``). The functional forms are in ``streaming.simulator.model`` next to the
formulas; this module only holds the numbers.

Volatility: the latent fair price is a random walk whose per-second standard deviation is
``annual_vol * price / sqrt(seconds per year)`` expressed in ticks, capped at ``max_vol_ticks``
per sqrt(second). Binance's tick is tiny relative to the price for BTC/ETH/BNB (BTCUSDT's
0.01 at ~65,000 is 0.0015 bp: the real price moves ~500 ticks a second, through a sparse
book); a dense tick-grid queue model cannot follow that at a few hundred events a second,
so those instruments move at the cap (documented limitation: their price paths are calmer
than the real ones; their microstructure - 1-tick spread, queue dynamics - is the point).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from streaming.simulator.instruments import UNITS, Instrument

SECONDS_PER_YEAR = 365 * 24 * 3600


@dataclass(frozen=True)
class TierParams:
    """The queue-reactive intensities of one liquidity tier (see model.py for the formulas)."""

    name: str
    active_levels: int  # K: distances from the opposite best simulated event by event
    arrival_a: float  # A: limit arrivals/s at distance 1 (before the shape h(i))
    arrival_alpha: float  # alpha: lambda_L(i) ~ i^-alpha (Cont-Stoikov-Talreja's power law)
    inside_damp: tuple[float, ...]  # h(i) for i = 1, 2, ...: quoting inside/at the touch (1 = none)
    arrival_b0: float  # b0: lambda_L(i, q) = lambda_L(i) / (1 + q / b0) (queue-reactive decline)
    cancel_theta: float  # theta0: cancels/s per unit of queue
    cancel_near: float  # c: theta(i) = theta0 * (1 + c / i): fleeting quotes near the touch
    market_mu: float  # mu: market orders/s per side
    market_units: float  # mean market order size in units (lognormal, sigma 0.9)
    lean_scale_ticks: float  # S: s = clip((fair - mid) / S, -1, 1)
    lean_market: float  # a_M
    lean_limit: float  # a_L
    lean_cancel: float  # a_C
    order_usdt: float  # one unit (a typical order) in USDT
    far_units: float  # mean size of a far (refilled) level, in units
    far_gap_ticks: int  # far levels are 1..far_gap_ticks apart
    annual_vol: float
    max_vol_ticks: float  # cap on the fair price's vol, ticks per sqrt(second)


TIERS = {
    "major": TierParams("major", active_levels=40, arrival_a=9.0, arrival_alpha=0.35,
                        inside_damp=(1.6, 1.0), arrival_b0=8.0, cancel_theta=0.30, cancel_near=1.0,
                        market_mu=4.0, market_units=1.6, lean_scale_ticks=2.0, lean_market=0.85,
                        lean_limit=0.5, lean_cancel=0.5, order_usdt=4000.0, far_units=6.0,
                        far_gap_ticks=1, annual_vol=0.55, max_vol_ticks=1.2),
    "large": TierParams("large", active_levels=40, arrival_a=4.0, arrival_alpha=0.3,
                        inside_damp=(0.5, 0.9), arrival_b0=6.0, cancel_theta=0.25, cancel_near=1.0,
                        market_mu=2.0, market_units=1.4, lean_scale_ticks=2.5, lean_market=0.85,
                        lean_limit=0.5, lean_cancel=0.5, order_usdt=1500.0, far_units=5.0,
                        far_gap_ticks=2, annual_vol=0.75, max_vol_ticks=1.0),
    "thin": TierParams("thin", active_levels=50, arrival_a=2.0, arrival_alpha=0.2,
                       inside_damp=(0.06, 0.2, 0.5, 0.8), arrival_b0=5.0, cancel_theta=0.25, cancel_near=0.5,
                       market_mu=1.0, market_units=1.3, lean_scale_ticks=3.0, lean_market=0.85,
                       lean_limit=0.5, lean_cancel=0.5, order_usdt=600.0, far_units=4.0,
                       far_gap_ticks=3, annual_vol=0.85, max_vol_ticks=1.0),
}

TIER_OF = {
    **dict.fromkeys(["BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT"], "major"),
    **dict.fromkeys(["ADAUSDT", "TRXUSDT", "AVAXUSDT", "LINKUSDT", "LTCUSDT", "SHIBUSDT", "DOTUSDT",
                     "MATICUSDT", "BCHUSDT", "XLMUSDT", "SUIUSDT", "NEARUSDT"], "large"),
}

# Regime switching of the fair price (two-state Markov chain, per instrument).
CALM_MEAN_S = 900.0  # mean length of a calm spell
BURST_MEAN_S = 120.0  # mean length of a volatility burst
BURST_VOL = 3.0  # fair-price vol multiplier in a burst
BURST_RATE = 1.8  # order-flow intensity multiplier in a burst


@dataclass(frozen=True)
class MarketParams:
    tier: TierParams
    unit_lots: int  # one order unit in lots
    vol_ticks: float  # fair price vol, ticks per sqrt(second), calm regime


def market_params(inst: Instrument) -> MarketParams:
    tier = TIERS[TIER_OF.get(inst.symbol, "thin")]
    price = inst.ref_ticks * inst.tick_units / UNITS
    unit_lots = max(1, round(tier.order_usdt / price * UNITS / inst.lot_units))
    real_vol_ticks = tier.annual_vol / math.sqrt(SECONDS_PER_YEAR) * inst.ref_ticks
    return MarketParams(tier, unit_lots, min(real_vol_ticks, tier.max_vol_ticks))
