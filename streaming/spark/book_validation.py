"""Why a decoded book record cannot be used, as a Spark Column (null when it is valid).

The stream routes a record with a reason to the dead-letter topic instead of computing
signals from it. Checks run in order and the first failing one names the record:
undecodable payload, missing symbol or update id, unparseable or non-finite numbers,
non-positive prices, negative quantities, levels not sorted best first, crossed book.
They work on the level arrays parsed once by `signals.level_columns`, with native array
functions only (sorting puts nulls first and NaN last, so the ends of a sorted array
reveal malformed and non-finite numbers).
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

UNDECODABLE = "undecodable: not a quantcore.v1.BookRecord protobuf"
MISSING_SYMBOL = "missing symbol"
MISSING_UPDATE_ID = "missing update_id (must be > 0)"
NOT_A_NUMBER = "a price or qty is not a finite decimal number"
NON_POSITIVE_PRICE = "a price is not positive"
NEGATIVE_QTY = "a qty is negative"
BIDS_UNSORTED = "bids not sorted best first (strictly descending prices)"
ASKS_UNSORTED = "asks not sorted best first (strictly ascending prices)"
CROSSED = "crossed book: best bid >= best ask"


def _ends(values: Column) -> tuple[Column, Column]:
    """Smallest and largest of `values` in Spark's order: null < -inf < ... < +inf < NaN."""
    ordered = F.sort_array(values, asc=True)
    return F.get(ordered, 0), F.get(ordered, F.size(ordered) - 1)


def _has_non_finite(values: Column) -> Column:
    """Some value is null (unparseable), NaN or infinite."""
    first, last = _ends(values)
    return (F.size(values) > 0) & (first.isNull() | (first == float("-inf")) | ~(last < float("inf")))


def _strictly_sorted(prices: Column, descending: bool) -> Column:
    return (prices == F.sort_array(prices, asc=not descending)) & (F.size(F.array_distinct(prices)) == F.size(prices))


def invalid_reason(book: Column, bid_px: Column, bid_qty: Column, ask_px: Column, ask_qty: Column) -> Column:
    """The reason `book` (a decoded BookRecord struct) is unusable, or null if it is fine;
    the other arguments are its parsed level arrays (`signals.level_columns`)."""
    prices, qtys = F.concat(bid_px, ask_px), F.concat(bid_qty, ask_qty)
    checks = [
        (book.isNull(), UNDECODABLE),
        (book["symbol"] == "", MISSING_SYMBOL),
        (book["update_id"] <= 0, MISSING_UPDATE_ID),
        (_has_non_finite(prices) | _has_non_finite(qtys), NOT_A_NUMBER),
        (_ends(prices)[0] <= 0, NON_POSITIVE_PRICE),
        (_ends(qtys)[0] < 0, NEGATIVE_QTY),
        (~_strictly_sorted(bid_px, descending=True), BIDS_UNSORTED),
        (~_strictly_sorted(ask_px, descending=False), ASKS_UNSORTED),
        (F.get(bid_px, 0) >= F.get(ask_px, 0), CROSSED),
    ]
    reason = F.when(checks[0][0], checks[0][1])
    for failed, text in checks[1:]:
        reason = reason.when(failed, text)
    return reason
