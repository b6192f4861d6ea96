"""Rolling trade and mid statistics of one symbol over time windows, in plain Python.

For each window w (1 s, 10 s, 60 s by default) and a query time `now`, over the events
with now − w < time ≤ now (the window is open on the left, closed on the right):
- `trade_count_<w>`: number of trades;
- `vwap_<w>` = Σ pᵢqᵢ / Σ qᵢ (volume-weighted average price); None without volume;
- `tfi_<w>` = (V_buy − V_sell) / (V_buy + V_sell), the trade-flow imbalance, in [−1, 1]
  (e.g. Cont, Kukanov & Stoikov 2014 on trade imbalance vs OFI; Silantyev 2019, "Order
  flow analysis of cryptocurrency markets"); None without volume. A trade's side is its
  aggressor's, from Binance's `m` ("is the buyer the market maker?"): m = true means the
  seller hit the bid, a sell; m = false a buy;
- `rv_<w>` = sqrt(Σ rᵢ²), the realized volatility of the mid (Andersen & Bollerslev
  1998; Barndorff-Nielsen & Shephard 2002) over the log returns rᵢ = ln(mᵢ / mᵢ₋₁) of
  consecutive mids *both* inside the window (the return from the last mid before the
  window to the first inside it is not counted); not annualised, not scaled to the
  window's length; None with fewer than two mids in the window.
`<w>` is the window in s, ms or µs: `1s`, `10s`, `60s`, `500ms`, `250us`.

Cost: amortised O(1) per event and per window. Each kind of event is kept in a list in
time order with, per window, the index of its oldest event and running sums; `values`
moves those indices forward and compacts the list from time to time.

Float drift: running float sums that add each event and later subtract it keep the
rounding error of every operation, so after hours a window's sum is off (even below 0
once empty, which would make a square root fail). Here the sums are exact integers:
prices and quantities are counted in units of 10^-decimals (8 by default: Binance prints
8 decimals, so this is the exchange's own number, not a rounding), notional as the
product of the two, and squared log returns in units of 2^-128 (~3e-39, far below any
return's square). Python ints add and subtract exactly, so a window's sum is always
exactly the sum of the events in it, and VWAP and TFI are int/int divisions, correctly
rounded. No periodic recomputation is needed.

Order: each kind of event (trades, mids) must be added in non-decreasing time (a symbol's
trades and book updates arrive that way); `values` must be called with non-decreasing
`now`. Either mistake raises ValueError. Events after `now` are fine: they are counted
once a later query reaches them. Memory is the events since the oldest window of the
last query, so call `values` regularly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

DEFAULT_WINDOWS_US = (1_000_000, 10_000_000, 60_000_000)
DEFAULT_DECIMALS = 8
SQUARE_BITS = 128  # squared log returns are counted in units of 2^-SQUARE_BITS
_COMPACT_AFTER = 4096  # dropped events kept before the list is compacted


def window_label(window_us: int) -> str:
    """`60s`, `500ms` or `250us`: the largest unit that divides the window."""
    if window_us % 1_000_000 == 0:
        return f"{window_us // 1_000_000}s"
    if window_us % 1_000 == 0:
        return f"{window_us // 1_000}ms"
    return f"{window_us}us"


class _Series:
    """Events of one kind in time order; for each window, the index of its oldest event
    and the exact sums of the events' integer fields from there to `tail` (the events up
    to the last query's `now`)."""

    def __init__(self, windows_us: Sequence[int], width: int) -> None:
        self.windows_us = tuple(windows_us)
        self.times: list[int] = []
        self.fields: list[tuple[int, ...]] = []
        self.tail = 0
        self.heads = [0] * len(self.windows_us)
        self.sums = [[0] * width for _ in self.windows_us]
        self.last_time: int | None = None

    def append(self, time_us: int, fields: tuple[int, ...]) -> None:
        if self.last_time is not None and time_us < self.last_time:
            raise ValueError(f"event at {time_us} us after one at {self.last_time} us: add events in time order")
        self.last_time = time_us
        self.times.append(time_us)
        self.fields.append(fields)

    def advance(self, now_us: int) -> None:
        times, fields = self.times, self.fields
        while self.tail < len(times) and times[self.tail] <= now_us:
            for sums in self.sums:
                for i, value in enumerate(fields[self.tail]):
                    sums[i] += value
            self.tail += 1
        for w, window in enumerate(self.windows_us):
            cutoff, head, sums = now_us - window, self.heads[w], self.sums[w]
            while head < self.tail and times[head] <= cutoff:
                for i, value in enumerate(fields[head]):
                    sums[i] -= value
                head += 1
            self.heads[w] = head
        self._compact()

    def _compact(self) -> None:
        """Drop the events every window has left, once there are many of them (and at
        least as many as are kept), so each is moved O(1) times overall."""
        dropped = min(self.heads)
        if dropped >= _COMPACT_AFTER and dropped * 2 >= len(self.times):
            del self.times[:dropped]
            del self.fields[:dropped]
            self.tail -= dropped
            self.heads = [head - dropped for head in self.heads]

    def count(self, w: int) -> int:
        return self.tail - self.heads[w]


