"""Order-book signals as pure Spark Column expressions: the one definition the stream and
the replay share, so live and historical values are identical by construction.

Input: `bids` and `asks`, arrays of struct<price:string, qty:string>, best level first.
Array functions only (`aggregate`, `slice`, `reverse`, `get`): no explode, no shuffle, no
Python UDF. Decimal strings become doubles only here, each parsed once (`level_columns`:
`bids.price` etc. with a native array `try_cast`, null for a malformed number); the
signals are computed from those double arrays in a second projection. Higher-order
functions are interpreted by Spark (no codegen), so they are kept to the sums. Every
division is `try_divide`, so no input can raise (invalid books are dead-lettered before
they get here; see book_validation.py).

- `obi_k` (k in 1, 5, 10, 20) = (Σ bid qty − Σ ask qty) / (Σ bid qty + Σ ask qty) over the
  top k levels; null when both sides are empty or the denominator is 0.
- `obi_weighted`: the same with level i weighted by w_i = exp(−λ(i−1)), over the top 20.
- `best_bid`, `best_ask`, `mid`, `spread`, `spread_bps` (= spread / mid · 1e4),
  `weighted_mid` (= mid + spread / 2 · obi_1): null when a side is empty.
- `ofi` (Cont, Kukanov & Stoikov 2014) between consecutive books of a symbol, from the
  best levels of the previous and current book:
      e = 1{Pb ≥ Pb'}·qb − 1{Pb ≤ Pb'}·qb' − 1{Pa ≤ Pa'}·qa + 1{Pa ≥ Pa'}·qa'
  (primed = previous book); null when either book lacks a side.
- `ofi_levels` (Xu, Gould & Howison 2019): the same contribution at each of the top
  OFI_LEVELS levels, by rank, an array (index i = level i + 1; level 1 = `ofi`); a level
  beyond a side's depth is an empty queue behind the book; null when either book lacks
  a side. The definition is `quantcore.microstructure.ofi_levels` (plain Python).

How the stream and the replay use it: both parse the levels (`level_columns`), check the
book (book_validation.py), then `add_signals`; `ofi` comes out null and is filled by each:
- Replay (batch, replay_job.signal_rows): `ofi_column` against the previous *valid* book of
  the symbol that day (a window by symbol ordered by update id, `last(..., ignorenulls)`),
  which is what the stream's writer does too.
- Stream: a window would need a shuffle, and the real-time trigger allows none. Every
  record of a symbol comes from one Kafka partition, so one writer sees a symbol's books
  in offset order. The writer (redis_writer.py) chains OFI over them with `ofi_value`,
  the plain-Python twin of `ofi_column` (a unit test proves them equal), seeding the
  previous book from the symbol's Redis hash (`best_bid`, `best_bid_qty`, ...), which
  always holds the last book written.
`ofi_levels` is chained the same way, next to `ofi`: the rows carry each side's top
OFI_LEVELS levels (TOP_LEVEL_COLUMNS, a slice of the parsed arrays); the writer applies
`quantcore.microstructure.ofi_levels` and seeds from the levels the symbol's Redis hash
keeps (`top_levels`); the replay uses `ofi_levels_column`, its Column twin (unrolled
per level, so codegen'd, no Python; tests/unit/test_ofi_twin.py proves them equal).
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Mapping

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

OBI_DEPTHS = (1, 5, 10, 20)
WEIGHTED_DEPTH = 20

# Named exactly as the fields of proto.Signals.
SIGNAL_COLUMNS = (
    "obi_1", "obi_5", "obi_10", "obi_20", "obi_weighted", "mid", "spread", "spread_bps",
    "weighted_mid", "ofi", "best_bid", "best_ask", "ofi_levels", "microprice", "rv_1s", "rv_10s", "rv_60s",
)
# Realized volatility of the mid over 1 s, 10 s and 60 s (mid_volatility.py).
RV_WINDOWS_US = (1_000_000, 10_000_000, 60_000_000)
RV_COLUMNS = ("rv_1s", "rv_10s", "rv_60s")
MICROPRICE = "microprice"
# Not from one book alone, so not from `add_signals`: chained over consecutive books of a
# symbol (OFI, multi-level OFI, the realized volatilities) by the stream's writer or the
# replay's windows, or applied from the symbol's micro-price table (microprice).
CHAINED_COLUMNS = ("ofi", "ofi_levels", *RV_COLUMNS, MICROPRICE)
# Multi-level OFI depth (quantcore.microstructure.multi_level_ofi.DEFAULT_LEVELS).
OFI_LEVELS = 10
# Each side's top OFI_LEVELS levels (array<double>), what `ofi_levels` needs of a book.
TOP_LEVEL_COLUMNS = ("top_bid_px", "top_bid_qty", "top_ask_px", "top_ask_qty")
# The best-level quantities OFI needs from the previous book (not signals themselves).
BOOK_TOP_COLUMNS = ("best_bid_qty", "best_ask_qty")
# The parsed level arrays (array<double>) the signals are computed from.
LEVEL_COLUMNS = ("bid_px", "bid_qty", "ask_px", "ask_qty")


def level_columns(bids: Column, asks: Column) -> dict[str, Column]:
    """LEVEL_COLUMNS: each side's prices and quantities as double arrays, parsed once
    (`levels.price` is the array of the structs' prices; the cast is element-wise)."""
    def field(levels: Column, name: str) -> Column:
        return levels[name].try_cast("array<double>")

    return {"bid_px": field(bids, "price"), "bid_qty": field(bids, "qty"),
            "ask_px": field(asks, "price"), "ask_qty": field(asks, "qty")}


def total(values: Column) -> Column:
    return F.aggregate(values, F.lit(0.0), lambda acc, value: acc + value)


# Disjoint level ranges (first, last; 1-based) whose sums add up to every depth of OBI_DEPTHS.
SUM_RANGES = ((1, 1), (2, 5), (6, 10), (11, 20))
SIDES = ("bid", "ask")


def range_column(side: str, first: int, last: int) -> str:
    return f"{side}_qty_{first}_{last}"


def weighted_column(side: str) -> str:
    return f"{side}_qty_weighted"


# The per-side sums the signals are computed from (`level_sums`).
SUM_COLUMNS = tuple(range_column(side, first, last) for side in SIDES for first, last in SUM_RANGES) + \
    tuple(weighted_column(side) for side in SIDES)
# What `add_signals` adds: every signal but the chained ones (by the stream's writer or a
# window in the replay) and the best quantities.
VALUE_COLUMNS = tuple(name for name in (*SIGNAL_COLUMNS, *BOOK_TOP_COLUMNS) if name not in CHAINED_COLUMNS)


def range_total(qtys: Column, first: int, last: int) -> Column:
    """Σ qty over levels first..last (0 where the side is shorter)."""
    if first == last:
        return F.coalesce(F.get(qtys, first - 1), F.lit(0.0))
    return total(F.slice(qtys, first, last - first + 1))


def level_sums(bid_qty: Column, ask_qty: Column, obi_lambda: float) -> dict[str, Column]:
    """SUM_COLUMNS: each side's quantities summed over SUM_RANGES, and depth-weighted.

    They are columns of their own, computed in a projection before the signals, because
    Spark never shares a higher-order function as a common subexpression: a sum written
    into each signal that uses it would be evaluated once per use (interpreted, per level)."""
    sums = {}
    for side, qtys in zip(SIDES, (bid_qty, ask_qty), strict=True):
        for first, last in SUM_RANGES:
            sums[range_column(side, first, last)] = range_total(qtys, first, last)
        sums[weighted_column(side)] = weighted_total(qtys, obi_lambda)
    return sums


def top_total(sums: Mapping[str, Column], side: str, depth: int) -> Column:
    """Σ qty over a side's top `depth` levels, from its range sums."""
    parts = [sums[range_column(side, first, last)] for first, last in SUM_RANGES if last <= depth]
    return functools.reduce(operator.add, parts)


def imbalance(bid_total: Column, ask_total: Column, bid_qty: Column, ask_qty: Column) -> Column:
    """(b − a) / (b + a); null when both sides are empty or b + a is 0."""
    any_level = (F.size(bid_qty) > 0) | (F.size(ask_qty) > 0)
    return F.when(any_level, F.try_divide(bid_total - ask_total, bid_total + ask_total))


def weighted_total(qtys: Column, obi_lambda: float, depth: int = WEIGHTED_DEPTH) -> Column:
    """Σ w_i·qty_i over the top `depth` levels, w_i = exp(−λ(i−1)) = r^(i−1) with r = exp(−λ):
    Horner's rule over the reversed top, (…(q_n·r + q_(n−1))·r + …)·r + q_1, one
    interpreted lambda per level."""
    ratio = F.lit(math.exp(-obi_lambda))
    return F.aggregate(F.reverse(F.slice(qtys, 1, depth)), F.lit(0.0), lambda acc, qty: acc * ratio + qty)


def level_flow(prev_bid: Column, prev_bid_qty: Column, prev_ask: Column, prev_ask_qty: Column,
               bid: Column, bid_qty: Column, ask: Column, ask_qty: Column) -> Column:
    """One level's OFI contribution (non-strict inequalities), in the order of `ofi_value`
    and `multi_level_ofi.level_ofi`, so all three give the same double."""
    return (
        F.when(bid >= prev_bid, bid_qty).otherwise(0.0)
        - F.when(bid <= prev_bid, prev_bid_qty).otherwise(0.0)
        - F.when(ask <= prev_ask, ask_qty).otherwise(0.0)
        + F.when(ask >= prev_ask, prev_ask_qty).otherwise(0.0)
    )


def ofi_column(prev_bid: Column, prev_bid_qty: Column, prev_ask: Column, prev_ask_qty: Column,
               bid: Column, bid_qty: Column, ask: Column, ask_qty: Column) -> Column:
    """Order-flow imbalance of the current best levels against the previous ones."""
    inputs = (prev_bid, prev_bid_qty, prev_ask, prev_ask_qty, bid, bid_qty, ask, ask_qty)
    defined = F.lit(True)
    for column in inputs:
        defined = defined & column.isNotNull()
    return F.when(defined, level_flow(*inputs))


def top_level_columns(bid_px: Column, bid_qty: Column, ask_px: Column, ask_qty: Column) -> dict[str, Column]:
    """TOP_LEVEL_COLUMNS: the parsed level arrays cut to the top OFI_LEVELS (a slice, cheap)."""
    return {name: F.slice(levels, 1, OFI_LEVELS) for name, levels in
            zip(TOP_LEVEL_COLUMNS, (bid_px, bid_qty, ask_px, ask_qty), strict=True)}


def ofi_levels_column(prev_bid_px: Column, prev_bid_qty: Column, prev_ask_px: Column, prev_ask_qty: Column,
                      bid_px: Column, bid_qty: Column, ask_px: Column, ask_qty: Column) -> Column:
    """The Column twin of `quantcore.microstructure.ofi_levels(..., levels=OFI_LEVELS)`
    over level arrays (best first; the previous book's may be null: no OFI): an
    array<double> of OFI_LEVELS, null when either book lacks a side. Unrolled per level
    (`get`, no higher-order function), so Spark generates code for it. A level beyond a
    side's depth is (−∞, 0) on the bid side and (+∞, 0) on the ask side, as in the pure
    function."""
    sides = (prev_bid_px, prev_ask_px, bid_px, ask_px)
    defined = functools.reduce(operator.and_, (F.get(side, 0).isNotNull() for side in sides))

    def level(px: Column, qty: Column, index: int, missing: float) -> tuple[Column, Column]:
        return F.coalesce(F.get(px, index), F.lit(missing)), F.coalesce(F.get(qty, index), F.lit(0.0))

    flows = []
    for index in range(OFI_LEVELS):
        prev_bid, prev_ask = level(prev_bid_px, prev_bid_qty, index, -math.inf), level(prev_ask_px, prev_ask_qty,
                                                                                       index, math.inf)
        bid, ask = level(bid_px, bid_qty, index, -math.inf), level(ask_px, ask_qty, index, math.inf)
        flows.append(level_flow(*prev_bid, *prev_ask, *bid, *ask))
    return F.when(defined, F.array(*flows))


def signal_columns(bid_px: Column, bid_qty: Column, ask_px: Column, ask_qty: Column,
                   sums: Mapping[str, Column]) -> dict[str, Column]:
    """Every signal but `ofi`, plus the best quantities, from the parsed level arrays and
    their `level_sums`."""
    best_bid, best_ask = F.get(bid_px, 0), F.get(ask_px, 0)  # `get` is null past the end
    mid = (best_bid + best_ask) / 2.0
    spread = best_ask - best_bid

    def side_imbalance(bid_total: Column, ask_total: Column) -> Column:
        return imbalance(bid_total, ask_total, bid_qty, ask_qty)

    columns = {f"obi_{depth}": side_imbalance(top_total(sums, "bid", depth), top_total(sums, "ask", depth))
               for depth in OBI_DEPTHS}
    columns.update(
        obi_weighted=side_imbalance(sums[weighted_column("bid")], sums[weighted_column("ask")]),
        mid=mid,
        spread=spread,
        spread_bps=F.try_divide(spread, mid) * 1e4,
        weighted_mid=mid + spread / 2.0 * columns["obi_1"],
        best_bid=best_bid,
        best_ask=best_ask,
        best_bid_qty=F.get(bid_qty, 0),
        best_ask_qty=F.get(ask_qty, 0),
    )
    return columns


def add_signals(frame: DataFrame, obi_lambda: float) -> DataFrame:
    """`frame` (holding LEVEL_COLUMNS) plus VALUE_COLUMNS, in two projections: the level
    sums, then the signals over them."""
    bid_px, bid_qty, ask_px, ask_qty = (F.col(name) for name in LEVEL_COLUMNS)
    summed = frame.select("*", *(column.alias(name) for name, column in
                                 level_sums(bid_qty, ask_qty, obi_lambda).items()))
    sums = {name: F.col(name) for name in SUM_COLUMNS}
    values = signal_columns(bid_px, bid_qty, ask_px, ask_qty, sums)
    return summed.select(*(F.col(name) for name in frame.columns), *(c.alias(n) for n, c in values.items()))
