"""Reading a gRPC server stream in the serving tests (grpc.aio)."""

from __future__ import annotations

import asyncio

import grpc
import pytest


async def next_message(stream, timeout: float = 10.0):
    """The stream's next message, or asyncio.TimeoutError after `timeout` seconds."""
    return await asyncio.wait_for(anext(stream), timeout)


async def rpc_error(stream) -> grpc.aio.AioRpcError:
    """The error a call ends with before its first message (the test fails if it sends one)."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await next_message(stream)
    return caught.value