class TradeWindows:
    """One symbol's rolling trade count, VWAP, trade-flow imbalance and realized
    volatility over each window (see the module docstring for the definitions)."""

    def __init__(self, windows_us: Sequence[int] = DEFAULT_WINDOWS_US, decimals: int = DEFAULT_DECIMALS) -> None:
        if not windows_us or any(not isinstance(w, int) or w <= 0 for w in windows_us):
            raise ValueError(f"windows must be positive integers of microseconds, got {windows_us}")
        self.labels = tuple(window_label(w) for w in windows_us)
        if len(set(self.labels)) != len(self.labels):
            raise ValueError(f"duplicate windows: {windows_us}")
        self.windows_us = tuple(windows_us)
        self.scale = 10 ** decimals
        self.trades = _Series(self.windows_us, 3)  # buy qty, sell qty, notional (integer units)
        self.mids = _Series(self.windows_us, 1)  # squared log return from the previous mid
        self.last_mid: float | None = None
        self.last_now: int | None = None

    def _units(self, value: float, name: str) -> int:
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive finite number, got {value}")
        return round(value * self.scale)

    def add_trade(self, time_us: int, price: float, qty: float, buyer_is_maker: bool) -> None:
        """A trade; `buyer_is_maker` is Binance's `m` (true: the seller was the aggressor)."""
        price_units, qty_units = self._units(price, "price"), self._units(qty, "qty")
        buy, sell = (0, qty_units) if buyer_is_maker else (qty_units, 0)
        self.trades.append(time_us, (buy, sell, price_units * qty_units))

    def add_mid(self, time_us: int, mid: float) -> None:
        """A mid price (every book update, or only changes: equal mids add zero returns)."""
        if not (math.isfinite(mid) and mid > 0):
            raise ValueError(f"mid must be a positive finite number, got {mid}")
        square = 0
        if self.last_mid is not None:
            change = math.log(mid / self.last_mid)
            square = int(math.ldexp(change * change, SQUARE_BITS))
        self.mids.append(time_us, (square,))
        self.last_mid = mid

    def values(self, now_us: int) -> dict[str, float | None]:
        """Every statistic of every window ending at `now_us` (non-decreasing across calls)."""
        if self.last_now is not None and now_us < self.last_now:
            raise ValueError(f"query at {now_us} us after one at {self.last_now} us: time only moves forward")
        self.last_now = now_us
        self.trades.advance(now_us)
        self.mids.advance(now_us)
        result: dict[str, float | None] = {}
        for w, label in enumerate(self.labels):
            buy, sell, notional = self.trades.sums[w]
            volume = buy + sell
            result[f"trade_count_{label}"] = self.trades.count(w)
            result[f"vwap_{label}"] = notional / (volume * self.scale) if volume else None
            result[f"tfi_{label}"] = (buy - sell) / volume if volume else None
            result[f"rv_{label}"] = self._realized_volatility(w)
        return result

    def realized_volatility(self, now_us: int) -> dict[str, float | None]:
        """Only the `rv_<w>` of `values(now_us)` (same rules), without touching the
        trades: a few µs where `values` takes ~10 (the stream's writer, per book)."""
        if self.last_now is not None and now_us < self.last_now:
            raise ValueError(f"query at {now_us} us after one at {self.last_now} us: time only moves forward")
        self.last_now = now_us
        self.mids.advance(now_us)
        return {f"rv_{label}": self._realized_volatility(w) for w, label in enumerate(self.labels)}

    def _realized_volatility(self, w: int) -> float | None:
        mids = self.mids
        if mids.count(w) < 2:
            return None
        # The window's oldest mid carries the return from a mid outside the window.
        (total,), (first,) = mids.sums[w], mids.fields[mids.heads[w]]
        return math.sqrt(math.ldexp(float(total - first), -SQUARE_BITS))
