"""The `quantcore.v1.MarketData` methods, registered by hand around pre-serialized bytes.

Requests arrive as bytes (a malformed one is INVALID_ARGUMENT, not INTERNAL) and
`Subscribe`/`GetSnapshot` answer with bytes built by `serving.wire`, so the handlers use
pass-through (de)serializers. The service name and method names come from the generated
descriptor, so reflection describes exactly what is served.
"""

from __future__ import annotations

import asyncio

import grpc

from quantcore.wire import market_data_pb2
from serving.hub import CloseReason, Hub, HubClosed, HubFull, Subscriber, SubscriberClosed
from serving.requests import InvalidRequest, parse_request, requested_symbols

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
    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def method_handlers(self) -> dict[str, grpc.RpcMethodHandler]:
        handlers = {
            "Subscribe": grpc.unary_stream_rpc_method_handler(self.subscribe),
            "GetSnapshot": grpc.unary_unary_rpc_method_handler(self.get_snapshot),
            "ListSymbols": grpc.unary_unary_rpc_method_handler(self.list_symbols),
        }
        assert set(handlers) == set(SERVICE_DESCRIPTOR.methods_by_name), "MarketData methods changed in the proto"
        return handlers

    def generic_handler(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(SERVICE_NAME, self.method_handlers())

    async def _symbols(self, message_type, raw: bytes, context: grpc.aio.ServicerContext) -> frozenset[str] | None:
        try:
            return requested_symbols(parse_request(message_type, raw).symbols, self.hub.universe)
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
        symbols = await self._symbols(market_data_pb2.SubscribeRequest, raw, context)
        try:
            sub = self.hub.register(symbols, asyncio.current_task(), context.peer())
        except HubFull as exc:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
        except HubClosed as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
        try:
            await self._pump(sub, context)
        except SubscriberClosed as closed:
            await _end(context, closed)
        except asyncio.CancelledError:
            if sub.closed is None:
                raise  # the client left, or the server's grace period ran out
            asyncio.current_task().uncancel()  # the hub interrupted a stuck write to drop it
            await _end(context, sub.closed)
        finally:
            self.hub.unregister(sub)

    async def _pump(self, sub: Subscriber, context: grpc.aio.ServicerContext) -> None:
        while True:
            message = await self.hub.next_message(sub)
            sub.writing = True
            await context.write(message)
            sub.writing = False


async def _end(context: grpc.aio.ServicerContext, closed: SubscriberClosed) -> None:
    try:
        await asyncio.wait_for(context.abort(CLOSE_CODES[closed.reason], closed.details), ABORT_WAIT_S)
    except TimeoutError:
        pass  # status is queued behind unread data; the client gets it if it ever reads
