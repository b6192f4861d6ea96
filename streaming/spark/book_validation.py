"""Why a decoded book record cannot be used, as a Spark Column (null when it is valid).

The stream routes a record with a reason to the dead-letter topic instead of computing
signals from it. Checks run in order and the first failing one names the record:
undecodable payload, missing symbol or update id, then the level checks (LEVEL_CHECKS)
on the arrays parsed once by `signals.level_columns`: unparseable or non-finite numbers,
non-positive prices, negative quantities, levels not sorted best first, crossed book.
The level checks are one pass of the JVM UDF `io.quantcore.spark.BookLevelCheck`
(jvm/spark), which returns the number of the first failing one: as array expressions
they needed sorts, a de-duplication and interpreted lambdas, ~35 core-µs a record.
"""

from __future__ import annotations

from pyspark.sql import Column, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import IntegerType

from quantcore.spark_session import register_java_function

UNDECODABLE = "undecodable: not a quantcore.v1.BookRecord protobuf"
MISSING_SYMBOL = "missing symbol"
MISSING_UPDATE_ID = "missing update_id (must be > 0)"
NOT_A_NUMBER = "a price or qty is not a finite decimal number"
NON_POSITIVE_PRICE = "a price is not positive"
NEGATIVE_QTY = "a qty is negative"
BIDS_UNSORTED = "bids not sorted best first (strictly descending prices)"
ASKS_UNSORTED = "asks not sorted best first (strictly ascending prices)"
CROSSED = "crossed book: best bid >= best ask"


# In the order of BookLevelCheck's result (1-based).
LEVEL_CHECKS = (NOT_A_NUMBER, NON_POSITIVE_PRICE, NEGATIVE_QTY, BIDS_UNSORTED, ASKS_UNSORTED, CROSSED)
LEVEL_CHECK_CLASS = "io.quantcore.spark.BookLevelCheck"
LEVEL_CHECK_FUNCTION = "qc_book_level_check"


def failed_level_check(bid_px: Column, bid_qty: Column, ask_px: Column, ask_qty: Column) -> Column:
    """The LEVEL_CHECKS reason the levels fail first, or null. Registers the UDF in the
    active session first (idempotent), like the decoder."""
    register_java_function(SparkSession.active(), LEVEL_CHECK_FUNCTION, LEVEL_CHECK_CLASS, IntegerType())
    failed = F.call_function(LEVEL_CHECK_FUNCTION, bid_px, bid_qty, ask_px, ask_qty)
    return F.get(F.array(*(F.lit(text) for text in LEVEL_CHECKS)), failed - 1)


def invalid_reason(book: Column, bid_px: Column, bid_qty: Column, ask_px: Column, ask_qty: Column) -> Column:
    """The reason `book` (a decoded BookRecord struct) is unusable, or null if it is fine;
    the other arguments are its parsed level arrays (`signals.level_columns`)."""
    return (F.when(book.isNull(), UNDECODABLE)
            .when(book["symbol"] == "", MISSING_SYMBOL)
            .when(book["update_id"] <= 0, MISSING_UPDATE_ID)
            .otherwise(failed_level_check(bid_px, bid_qty, ask_px, ask_qty)))
