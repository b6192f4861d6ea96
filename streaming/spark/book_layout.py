"""books_raw's flat level layout: one column per level and side, exact decimals.

Chosen by measurement (bench/README.md, "replay layout"): analysts read `bid_px_1` as a
number without casting, and a column store scans only the levels a query names, where the
BookRecord's arrays of {price, qty} decimal strings make every query parse all 40 levels.
The same shape as tardis.dev's `book_snapshot_25` files and most quant tooling.

    bid_px_1 .. bid_px_20, bid_qty_1 .. bid_qty_20, ask_px_1 .. ask_px_20, ask_qty_1 .. ask_qty_20
    bid_levels, ask_levels: how many levels the record carried (levels beyond are null)

Prices and quantities are DECIMAL(18, s): 18 digits are a 64-bit integer in Spark, Parquet,
duckdb and polars (a wider decimal is a 128-bit one, slower everywhere). Prices keep 8
decimals: Binance prints 8 (its REST and WebSocket docs, e.g. "0.01000000") and the
smallest tick is 0.00000001 (SHIBUSDT); up to 1e10. Quantities keep 6: a level is a sum of
orders in the symbol's lot size (stepSize), 0.00001 at the finest (BTCUSDT), and the
cheapest coins' levels hold billions of units (SHIB, ~4e8 at the simulator's typical
level): 6 decimals leave room up to 1e12. A record that does not fit (more than DEPTH
levels, more significant decimals than the scale, a number beyond 18 digits, or not a
plain decimal) is never rounded: the replay quarantines it, with the reason.

This module is pure (names and numbers only): the Spark replay and the bench's delta-rs
yardstick build their types from it.
"""

from __future__ import annotations

import re

DEPTH = 20  # Binance's deepest partial-depth stream (@depth20) and the ingest's default
PRECISION = 18
SCALES = {"px": 8, "qty": 6}  # also in jvm/spark/.../FlatBookDecoder.java
SIDES = ("bid", "ask")
PLAIN_DECIMAL = re.compile(r"[+-]?(?P<whole>[0-9]*)(?:\.(?P<fraction>[0-9]*))?", re.ASCII)


def level_column(side: str, what: str, level: int) -> str:
    """`bid_px_1` is the best bid's price; `what` is 'px' or 'qty', `level` 1-based."""
    return f"{side}_{what}_{level}"


def level_columns() -> list[str]:
    """Every level column in table order: bids' prices, bids' quantities, asks' ..."""
    return [level_column(side, what, level)
            for side in SIDES for what in ("px", "qty") for level in range(1, DEPTH + 1)]


def scale(what: str) -> int:
    return SCALES[what]


def kind(column: str) -> str:
    """'px' or 'qty', of a level column name."""
    return column.split("_")[1]


def count_column(side: str) -> str:
    return f"{side}_levels"


def fits(value: str, what: str) -> bool:
    """Whether a decimal string is exact in its column's DECIMAL(PRECISION, scale) (plain
    Python, the reference the JVM's check is tested against)."""
    match = PLAIN_DECIMAL.fullmatch(value)
    if match is None or not (match["whole"] or match["fraction"]):
        return False
    if len((match["fraction"] or "").rstrip("0")) > scale(what):
        return False
    return len(match["whole"].lstrip("0")) <= PRECISION - scale(what)
