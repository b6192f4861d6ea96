"""Signals within their mathematical bounds: a replayed day of `book_signals` and of `trades`
(its trade-flow columns), read with deltalake + polars (no JVM) like replay_checks.py;
Dagster's asset checks `book_signals_within_bounds` and `trade_flow_within_bounds`
(quantcore_platform/replay_assets.py) turn the outcomes into results, the tests call the
frame-level functions directly.

Each bound is data (`Bound`): a column between a lower and an upper limit (a number or
another column), or a relation (a polars expression true where a row breaks it), the rows
it applies to, its severity and why it holds:
- ERROR: the bound follows from the definition (or from the validation every signal row
  passed), so a violation is a bug in the computation or the table.
- WARN: the bound is a property of good data or of an estimate, not of the definition.
A null value is not checked (undefined signals are null by design); NaN is a violation.
Prices are doubles computed by a few operations: a price limit allows PRICE_TOLERANCE
relative to the limit (rounding), an OBI or TFI limit none (those ratios cannot round
past ±1: |b − a| <= b + a survives rounding, and so does the division).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date

import polars as pl

from quantcore.settings import PathsSettings
from streaming.spark.delta_tables import BOOK_SIGNALS
from streaming.spark.replay_checks import CheckOutcome, read_day
from streaming.spark.trade_replay import TRADES

ERROR, WARN = "ERROR", "WARN"
PRICE_TOLERANCE = 1e-9  # relative, for limits that are prices
EXAMPLES = 5
OFI_LEVELS = 10  # signals.OFI_LEVELS (not imported: that module builds Spark Columns)
RV_COLUMNS = ("rv_1s", "rv_10s", "rv_60s")
OBI_COLUMNS = ("obi_1", "obi_5", "obi_10", "obi_20", "obi_weighted")
WINDOWS = (("1s", 1_000_000), ("10s", 10_000_000), ("60s", 60_000_000))  # trade_flow.WINDOWS_US

Limit = float | str | None  # a number, a column's name, or no limit


@dataclass(frozen=True)
class Bound:
    """`column` within [lower, upper] (limits: numbers or column names; a null limit
    checks nothing), or, with `relation`, broken where relation() is true. `applies`
    restricts the rows (None: every row); `columns` are what examples show."""

    name: str
    column: str
    severity: str
    why: str
    lower: Limit = None
    upper: Limit = None
    relation: Callable[[], pl.Expr] | None = None
    applies: Callable[[], pl.Expr] | None = None
    price: bool = False  # limits are prices: allow PRICE_TOLERANCE
    columns: tuple[str, ...] = ()

    def _limit(self, limit: Limit) -> pl.Expr:
        return pl.col(limit) if isinstance(limit, str) else pl.lit(limit, dtype=pl.Float64)

    def broken(self) -> pl.Expr:
        """True where a row breaks the bound; false where it holds or is not checked."""
        if self.relation is not None:
            broken = self.relation()
        else:
            value = pl.col(self.column)
            broken = value.is_nan()
            for limit, sign in ((self.lower, -1), (self.upper, 1)):
                if limit is None:
                    continue
                edge = self._limit(limit)
                if self.price:
                    edge = edge + sign * PRICE_TOLERANCE * edge.abs()
                broken = broken | ((value < edge) if sign < 0 else (value > edge))
        broken = pl.col(self.column).is_not_null() & broken
        if self.applies is not None:
            broken = self.applies() & broken
        return broken.fill_null(False)

    def checked(self) -> pl.Expr:
        """True for the rows the bound looks at (applicable, value not null)."""
        checked = pl.col(self.column).is_not_null()
        return (checked if self.applies is None else self.applies() & checked).fill_null(False)

    def shown(self) -> list[str]:
        limits = [limit for limit in (self.lower, self.upper) if isinstance(limit, str)]
        return list(dict.fromkeys([self.column, *limits, *self.columns]))


# --- book_signals ------------------------------------------------------------------------------

def valid_book() -> pl.Expr:
    return pl.col("invalid_reason").is_null()


def _ofi_levels_broken() -> pl.Expr:
    levels = pl.col("ofi_levels")
    first, ofi = levels.list.get(0, null_on_oob=True), pl.col("ofi")
    return ((levels.list.len() != OFI_LEVELS) | ofi.is_null() | first.is_null()
            | ((first - ofi).abs() > PRICE_TOLERANCE * pl.max_horizontal(ofi.abs(), pl.lit(1.0)))
            | first.is_nan())


def _rv_broken(shorter: str, longer: str) -> Callable[[], pl.Expr]:
    return lambda: pl.col(longer).is_null() | (pl.col(shorter) > pl.col(longer) * (1 + PRICE_TOLERANCE))


BOOK_SIGNAL_BOUNDS: tuple[Bound, ...] = (
    *(Bound(f"{c}_in_[-1,1]", c, ERROR, "(Σ bid − Σ ask) / (Σ bid + Σ ask) of non-negative quantities",
            lower=-1.0, upper=1.0) for c in OBI_COLUMNS),
    Bound("spread_non_negative", "spread", ERROR,
          "validation rejects a crossed book (best bid >= best ask), so a valid book's ask − bid is positive",
          lower=0.0, applies=valid_book, columns=("best_bid", "best_ask")),
    Bound("mid_within_best_bid_ask", "mid", ERROR, "(bid + ask) / 2 of bid <= ask (exact even in doubles)",
          lower="best_bid", upper="best_ask", applies=valid_book, price=True),
    Bound("weighted_mid_within_best_bid_ask", "weighted_mid", ERROR,
          "mid + spread / 2 · obi_1 with obi_1 in [-1, 1]: a convex combination of bid and ask",
          lower="best_bid", upper="best_ask", applies=valid_book, price=True, columns=("obi_1",)),
    # Stoikov's micro-price is mid + g(I, S)·tick, g the *estimated* expected future mid
    # change (six terms of moves up to a tick each: quantcore/microstructure/microprice.py).
    # Nothing in the estimate caps |g| at half the spread, and the paper finds it inside
    # the spread empirically: outside means an odd table (thin data, a wrong tick), not
    # wrong arithmetic. Hence a warning.
    Bound("microprice_within_best_bid_ask", "microprice", WARN,
          "an estimate of the future mid; inside the spread for sound tables, not by definition",
          lower="best_bid", upper="best_ask", applies=valid_book, price=True),
    Bound("ofi_levels_10_levels_first_is_ofi", "ofi_levels", ERROR,
          f"multi-level OFI of the top {OFI_LEVELS} levels, level 1 computed as ofi",
          relation=_ofi_levels_broken, columns=("ofi",)),
    *(Bound(f"{c}_non_negative", c, ERROR, "the square root of a sum of squared log returns", lower=0.0)
      for c in RV_COLUMNS),
    # Not in issue 20's list, but it follows from the definition: the windows (t − w, t] of
    # one book end at the same t, the shorter one's returns (into each mid but the window's
    # oldest) are a subset of the longer one's, so its sum of squares is not larger; both
    # implementations sum exactly (integers / decimals) before the monotone cast and sqrt.
    # A shorter window with two mids implies the longer one has them: null there is broken.
    *(Bound(f"{short}_le_{long}", short, ERROR,
            "nested windows ending at the same book: a subset of the same squared returns",
            relation=_rv_broken(short, long), columns=(long,))
      for short, long in zip(RV_COLUMNS, RV_COLUMNS[1:])),
)
BOOK_KEYS = ("symbol", "update_id")
BOOK_COLUMNS = ("invalid_reason", "best_bid", "best_ask", "spread", "mid", "weighted_mid", "microprice",
                "ofi", "ofi_levels", *OBI_COLUMNS, *RV_COLUMNS)


# --- trades (trade flow) --------------------------------------------------------------------------

# Derived per symbol of the day by `prepare_trades`.
DAY_MIN, DAY_MAX, FIRST_COUNTED = "_day_min_price", "_day_max_price", "_first_counted_time_us"


def _counted() -> pl.Expr:
    return pl.col("trade_count_1s").is_not_null()


def _window_in_day(window_us: int) -> Callable[[], pl.Expr]:
    # The replay counts the 70 s before the day too: a window reaching before the symbol's
    # first counted trade of the day may hold the previous day's prices. Counted trades
    # come in Kafka order with non-decreasing trade times, so a window starting at or after
    # that first trade holds only trades of this day's table.
    return lambda: pl.col("trade_time_us") - window_us >= pl.col(FIRST_COUNTED)


def _counts_broken(shorter: str, longer: str) -> Callable[[], pl.Expr]:
    return lambda: pl.col(longer).is_null() | (pl.col(shorter) > pl.col(longer))


TRADE_FLOW_BOUNDS: tuple[Bound, ...] = (
    Bound("trade_count_1s_at_least_1", "trade_count_1s", ERROR,
          "a counted trade is in its own windows, (t − w, t] includes t", lower=1.0),
    Bound("trade_count_1s_le_10s", "trade_count_1s", ERROR,
          "the windows end at the same trade and are nested", relation=_counts_broken("trade_count_1s",
                                                                                      "trade_count_10s"),
          columns=("trade_count_10s",)),
    Bound("trade_count_10s_le_60s", "trade_count_10s", ERROR,
          "the windows end at the same trade and are nested", relation=_counts_broken("trade_count_10s",
                                                                                      "trade_count_60s"),
          columns=("trade_count_60s",)),
    *(Bound(f"tfi_{label}_in_[-1,1]", f"tfi_{label}", ERROR, "(buy − sell volume) / volume", lower=-1.0, upper=1.0)
      for label, _ in WINDOWS),
    # A VWAP is a mean of its window's prices; checked cheaply against the day's range of
    # the symbol's prices, on the trades whose window lies inside the day.
    *(Bound(f"vwap_{label}_within_day_price_range", f"vwap_{label}", ERROR,
            "Σ price·qty / Σ qty is within the window's prices, inside the day's min..max",
            lower=DAY_MIN, upper=DAY_MAX, applies=_window_in_day(window_us), price=True,
            columns=("trade_time_us", FIRST_COUNTED)) for label, window_us in WINDOWS),
)
TRADE_KEYS = ("symbol", "stream", "trade_id")
TRADE_COLUMNS = ("price", "trade_time_us",
                 *(f"{kind}_{label}" for label, _ in WINDOWS for kind in ("trade_count", "vwap", "tfi")))


def prepare_trades(trades: pl.DataFrame) -> pl.DataFrame:
    """`trades` plus, per symbol, the day's min and max price and the first counted trade's time."""
    if trades.is_empty():
        return trades
    price = pl.col("price").cast(pl.Float64)
    counted_time = pl.when(_counted()).then(pl.col("trade_time_us"))
    return trades.with_columns(price.min().over("symbol").alias(DAY_MIN), price.max().over("symbol").alias(DAY_MAX),
                               counted_time.min().over("symbol").alias(FIRST_COUNTED))


# --- evaluation -------------------------------------------------------------------------------------

@dataclass
class BoundResult:
    bound: Bound
    checked: int
    violations: int
    examples: list[dict]


def _plain(value):
    """JSON-safe: NaN and infinities as strings, lists element by element."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def evaluate(frame: pl.DataFrame, bounds: Sequence[Bound], keys: Sequence[str],
             examples: int = EXAMPLES) -> list[BoundResult]:
    """Per bound: the rows it checked, the rows that break it and the first few of those
    (keys and the bound's columns). A bound whose column is missing checks nothing."""
    present = [b for b in bounds if all(c in frame.columns for c in b.shown())]
    if frame.is_empty() or not present:
        return [BoundResult(b, 0, 0, []) for b in bounds]
    counts = frame.select(
        *(b.checked().sum().alias(f"checked {i}") for i, b in enumerate(present)),
        *(b.broken().sum().alias(f"broken {i}") for i, b in enumerate(present))).row(0, named=True)
    results = {}
    for i, bound in enumerate(present):
        broken = int(counts[f"broken {i}"] or 0)
        shown = []
        if broken:
            rows = frame.filter(bound.broken()).head(examples)
            shown = [{k: _plain(v) for k, v in row.items()}
                     for row in rows.select(*[k for k in keys if k in frame.columns], *bound.shown()).to_dicts()]
        results[bound.name] = BoundResult(bound, int(counts[f"checked {i}"] or 0), broken, shown)
    return [results.get(b.name, BoundResult(b, 0, 0, [])) for b in bounds]


