"""Is the pipeline delivering? Subscribe over gRPC like a client and wait for signals.

The subscription is the client library's (`serving.client`), so it uses the server's TLS
certificate and token when they are configured, and reconnects while the server starts.
"""

from __future__ import annotations

import asyncio
import time

import grpc

from quantcore.errors import PlatformError
from quantcore.settings import ServeSettings
from serving.client import MarketDataClient


def wait_for_signals(serve: ServeSettings, timeout: float, want_symbols: int = 1) -> tuple[float, set[str]]:
    """Seconds until `want_symbols` distinct symbols arrived on a Subscribe stream of the
    server at `serve.address`, and those symbols."""
    started = time.monotonic()
    seen: set[str] = set()

    async def watch() -> None:
        async with MarketDataClient.for_server(serve, backoff_max_s=1.0, log_reconnects=False) as client:
            async for message in client.subscribe():
                seen.update(update.symbol for update in message.updates)
                if len(seen) >= want_symbols:
                    return

    try:
        asyncio.run(asyncio.wait_for(watch(), timeout))
    except grpc.aio.AioRpcError as exc:  # a refusal retrying cannot fix (e.g. a wrong token)
        raise PlatformError(f"the gRPC server refused the subscription: {exc.code().name}: {exc.details()}",
                            "check QUANTCORE_GRPC_TOKEN and the server's TLS settings") from None
    except TimeoutError:
        raise PlatformError(f"no gRPC updates for {want_symbols} symbols within {timeout:.0f}s (saw {len(seen)})",
                            "check `quantcore status` and the stream runs in the Dagster UI") from None
    return time.monotonic() - started, seen
