"""The wire formats of the platform, generated from `proto/quantcore/v1/*.proto`.

`make proto` compiles them with grpcio-tools into `quantcore/v1/` (git ignores the
output). protoc names the generated modules after the .proto paths, so they live at
`quantcore.v1.*`, inside this package: no path tricks and no generic top-level name.
This module re-exports the messages under short names.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

DESCRIPTOR_RESOURCE = "v1/quantcore.desc"  # the compiled descriptor set of proto/, in this package
DESCRIPTOR_SET = Path(__file__).resolve().parent / DESCRIPTOR_RESOURCE


def descriptor_set_bytes() -> bytes:
    """The descriptor set, read as a package resource: from a checkout, and from the job zip
    a driver imports under spark-submit or EMR (a path into a zip cannot be opened)."""
    return resources.files(__package__).joinpath(DESCRIPTOR_RESOURCE).read_bytes()

try:
    from quantcore.v1 import book_pb2, market_data_pb2, market_data_pb2_grpc, trade_pb2
except ImportError as exc:  # pragma: no cover - only before the first build
    raise ImportError(f"generated protobuf code is missing ({exc}); run `make proto`") from None

BookRecord = book_pb2.BookRecord
PriceLevel = book_pb2.PriceLevel
BookMode = book_pb2.BookMode
Origin = book_pb2.Origin
DeadLetter = book_pb2.DeadLetter
Signals = market_data_pb2.Signals
PipelineTimes = market_data_pb2.PipelineTimes
SignalUpdate = market_data_pb2.SignalUpdate
MarketUpdate = market_data_pb2.MarketUpdate
TradeRecord = trade_pb2.TradeRecord
AggressorSide = trade_pb2.AggressorSide
TradeStream = trade_pb2.TradeStream
TradeFlow = trade_pb2.TradeFlow
TradeFlowWindow = trade_pb2.TradeFlowWindow
TradeFlowTimes = trade_pb2.TradeFlowTimes
# The full protobuf names Spark's decoder looks the messages up by.
BOOK_MESSAGE = BookRecord.DESCRIPTOR.full_name
TRADE_MESSAGE = TradeRecord.DESCRIPTOR.full_name


def varint(value: int) -> bytes:
    """Protobuf base-128 varint; negative int64 values take ten bytes (two's complement)."""
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


__all__ = [
    "BOOK_MESSAGE",
    "TRADE_MESSAGE",
    "varint",
    "DESCRIPTOR_SET",
    "descriptor_set_bytes",
    "BookMode",
    "BookRecord",
    "DeadLetter",
    "MarketUpdate",
    "Origin",
    "PipelineTimes",
    "PriceLevel",
    "SignalUpdate",
    "Signals",
    "AggressorSide",
    "TradeFlow",
    "TradeFlowTimes",
    "TradeFlowWindow",
    "TradeRecord",
    "TradeStream",
    "book_pb2",
    "market_data_pb2",
    "market_data_pb2_grpc",
    "trade_pb2",
]
