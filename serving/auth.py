"""Bearer-token check on every call (when `serve.token` is set), as a server interceptor.

Decision: the standard health service stays open, so load balancers and orchestrators
(which carry no application token) can probe the server; it reveals only SERVING or not.
Everything else, server reflection included, needs `authorization: Bearer <token>`.
Use TLS with a token: over plaintext the token travels in clear.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Iterable

import grpc
from grpc_health.v1 import health

OPEN_SERVICES = frozenset({health.SERVICE_NAME})  # grpc.health.v1.Health
AUTH_HEADER = "authorization"


def bearer_metadata(token: str) -> tuple[tuple[str, str], ...]:
    """The call metadata a client sends (see `serving.client`)."""
    return ((AUTH_HEADER, f"Bearer {token}"),)


def token_ok(metadata: Iterable[tuple[str, str | bytes]] | None, expected: str) -> bool:
    """True if the call carries `authorization: Bearer <expected>` (constant-time compare)."""
    for key, value in metadata or ():
        if key.lower() != AUTH_HEADER:
            continue
        text = value.decode(errors="replace") if isinstance(value, bytes) else value
        scheme, _, presented = text.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), expected.encode()):
            return True
    return False


def service_of(method: str) -> str:
    """'/quantcore.v1.MarketData/Subscribe' -> 'quantcore.v1.MarketData'."""
    return method.lstrip("/").split("/", 1)[0]


async def _reject(_request, context: grpc.aio.ServicerContext) -> None:
    await context.abort(grpc.StatusCode.UNAUTHENTICATED,
                        "missing or wrong bearer token: send metadata 'authorization: Bearer <token>'")


def _rejecting(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    """A handler of the same shape as `handler` that fails with UNAUTHENTICATED (request unread)."""
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(_reject)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(_reject)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(_reject)
    return grpc.unary_unary_rpc_method_handler(_reject)


class BearerTokenInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, token: str, open_services: frozenset[str] = OPEN_SERVICES) -> None:
        if not token:
            raise ValueError("an empty bearer token would accept anyone")
        self._token = token
        self._open = open_services

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or service_of(details.method) in self._open:
            return handler
        if token_ok(details.invocation_metadata, self._token):
            return handler
        return _rejecting(handler)
