"""Market-microstructure signals beyond OBI, as pure Python (issue 20).

Plain floats and ints, the standard library only (no Spark, Kafka, Redis or numpy), so a
stream's writer can compute them per record cheaply; a file per idea:

- `multi_level_ofi`: multi-level order-flow imbalance, Xu, Gould & Howison (2019), built
  on Cont, Kukanov & Stoikov (2014)'s OFI at each of the top M levels (non-strict
  inequalities: an unchanged price contributes its queue change); the per-update vector
  `ofi_levels`, its sum over an interval, and Cont, Cucuringu & Zhang (2023)'s depth
  normalisation and integrated (PCA-weighted, weights supplied) form.
- `microprice`: imbalance I = Qb/(Qb+Qa), weighted mid I·Pa + (1−I)·Pb, and Stoikov
  (2018)'s micro-price mid + g(I, S): `estimate` builds a `MicropriceTable` from
  transitions of sampled quotes (G1 and B from the absorbing-chain matrices Q, R1, R2,
  symmetrised, the partial sum Σ Bⁱ G1 to the paper's 6 terms by default), `apply` reads it.
- `trade_windows`: one symbol's rolling trade count, VWAP, trade-flow imbalance (aggressor
  side from Binance's `m`) and realized volatility of the mid over 1 s / 10 s / 60 s
  (configurable) windows, amortised O(1) per event with exact integer running sums.

`ofi_levels` is wired in: the compute stream's writer chains it per symbol
(streaming/spark/newest_books.py) into `Signals.ofi_levels`, and the replay's
`book_signals.ofi_levels` is its Spark twin (streaming/spark/signals.py). The micro-price
and the trade windows are not yet wired into the stream, the replay, Redis or gRPC.
"""

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
from quantcore.microstructure.multi_level_ofi import (
    Level,
    integrated_ofi,
    level_ofi,
    mean_depth,
    normalized_ofi,
    ofi_levels,
    sum_ofi,
)
from quantcore.microstructure.trade_windows import TradeWindows, window_label

__all__ = [
    "Level",
    "MicropriceTable",
    "Quote",
    "TradeWindows",
    "Transition",
    "apply",
    "estimate",
    "imbalance",
    "imbalance_bucket",
    "integrated_ofi",
    "level_ofi",
    "mean_depth",
    "normalized_ofi",
    "ofi_levels",
    "spread_ticks",
    "sum_ofi",
    "transitions",
    "weighted_mid",
    "window_label",
]
