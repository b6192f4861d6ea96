"""spark_schema must describe exactly the rows the Java decoder returns: no Spark here."""

from types import SimpleNamespace

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import FieldDescriptor
from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    BooleanType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
)

from quantcore import wire
from streaming.spark import protobuf_decode as pd

LEVEL = StructType([StructField("price", StringType()), StructField("qty", StringType())])


def test_book_record_schema_in_declaration_order():
    schema = pd.spark_schema(wire.BookRecord.DESCRIPTOR)

    assert schema == StructType([
        StructField("exchange", StringType()),
        StructField("symbol", StringType()),
        StructField("event_time_us", LongType()),
        StructField("update_id", LongType()),
        StructField("first_update_id", LongType()),
        StructField("ingest_time_us", LongType()),
        StructField("bids", ArrayType(LEVEL, containsNull=False)),
        StructField("asks", ArrayType(LEVEL, containsNull=False)),
        StructField("mode", StringType()),  # enum -> value name
        StructField("shard_id", IntegerType()),
        StructField("origin", StringType()),  # provenance enum -> value name
        StructField("simulator_seed", LongType()),
    ])
    assert schema.fieldNames() == [f.name for f in wire.BookRecord.DESCRIPTOR.fields]
    assert all(f.nullable for f in schema.fields)


def test_nested_optional_and_enum_fields():
    schema = pd.spark_schema(wire.MarketUpdate.DESCRIPTOR)
    update = schema["updates"].dataType.elementType

    assert schema["kind"].dataType == StringType()  # nested enum MarketUpdate.Kind
    assert schema["updates"].dataType.containsNull is False
    assert update.fieldNames() == ["symbol", "update_id", "exchange", "mode", "signals", "times",
                                    "origin", "simulator_seed"]
    assert update["signals"].dataType.fieldNames()[:2] == ["obi_1", "obi_5"]
    signal_types = {f.name: f.dataType for f in update["signals"].dataType.fields}
    assert signal_types.pop("ofi_levels") == ArrayType(DoubleType(), False)  # repeated double: level i+1 at i
    assert set(signal_types.values()) == {DoubleType()}
    assert update["times"].dataType == StructType(
        [StructField(n, LongType()) for n in
         ("exchange_event_us", "ingest_us", "kafka_append_us", "compute_us", "publish_us")])
    assert pd.spark_schema(wire.DeadLetter.DESCRIPTOR)["payload"].dataType == BinaryType()


def _pool_with(message: descriptor_pb2.DescriptorProto) -> descriptor_pool.DescriptorPool:
    file = descriptor_pb2.FileDescriptorProto(name="t/scalars.proto", package="t", syntax="proto3")
    file.message_type.add().CopyFrom(message)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return pool


def test_every_scalar_type_and_repeated_scalars():
    t = FieldDescriptor
    kinds = {
        "i32": t.TYPE_INT32, "s32": t.TYPE_SINT32, "sf32": t.TYPE_SFIXED32, "u32": t.TYPE_UINT32,
        "f32": t.TYPE_FIXED32, "i64": t.TYPE_INT64, "s64": t.TYPE_SINT64, "sf64": t.TYPE_SFIXED64,
        "u64": t.TYPE_UINT64, "f64": t.TYPE_FIXED64, "d": t.TYPE_DOUBLE, "f": t.TYPE_FLOAT,
        "b": t.TYPE_BOOL, "s": t.TYPE_STRING, "y": t.TYPE_BYTES,
    }
    message = descriptor_pb2.DescriptorProto(name="Scalars")
    for number, (name, kind) in enumerate(kinds.items(), start=1):
        message.field.add(name=name, number=number, type=kind, label=t.LABEL_OPTIONAL)
    message.field.add(name="many", number=99, type=t.TYPE_INT64, label=t.LABEL_REPEATED)

    schema = pd.spark_schema(_pool_with(message).FindMessageTypeByName("t.Scalars"))

    assert [f.dataType for f in schema.fields] == [
        *[IntegerType()] * 5, *[LongType()] * 5, DoubleType(), FloatType(), BooleanType(),
        StringType(), BinaryType(), ArrayType(LongType(), containsNull=False),
    ]


def test_recursive_message_is_rejected():
    t = FieldDescriptor
    node = descriptor_pb2.DescriptorProto(name="Node")
    node.field.add(name="child", number=1, type=t.TYPE_MESSAGE, type_name=".t.Node",
                   label=t.LABEL_OPTIONAL)

    with pytest.raises(ValueError, match="recursive message t.Node"):
        pd.spark_schema(_pool_with(node).FindMessageTypeByName("t.Node"))


def test_is_repeated_falls_back_to_label():
    old_style = SimpleNamespace(label=FieldDescriptor.LABEL_REPEATED)

    assert pd._is_repeated(old_style) is True
    assert pd._is_repeated(SimpleNamespace(label=FieldDescriptor.LABEL_OPTIONAL)) is False


def test_descriptor_lookup_and_function_names():
    own_pool = pd.message_descriptor("quantcore.v1.BookRecord", wire.DESCRIPTOR_SET.read_bytes())

    assert pd.message_descriptor("quantcore.v1.BookRecord") is wire.BookRecord.DESCRIPTOR
    assert pd.spark_schema(own_pool) == pd.spark_schema(wire.BookRecord.DESCRIPTOR)
    assert pd.function_name("quantcore.v1.BookRecord") == "qc_decode_proto_quantcore_v1_bookrecord"
    with pytest.raises(KeyError):
        pd.message_descriptor("quantcore.v1.NoSuchMessage")
