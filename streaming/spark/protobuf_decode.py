"""Decode protobuf Kafka values into Spark structs with our own Java UDF.

spark-protobuf (`from_protobuf`) is not served by the registry this project builds from, so
`io.quantcore.spark.ProtobufRowDecoder` (jvm/spark) does the same job from the descriptor
set of `proto/`. This module gives the Spark schema the decoder produces and the Column
expression that calls it. A null result means an undecodable payload (dead-letter it).

    decoded = df.select(decode(F.col("value"), "quantcore.v1.BookRecord").alias("book"))
"""

from __future__ import annotations

import functools
import re
import zlib

from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from pyspark.sql import Column, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    BooleanType,
    DataType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
)

from quantcore.spark_session import register_java_function

DECODER_CLASS = "io.quantcore.spark.ProtobufRowDecoder"
DEFAULT_PREFIX = "qc_decode_proto"

_FD = FieldDescriptor
_SCALARS: dict[int, DataType] = {
    **dict.fromkeys(
        (_FD.TYPE_INT32, _FD.TYPE_SINT32, _FD.TYPE_SFIXED32, _FD.TYPE_UINT32, _FD.TYPE_FIXED32),
        IntegerType(),
    ),
    **dict.fromkeys(
        (_FD.TYPE_INT64, _FD.TYPE_SINT64, _FD.TYPE_SFIXED64, _FD.TYPE_UINT64, _FD.TYPE_FIXED64),
        LongType(),
    ),
    _FD.TYPE_DOUBLE: DoubleType(),
    _FD.TYPE_FLOAT: FloatType(),
    _FD.TYPE_BOOL: BooleanType(),
    _FD.TYPE_STRING: StringType(),
    _FD.TYPE_BYTES: BinaryType(),
    _FD.TYPE_ENUM: StringType(),  # the value name, readable in SQL and stable across renumbering
}


def spark_schema(descriptor: Descriptor) -> StructType:
    """The StructType ProtobufRowDecoder yields for `descriptor`: must match the Java side
    field for field (declaration order), or Spark rejects the rows it returns."""
    return _struct(descriptor, ())


def _struct(descriptor: Descriptor, seen: tuple[str, ...]) -> StructType:
    if descriptor.full_name in seen:  # a struct type cannot nest itself
        raise ValueError(f"recursive message {descriptor.full_name} has no Spark schema")
    seen = (*seen, descriptor.full_name)
    return StructType([StructField(f.name, _field_type(f, seen), True) for f in descriptor.fields])


def _field_type(field: FieldDescriptor, seen: tuple[str, ...]) -> DataType:
    if field.type in (_FD.TYPE_MESSAGE, _FD.TYPE_GROUP):
        element: DataType = _struct(field.message_type, seen)
    else:
        element = _SCALARS[field.type]
    return ArrayType(element, containsNull=False) if _is_repeated(field) else element


def _is_repeated(field: FieldDescriptor) -> bool:
    """protobuf 6 prefers `is_repeated`; older runtimes only have `label`."""
    is_repeated = getattr(field, "is_repeated", None)
    if is_repeated is not None:
        return bool(is_repeated)
    return field.label == FieldDescriptor.LABEL_REPEATED


@functools.lru_cache(maxsize=1)
def default_descriptor_set() -> bytes:
    """The compiled descriptor set of proto/, read once: it is a literal of every decode."""
    from quantcore import wire

    return wire.descriptor_set_bytes()


@functools.lru_cache(maxsize=8)
def _pool(descriptor_set_bytes: bytes | None) -> descriptor_pool.DescriptorPool:
    """The generated modules' pool by default; a private pool for any other descriptor set,
    so the schema always describes the same messages the JVM decodes."""
    if descriptor_set_bytes is None:

        return descriptor_pool.Default()
    pool = descriptor_pool.DescriptorPool()
    for file in descriptor_pb2.FileDescriptorSet.FromString(descriptor_set_bytes).file:
        pool.Add(file)
    return pool


def message_descriptor(message_name: str, descriptor_set_bytes: bytes | None = None) -> Descriptor:
    """The Python descriptor of a fully-qualified message name."""
    return _pool(descriptor_set_bytes).FindMessageTypeByName(message_name)


def function_name(message_name: str, prefix: str = DEFAULT_PREFIX) -> str:
    """One SQL function per message: a Java UDF's return type is fixed when registered."""
    return f"{prefix}_{re.sub(r'[^0-9a-zA-Z]+', '_', message_name).lower()}"


def register_decoder(
    spark: SparkSession,
    name: str | None = None,
    message_name: str = "quantcore.v1.BookRecord",
    descriptor_set_bytes: bytes | None = None,
) -> str:
    """Register the decoder of `message_name` as SQL function `name` (default derived from
    the message) and return that name. Re-registering replaces it, so this is idempotent.
    The SQL call is `name(payload, descriptor_set_bytes, 'pkg.Message')`."""
    if name is None:
        name = function_name(message_name)
        if descriptor_set_bytes is not None:  # another schema of the same message: own name
            name += f"_{zlib.crc32(descriptor_set_bytes):08x}"
    schema = spark_schema(message_descriptor(message_name, descriptor_set_bytes))
    register_java_function(spark, name, DECODER_CLASS, schema)
    return name


def decode(
    column: Column | str, message_name: str, descriptor_set_bytes: bytes | None = None
) -> Column:
    """`column` (protobuf bytes) decoded to a struct of `message_name`; null when undecodable.
    Registers the UDF in the active (else default) session first: callers need no setup step."""
    name = register_decoder(SparkSession.active(), None, message_name, descriptor_set_bytes)
    if descriptor_set_bytes is None:
        descriptor_set_bytes = default_descriptor_set()
    payload = F.col(column) if isinstance(column, str) else column
    return F.call_function(name, payload, F.lit(descriptor_set_bytes), F.lit(message_name))
