"""BookRecords in books_raw's flat layout, as Spark Columns: decoded, and back to levels.

`decode_flat`: one call of the JVM UDF `io.quantcore.spark.FlatBookDecoder` (jvm/spark) per
record gives the BookRecord's fields and its levels as exact decimals (book_layout.py).
Spark's own string-to-decimal cast rounds a string with more decimals than the scale, so
it could not say whether a value is exact.

`level_arrays`: the flat decimals as the double arrays the signals module computes from
(signals.LEVEL_COLUMNS). A DECIMAL cast to double is the double nearest to its exact value,
which is what the stream's cast of the same string gives (a test checks it at every
magnitude), so replayed signals equal the live ones.
"""

from __future__ import annotations

import functools

from pyspark.sql import Column, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import BooleanType, DecimalType, IntegerType, StructField, StructType

from quantcore.spark_session import register_java_function
from quantcore.wire import BOOK_MESSAGE
from streaming.spark import book_layout, signals
from streaming.spark.protobuf_decode import default_descriptor_set, message_descriptor, spark_schema

FLAT_BOOK_CLASS = "io.quantcore.spark.FlatBookDecoder"
FLAT_BOOK_FUNCTION = "qc_decode_flat_book"
LEVEL_ARRAYS = ("bids", "asks")
FITS = "fits"  # false: a level does not fit books_raw unchanged (the record is quarantined)
COUNTS = tuple(book_layout.count_column(side) for side in book_layout.SIDES)


def decimal_type(column: str) -> DecimalType:
    return DecimalType(book_layout.PRECISION, book_layout.scale(book_layout.kind(column)))


@functools.lru_cache(maxsize=1)
def book_fields() -> tuple[StructField, ...]:
    """The BookRecord's fields but its level arrays, as the decoder types them."""
    schema = spark_schema(message_descriptor(BOOK_MESSAGE))
    return tuple(f for f in schema.fields if f.name not in LEVEL_ARRAYS)


def result_type() -> StructType:
    """The struct FlatBookDecoder returns, field for field (see its class comment)."""
    return StructType([
        *book_fields(),
        *(StructField(name, IntegerType(), False) for name in COUNTS),
        StructField(FITS, BooleanType(), False),
        *(StructField(name, decimal_type(name), True) for name in book_layout.level_columns()),
    ])


def decode_flat(payload: Column) -> Column:
    """`payload` (BookRecord bytes) as the struct of `result_type`; null when undecodable.
    Registers the UDF in the active session first (idempotent), like the decoder."""
    register_java_function(SparkSession.active(), FLAT_BOOK_FUNCTION, FLAT_BOOK_CLASS, result_type())
    return F.call_function(FLAT_BOOK_FUNCTION, payload, F.lit(default_descriptor_set()), F.lit(BOOK_MESSAGE))


def level_arrays() -> dict[str, Column]:
    """signals.LEVEL_COLUMNS (`bid_px`, `bid_qty`, `ask_px`, `ask_qty`: array<double>, best
    first, as long as the side) from a frame with books_raw's columns."""
    arrays = {}
    for side, count in zip(book_layout.SIDES, COUNTS, strict=True):
        for what in ("px", "qty"):
            values = [F.col(book_layout.level_column(side, what, level)).cast("double")
                      for level in range(1, book_layout.DEPTH + 1)]
            arrays[f"{side}_{what}"] = F.slice(F.array(*values), 1, F.col(count))
    assert tuple(arrays) == signals.LEVEL_COLUMNS
    return arrays
