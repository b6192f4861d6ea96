"""Realized volatility of the mid (`rv_1s`, `rv_10s`, `rv_60s`): the stream's per-symbol
state and the replay's Spark windows, two independent implementations of one definition.

Definition (quantcore.microstructure.trade_windows, `rv_<w>`): at a book j of a symbol,
with t its exchange event time, over the mids of the symbol's valid books up to j (in
update id order) with t − w < tᵢ ≤ t: sqrt(Σ rᵢ²), rᵢ = ln(mᵢ / mᵢ₋₁), the return into
each of those books from the book before it, except the oldest one's (its predecessor is
outside the window); null with fewer than two mids in the window. "Valid" is the stream's
verdict (no dead-letter reason) with a mid (both sides) and an event time (> 0). Every
such book counts, including those the writer never publishes (superseded in its run):
conflation does not change the values. Books later in update id order with the same
event time are not in j's window (as of j's arrival).

- Stream (`MidVolatility`, in the writer): one `TradeWindows` per symbol, fed with
  `add_mid` (only; its trade half stays empty) in arrival order, queried with
  `realized_volatility` at the published book's event time. A book whose update id is not above the last one
  fed (a re-sent or out-of-order record) is not fed; an event time below the last one fed
  is taken as equal (never raises; the replay clamps the same way). The state lives in the writer process (it cannot be
  seeded from Redis cheaply: it is up to 60 s of mids). It starts empty, so **after a
  restart, or when a symbol's partition moves to another writer process, the first 60 s
  differ from the replay** (fewer mids in the windows): a symbol whose stored book
  (Redis) is newer than the last book this process fed has missed books, and its state
  is dropped rather than silently bridging the gap.
- Replay (`add_rv`, in replay_job.signal_rows): Spark windows per symbol and day over
  update id order (running sums) and event time (a range frame); see `add_rv`. Per
  symbol *and day*, like OFI: in the first 60 s of a UTC day the
  replay does not see the previous day's mids, the stream does.

tests/unit/test_mid_volatility.py proves the two equal on random books (ties included).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from quantcore.microstructure.trade_windows import TradeWindows, window_label
from streaming.spark.signals import RV_COLUMNS, RV_WINDOWS_US

assert tuple(f"rv_{window_label(w)}" for w in RV_WINDOWS_US) == RV_COLUMNS


@dataclass
class _SymbolMids:
    windows: TradeWindows = field(default_factory=lambda: TradeWindows(RV_WINDOWS_US))
    last_update_id: int = -1
    last_time: int = 0  # the largest event time fed


class MidVolatility:
    """One writer process's per-symbol mid windows. A run of rows: `feed` every valid
    book (in arrival order), then per symbol `values` at the published book's event time
    after `check` against the update id Redis holds."""

    def __init__(self) -> None:
        self.symbols: dict[str, _SymbolMids] = {}

    def check(self, symbol: str, stored_update_id: int | None) -> None:
        """Drop the symbol's state if Redis holds a book newer than any this process fed
        before the run (another process wrote books this one never saw)."""
        state = self.symbols.get(symbol)
        if state is not None and stored_update_id is not None and state.last_update_id < stored_update_id:
            del self.symbols[symbol]

    def forget(self, symbol: str) -> None:
        """Drop the symbol's state: another process wrote books of it that this one never saw."""
        self.symbols.pop(symbol, None)

    def feed(self, symbol: str, update_id: int, time_us: int | None, mid: float | None) -> bool:
        """Add a book's mid; False (ignored) without a usable mid or event time, or for an
        update id not above the last one fed."""
        if mid is None or not time_us or time_us <= 0 or not (mid > 0 and math.isfinite(mid)):
            return False
        state = self.symbols.get(symbol)
        if state is None:
            state = self.symbols[symbol] = _SymbolMids()
        if update_id <= state.last_update_id:
            return False
        state.last_update_id = update_id
        state.last_time = max(state.last_time, time_us)
        state.windows.add_mid(state.last_time, mid)
        return True

    def values(self, symbol: str, update_id: int) -> dict[str, float | None]:
        """RV_COLUMNS at the book `update_id` if it is the last book fed (at its event
        time, clamped as fed); all None otherwise (it was not fed: no mid, ...)."""
        state = self.symbols.get(symbol)
        if state is None or state.last_update_id != update_id:
            return dict.fromkeys(RV_COLUMNS)
        return state.windows.realized_volatility(state.last_time)

    def trim(self, symbol: str) -> None:
        """Let the windows drop mids older than 60 s (`values` does it too)."""
        state = self.symbols.get(symbol)
        if state is not None:
            state.windows.realized_volatility(state.last_time)


SUM_TYPE = "decimal(38,28)"  # exact running sums of squared returns (up to 1e10, to 1e-28)


def add_rv(frame: DataFrame, valid: Column, mid: Column, time_us: Column, symbol: str = "symbol",
           day: str = "date", update_id: str = "update_id") -> DataFrame:
    """`frame` (one row per symbol and update id) plus RV_COLUMNS: null for a row that
    does not count (not `valid`, no mid, no event time).

    O(1) per row (no sliding frame, which Spark recomputes row by row): with the books of
    a symbol-day in update id order, S the running sum of squared returns (exact
    decimals, so differences do not cancel), T the running max of the event time (the
    stream's clamp, see `MidVolatility.feed`) and h the number of books with T ≤ T_j − w
    (a range frame from the start: incremental), the window of book j is books h+1..j and
    rv² = S_j − S_(h+1), where S_(h+1) is the largest `lead(S)` over those h books."""
    counted = valid & mid.isNotNull() & (mid > 0) & time_us.isNotNull() & (time_us > 0)
    staged = frame.withColumn("_rv_counted", counted)
    # Rows that do not count are in a partition of their own (`_rv_counted` is in the key).
    keys = (symbol, day, "_rv_counted")
    sequence = Window.partitionBy(*keys).orderBy(update_id)
    running = sequence.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    square = F.pow(F.log(mid / F.lag(mid).over(sequence)), 2)
    staged = staged.withColumn("_rv_square", F.coalesce(square, F.lit(0.0)).cast(SUM_TYPE))
    staged = staged.withColumns({"_rv_time": F.max(time_us).over(running),
                                 "_rv_sum": F.sum("_rv_square").over(running),
                                 "_rv_order": F.row_number().over(sequence)})
    staged = staged.withColumn("_rv_next", F.lead("_rv_sum").over(sequence))
    result = {}
    for window_us, name in zip(RV_WINDOWS_US, RV_COLUMNS, strict=True):
        before = Window.partitionBy(*keys).orderBy("_rv_time").rangeBetween(Window.unboundedPreceding, -window_us)
        count = F.col("_rv_order") - F.count(F.lit(1)).over(before)
        oldest = F.coalesce(F.max("_rv_next").over(before), F.lit(0).cast(SUM_TYPE))
        result[name] = F.when(F.col("_rv_counted") & (count >= 2),
                              F.sqrt((F.col("_rv_sum") - oldest).cast("double")))
    return staged.withColumns(result).drop("_rv_counted", "_rv_square", "_rv_time", "_rv_sum", "_rv_order",
                                           "_rv_next")
