"""The wire formats of the platform, generated from the .proto files beside this module.

`make proto` compiles `quantcore/v1/*.proto` with grpcio-tools into this folder (git
ignores the output). protoc names the generated modules `quantcore.v1.*`, so this package
puts its own folder on the import path once and re-exports them under short names.
"""

from __future__ import annotations

import sys
from pathlib import Path

PROTO_DIR = Path(__file__).resolve().parent
DESCRIPTOR_SET = PROTO_DIR / "quantcore" / "v1" / "quantcore.desc"

if str(PROTO_DIR) not in sys.path:
    sys.path.insert(0, str(PROTO_DIR))

try:
    from quantcore.v1 import book_pb2, market_data_pb2, market_data_pb2_grpc  # noqa: E402
except ImportError as exc:  # pragma: no cover - only before the first build
    raise ImportError(f"generated protobuf code is missing ({exc}); run `make proto`") from None

BookRecord = book_pb2.BookRecord
PriceLevel = book_pb2.PriceLevel
BookMode = book_pb2.BookMode
DeadLetter = book_pb2.DeadLetter
Signals = market_data_pb2.Signals
PipelineTimes = market_data_pb2.PipelineTimes
SignalUpdate = market_data_pb2.SignalUpdate
MarketUpdate = market_data_pb2.MarketUpdate

__all__ = [
    "DESCRIPTOR_SET",
    "BookMode",
    "BookRecord",
    "DeadLetter",
    "MarketUpdate",
    "PipelineTimes",
    "PriceLevel",
    "SignalUpdate",
    "Signals",
    "book_pb2",
    "market_data_pb2",
    "market_data_pb2_grpc",
]