def worst_severity(results: Iterable[BoundResult]) -> str | None:
    """ERROR if an ERROR bound is broken, else WARN if a WARN bound is, else None."""
    broken = {r.bound.severity for r in results if r.violations}
    return ERROR if ERROR in broken else WARN if WARN in broken else None


def outcome(day: date, table: str, rows: int, results: list[BoundResult]) -> CheckOutcome:
    """Passed when no bound is broken; metadata: rows, per bound (severity, checked,
    violations), examples of the broken ones, and `severity` (the worst broken)."""
    severity = worst_severity(results)
    broken = {r.bound.name: r.violations for r in results if r.violations}
    description = (f"{day}: no {table} rows" if rows == 0 else
                   f"{day}: every bound holds on {rows} {table} rows" if not broken else
                   f"{day}: {severity} bound(s) broken in {table}: {broken}")
    return CheckOutcome(not broken, description, {
        "rows": rows, "severity": severity,
        "violations": {r.bound.name: r.violations for r in results},
        "bounds": {r.bound.name: {"severity": r.bound.severity, "checked": r.checked, "violations": r.violations,
                                  "why": r.bound.why} for r in results},
        "examples": {r.bound.name: r.examples for r in results if r.examples}})


def check_book_signals(paths: PathsSettings, day: date) -> CheckOutcome:
    signals = read_day(paths, BOOK_SIGNALS, day, [*BOOK_KEYS, *BOOK_COLUMNS])
    return outcome(day, BOOK_SIGNALS, signals.height, evaluate(signals, BOOK_SIGNAL_BOUNDS, BOOK_KEYS))


def check_trade_flow(paths: PathsSettings, day: date) -> CheckOutcome:
    trades = prepare_trades(read_day(paths, TRADES, day, [*TRADE_KEYS, *TRADE_COLUMNS]))
    return outcome(day, TRADES, trades.height, evaluate(trades, TRADE_FLOW_BOUNDS, TRADE_KEYS))
