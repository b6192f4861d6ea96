"""Is the pipeline delivering? Subscribe over gRPC like a client and wait for signals."""

from __future__ import annotations

import time

import grpc

from quantcore import wire
from quantcore.wire import market_data_pb2
from quantcore.errors import PlatformError
from quantcore.settings import ServeSettings


def wait_for_signals(serve: ServeSettings, timeout: float, want_symbols: int = 1) -> tuple[float, set[str]]:
    """Seconds until `want_symbols` distinct symbols arrived on a Subscribe stream of the
    server at `serve.address`."""
    started = time.monotonic()
    seen: set[str] = set()
    token = serve.token_value
    metadata = [("authorization", f"Bearer {token}")] if token else None
    while time.monotonic() - started < timeout:
        remaining = timeout - (time.monotonic() - started)
        try:
            with grpc.insecure_channel(serve.address) as channel:
                stub = wire.market_data_pb2_grpc.MarketDataStub(channel)
                stream = stub.Subscribe(market_data_pb2.SubscribeRequest(), timeout=remaining, metadata=metadata)
                for message in stream:
                    seen.update(update.symbol for update in message.updates)
                    if len(seen) >= want_symbols:
                        stream.cancel()
                        return time.monotonic() - started, seen
        except grpc.RpcError:
            time.sleep(1.0)  # server not up yet, or no data: try again
    raise PlatformError(f"no gRPC updates for {want_symbols} symbols within {timeout:.0f}s (saw {len(seen)})",
                        "check `quantcore status` and the stream runs in the Dagster UI")
