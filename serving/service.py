"""The `quantcore.v1.MarketData` methods, registered by hand around pre-serialized bytes.

Requests arrive as bytes (a malformed one is INVALID_ARGUMENT, not INTERNAL) and
the streams and `GetSnapshot` answer with bytes built by `serving.wire`, so the handlers use
pass-through (de)serializers. `Subscribe`, `SubscribeTradeFlow`, `SubscribeBooks` and
`SubscribeTrades` are one code path (`_stream`) over four hubs (`serving.kinds`). The service
name and method names come from the generated descriptor, so reflection describes exactly what
is served.
"""

from __future__ import annotations

import asyncio

import grpc

from quantcore.wire import market_data_pb2
from serving.hub import CloseReason, Hub, HubClosed, HubFull, Subscriber, SubscriberClosed
from serving.kinds import MAX_BOOK_DEPTH
from serving.requests import InvalidRequest, parse_request, requested_depth, requested_symbols

SERVICE_DESCRIPTOR = market_data_pb2.DESCRIPTOR.services_by_name["MarketData"]
SERVICE_NAME = SERVICE_DESCRIPTOR.full_name  # quantcore.v1.MarketData

CLOSE_CODES = {
    CloseReason.LAGGING: grpc.StatusCode.RESOURCE_EXHAUSTED,
    CloseReason.SHUTDOWN: grpc.StatusCode.UNAVAILABLE,
}
# A client that does not read cannot receive the status either (it queues behind the data
# flow control holds back); stop waiting for it after this long and free the handler.
ABORT_WAIT_S = 2.0


class MarketDataService:
    """`hub` serves Subscribe and GetSnapshot, `flows` SubscribeTradeFlow (both fed from Redis);
    `books` and `trades` the Kafka streams."""

    def __init__(self, hub: Hub, books: Hub, trades: Hub, flows: Hub) -> None:
        self.hub = hub
        self.books = books
        self.trades = trades
        self.flows = flows

    def method_handlers(self) -> dict[str, grpc.RpcMethodHandler]:
        handlers = {
            "Subscribe": grpc.unary_stream_rpc_method_handler(self.subscribe),
            "SubscribeBooks": grpc.unary_stream_rpc_method_handler(self.subscribe_books),
            "SubscribeTrades": grpc.unary_stream_rpc_method_handler(self.subscribe_trades),
            "SubscribeTradeFlow": grpc.unary_stream_rpc_method_handler(self.subscribe_trade_flow),
            "GetSnapshot": grpc.unary_unary_rpc_method_handler(self.get_snapshot),
            "ListSymbols": grpc.unary_unary_rpc_method_handler(self.list_symbols),
        }
        assert set(handlers) == set(SERVICE_DESCRIPTOR.methods_by_name), "MarketData methods changed in the proto"
        return handlers

    def generic_handler(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(SERVICE_NAME, self.method_handlers())

    async def _symbols(self, message_type, raw: bytes, context: grpc.aio.ServicerContext) -> frozenset[str] | None:
        return (await self._request(message_type, raw, context))[0]

    async def _request(self, message_type, raw: bytes,
                       context: grpc.aio.ServicerContext) -> tuple[frozenset[str] | None, int | None]:
        """(symbols, depth) of a request (depth: books only); INVALID_ARGUMENT if it is bad."""
        try:
            request = parse_request(message_type, raw)
            depth = requested_depth(request.depth, MAX_BOOK_DEPTH) if "depth" in message_type.DESCRIPTOR.fields_by_name else None
            return requested_symbols(request.symbols, self.hub.universe), depth
        except InvalidRequest as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))

    async def list_symbols(self, raw: bytes, context: grpc.aio.ServicerContext) -> bytes:
        try:
            parse_request(market_data_pb2.ListSymbolsRequest, raw)
        except InvalidRequest as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        return market_data_pb2.ListSymbolsResponse(symbols=self.hub.universe).SerializeToString()

    async def get_snapshot(self, raw: bytes, context: grpc.aio.ServicerContext) -> bytes:
        symbols = await self._symbols(market_data_pb2.SnapshotRequest, raw, context)
        if not self.hub.loaded:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "no snapshot yet: the server is connecting to Redis")
        return self.hub.snapshot_message(None if symbols is None else sorted(symbols))

    async def subscribe(self, raw: bytes, context: grpc.aio.ServicerContext) -> None:
        await self._stream(self.hub, market_data_pb2.SubscribeRequest, raw, context)

    async def subscribe_books(self, raw: bytes, context: grpc.aio.ServicerContext) -> None:
        await self._stream(self.books, market_data_pb2.SubscribeBooksRequest, raw, context)

    async def subscribe_trades(self, raw: bytes, context: grpc.aio.ServicerContext) -> None:
        await self._stream(self.trades, market_data_pb2.SubscribeTradesRequest, raw, context)

    async def subscribe_trade_flow(self, raw: bytes, context: grpc.aio.ServicerContext) -> None:
        await self._stream(self.flows, market_data_pb2.SubscribeTradeFlowRequest, raw, context)

    async def _stream(self, hub: Hub, message_type, raw: bytes, context: grpc.aio.ServicerContext) -> None:
        symbols, depth = await self._request(message_type, raw, context)
        try:
            sub = hub.register(symbols, asyncio.current_task(), context.peer(), depth)
        except HubFull as exc:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
        except HubClosed as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
        try:
            # Headers now: a trade stream may have nothing to send for a while, and a client
            # waiting for them (`initial_metadata()`) learns the stream is open.
            await context.send_initial_metadata(())
            await _pump(hub, sub, context)
        except SubscriberClosed as closed:
            await _end(context, closed)
        except asyncio.CancelledError:
            if sub.closed is None:
                raise  # the client left, or the server's grace period ran out
            asyncio.current_task().uncancel()  # the hub interrupted a stuck write to drop it
            await _end(context, sub.closed)
        finally:
            hub.unregister(sub)


async def _pump(hub: Hub, sub: Subscriber, context: grpc.aio.ServicerContext) -> None:
    while True:
        message = await hub.next_message(sub)
        sub.writing = True
        await context.write(message)
        sub.writing = False


async def _end(context: grpc.aio.ServicerContext, closed: SubscriberClosed) -> None:
    try:
        await asyncio.wait_for(context.abort(CLOSE_CODES[closed.reason], closed.details), ABORT_WAIT_S)
    except TimeoutError:
        pass  # status is queued behind unread data; the client gets it if it ever reads
