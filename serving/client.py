"""A small asyncio client of the market-data API, with reconnect and resubscribe.

    async with MarketDataClient("127.0.0.1:50051", token="...") as client:
        async for message in client.subscribe(["BTCUSDT", "ETHUSDT"]):
            for update in message.updates:   # message.kind: SNAPSHOT (replace) or UPDATE (apply)
                ...

`subscribe` survives server restarts, Redis gaps and being dropped for reading too slowly:
it reconnects with backoff and resubscribes, and the server's first message on every
(re)subscription is a SNAPSHOT, so replacing the local state with it resynchronizes.
Errors that a retry cannot fix (bad token, unknown symbol) are raised at once.

`subscribe_books(symbols, depth)` (a `BookUpdate` stream: SNAPSHOT, then UPDATEs),
`subscribe_trade_flow(symbols)` (`TradeFlowUpdate`s, the same shape) and
`subscribe_trades(symbols)` (`TradeUpdate`s) reconnect the same way; a trade stream has no
snapshot, so trades printed while it was reconnecting (or after it was dropped for falling
behind) are missing: the jump in `trade_id` shows it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path

import grpc

from quantcore.backoff import Backoff
from quantcore.log import get_logger
from quantcore.settings import ServeSettings, Settings
from quantcore.wire import MarketUpdate, market_data_pb2
from serving.auth import bearer_metadata
from serving.service import SERVICE_NAME

log = get_logger("serving.client")

# Retrying cannot fix these: the caller must change something.
FATAL_CODES = frozenset({
    grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION,
})
CHANNEL_OPTIONS = [
    # gRPC's own reconnect backoff grows to 2 minutes by default; a market-data feed wants seconds.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 5_000),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
]


def channel_credentials(tls: bool, root_certificates: bytes | Path | str | None) -> grpc.ChannelCredentials | None:
    if isinstance(root_certificates, (str, Path)):
        root_certificates = Path(root_certificates).expanduser().read_bytes()
    if not tls and root_certificates is None:
        return None
    return grpc.ssl_channel_credentials(root_certificates=root_certificates)  # None: the system's CAs


class MarketDataClient:
    def __init__(self, address: str, *, token: str | None = None, tls: bool = False,
                 root_certificates: bytes | Path | str | None = None, server_name: str | None = None,
                 backoff_initial_s: float = 0.1, backoff_max_s: float = 5.0,
                 options: Iterable[tuple[str, object]] = (), log_reconnects: bool = True) -> None:
        """`root_certificates` (PEM bytes or a path) implies TLS; `server_name` overrides the
        name checked against the certificate (when connecting by IP to a named cert)."""
        self.address = address
        self._log_reconnects = log_reconnects
        credentials = channel_credentials(tls, root_certificates)
        channel_options = [*CHANNEL_OPTIONS, *options]
        if server_name:
            channel_options.append(("grpc.ssl_target_name_override", server_name))
        self.channel = (grpc.aio.secure_channel(address, credentials, options=channel_options) if credentials
                        else grpc.aio.insecure_channel(address, options=channel_options))
        self._metadata = bearer_metadata(token) if token else None
        self._backoff = (backoff_initial_s, backoff_max_s)
        self.reconnects = 0
        self.last_error: grpc.aio.AioRpcError | None = None
        self.connected = False
        prefix = f"/{SERVICE_NAME}/"
        self._subscribe = self.channel.unary_stream(
            prefix + "Subscribe", request_serializer=market_data_pb2.SubscribeRequest.SerializeToString,
            response_deserializer=MarketUpdate.FromString)
        self._snapshot = self.channel.unary_unary(
            prefix + "GetSnapshot", request_serializer=market_data_pb2.SnapshotRequest.SerializeToString,
            response_deserializer=MarketUpdate.FromString)
        self._books = self.channel.unary_stream(
            prefix + "SubscribeBooks", request_serializer=market_data_pb2.SubscribeBooksRequest.SerializeToString,
            response_deserializer=market_data_pb2.BookUpdate.FromString)
        self._trades = self.channel.unary_stream(
            prefix + "SubscribeTrades", request_serializer=market_data_pb2.SubscribeTradesRequest.SerializeToString,
            response_deserializer=market_data_pb2.TradeUpdate.FromString)
        self._flows = self.channel.unary_stream(
            prefix + "SubscribeTradeFlow",
            request_serializer=market_data_pb2.SubscribeTradeFlowRequest.SerializeToString,
            response_deserializer=market_data_pb2.TradeFlowUpdate.FromString)
        self._list = self.channel.unary_unary(
            prefix + "ListSymbols", request_serializer=market_data_pb2.ListSymbolsRequest.SerializeToString,
            response_deserializer=market_data_pb2.ListSymbolsResponse.FromString)

    @classmethod
    def from_settings(cls, settings: Settings, address: str | None = None, **kwargs) -> "MarketDataClient":
        """A client of the server these settings run (`settings.serve`)."""
        return cls.for_server(settings.serve, address, **kwargs)

    @classmethod
    def for_server(cls, serve: ServeSettings, address: str | None = None, **kwargs) -> "MarketDataClient":
        """A client of the server `serve` describes: its token, and its certificate as trust root."""
        kwargs.setdefault("token", serve.token_value)
        if serve.tls_cert is not None:
            kwargs.setdefault("root_certificates", serve.tls_cert)
        return cls(address or serve.address, **kwargs)

    async def list_symbols(self, timeout: float = 10.0) -> list[str]:
        response = await self._list(market_data_pb2.ListSymbolsRequest(), metadata=self._metadata, timeout=timeout)
        return list(response.symbols)

    async def snapshot(self, symbols: Iterable[str] = (), timeout: float = 10.0) -> MarketUpdate:
        request = market_data_pb2.SnapshotRequest(symbols=list(symbols))
        return await self._snapshot(request, metadata=self._metadata, timeout=timeout)

    def subscribe(self, symbols: Iterable[str] = (), *, reconnect: bool = True) -> AsyncIterator[MarketUpdate]:
        """Every message of the stream, across reconnects (SNAPSHOT first each time)."""
        return self._follow(self._subscribe, market_data_pb2.SubscribeRequest(symbols=list(symbols)), reconnect)

    def subscribe_books(self, symbols: Iterable[str] = (), depth: int = 10, *,
                        reconnect: bool = True) -> AsyncIterator[market_data_pb2.BookUpdate]:
        """The top `depth` (1..20) levels of each symbol's book: SNAPSHOT first each time, then changes."""
        request = market_data_pb2.SubscribeBooksRequest(symbols=list(symbols), depth=depth)
        return self._follow(self._books, request, reconnect)

    def subscribe_trades(self, symbols: Iterable[str] = (), *,
                         reconnect: bool = True) -> AsyncIterator[market_data_pb2.TradeUpdate]:
        """Every trade, in order per symbol (from the moment the stream starts)."""
        return self._follow(self._trades, market_data_pb2.SubscribeTradesRequest(symbols=list(symbols)), reconnect)

    def subscribe_trade_flow(self, symbols: Iterable[str] = (), *,
                             reconnect: bool = True) -> AsyncIterator[market_data_pb2.TradeFlowUpdate]:
        """Each symbol's trade-flow windows: SNAPSHOT (newest per symbol) first each time, then changes."""
        request = market_data_pb2.SubscribeTradeFlowRequest(symbols=list(symbols))
        return self._follow(self._flows, request, reconnect)

    async def _follow(self, method: Callable, request, reconnect: bool) -> AsyncIterator:
        backoff = Backoff(*self._backoff)
        while True:
            call = method(request, metadata=self._metadata)
            try:
                async for message in call:
                    self.connected = True
                    backoff.reset()
                    yield message
                ended = "the server ended the stream"
            except grpc.aio.AioRpcError as exc:
                self.last_error = exc
                if exc.code() in FATAL_CODES or not reconnect:
                    raise
                ended = f"{exc.code().name}: {exc.details()}"
            finally:
                self.connected = False
                call.cancel()
            if not reconnect:
                return
            delay = backoff.next()
            self.reconnects += 1
            if self._log_reconnects:
                log.info("stream interrupted; resubscribing", address=self.address, reason=ended,
                         retry_in_s=round(delay, 2))
            await asyncio.sleep(delay)

    async def close(self) -> None:
        await self.channel.close()

    async def __aenter__(self) -> "MarketDataClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()
