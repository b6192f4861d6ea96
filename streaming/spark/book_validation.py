"""Why a decoded book record cannot be used, as a Spark Column (null when it is valid).

The stream routes a record with a reason to the dead-letter topic instead of computing
signals from it. Checks run in order and the first failing one names the record:
undecodable payload, missing symbol or update id, more than MAX_LEVELS levels a side,
unparseable or non-finite numbers, non-positive prices, negative quantities, levels not
sorted best first, crossed book. They work on the level arrays parsed once by
`signals.level_columns`, one plain comparison per level unrolled over the MAX_LEVELS
positions (`get` is null past a side's end), so whole-stage codegen compiles them: the
sorts and higher-order functions this replaces cost ~36 µs a record.
"""

from __future__ import annotations

import functools

from pyspark.sql import Column
from pyspark.sql import functions as F

from streaming.spark.signals import MAX_LEVELS

UNDECODABLE = "undecodable: not a quantcore.v1.BookRecord protobuf"
MISSING_SYMBOL = "missing symbol"
MISSING_UPDATE_ID = "missing update_id (must be > 0)"
TOO_DEEP = f"more than {MAX_LEVELS} levels on a side"
NOT_A_NUMBER = "a price or qty is not a finite decimal number"
NON_POSITIVE_PRICE = "a price is not positive"
NEGATIVE_QTY = "a qty is negative"
BIDS_UNSORTED = "bids not sorted best first (strictly descending prices)"
ASKS_UNSORTED = "asks not sorted best first (strictly ascending prices)"
CROSSED = "crossed book: best bid >= best ask"

INFINITY = float("inf")


def _any(conditions: list[Column]) -> Column:
    """True if one condition is true; a null condition (a level past the end) counts as false."""
    return F.coalesce(functools.reduce(lambda acc, c: acc | c, conditions), F.lit(False))


def _any_level(values: Column, bad) -> Column:
    """`bad(value)` for some level of `values`."""
    return _any([bad(F.get(values, i)) for i in range(MAX_LEVELS)])


def _has_non_finite(values: Column) -> Column:
    """Some level is null (unparseable), NaN or infinite (NaN compares above +inf)."""
    return _any([(F.size(values) > i) & ~F.coalesce(F.abs(F.get(values, i)) < INFINITY, F.lit(False))
                 for i in range(MAX_LEVELS)])


def _unsorted(prices: Column, descending: bool) -> Column:
    """Some level is not strictly worse than the one before it."""
    pairs = [(F.get(prices, i - 1), F.get(prices, i)) for i in range(1, MAX_LEVELS)]
    return _any([(better <= worse) if descending else (better >= worse) for better, worse in pairs])


def invalid_reason(book: Column, bid_px: Column, bid_qty: Column, ask_px: Column, ask_qty: Column) -> Column:
    """The reason `book` (a decoded BookRecord struct) is unusable, or null if it is fine;
    the other arguments are its parsed level arrays (`signals.level_columns`)."""
    sides = ((bid_px, bid_qty), (ask_px, ask_qty))
    checks = [
        (book.isNull(), UNDECODABLE),
        (book["symbol"] == "", MISSING_SYMBOL),
        (book["update_id"] <= 0, MISSING_UPDATE_ID),
        ((F.size(bid_px) > MAX_LEVELS) | (F.size(ask_px) > MAX_LEVELS), TOO_DEEP),
        (_any([_has_non_finite(array) for side in sides for array in side]), NOT_A_NUMBER),
        (_any([_any_level(px, lambda p: p <= 0) for px, _ in sides]), NON_POSITIVE_PRICE),
        (_any([_any_level(qty, lambda q: q < 0) for _, qty in sides]), NEGATIVE_QTY),
        (_unsorted(bid_px, descending=True), BIDS_UNSORTED),
        (_unsorted(ask_px, descending=False), ASKS_UNSORTED),
        (F.get(bid_px, 0) >= F.get(ask_px, 0), CROSSED),
    ]
    reason = F.when(checks[0][0], checks[0][1])
    for failed, text in checks[1:]:
        reason = reason.when(failed, text)
    return reason
