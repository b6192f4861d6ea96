"""The one "poll until" helper, for start-up waits, tests and benchmarks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


def wait_until(check: Callable[[], object], timeout: float, what: str = "condition", interval: float = 0.1,
               alive: Callable[[], bool] = lambda: True, on_timeout: Callable[[], str] = lambda: "") -> object:
    """Poll `check` until it returns something truthy (returned); TimeoutError naming `what`
    after `timeout`, or RuntimeError at once if `alive()` turns false (the thing died)."""
    deadline = time.monotonic() + timeout
    while True:
        if result := check():
            return result
        if not alive():
            raise RuntimeError(f"{what}: the process died while waiting. {on_timeout()}".strip())
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} not reached within {timeout:g}s. {on_timeout()}".strip())
        time.sleep(interval)


async def wait_for(check: Callable[[], object], timeout: float, what: str = "condition",
                   interval: float = 0.01) -> object:
    """`wait_until` for asyncio code: polls without blocking the loop."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached within {timeout:g}s")
        await asyncio.sleep(interval)
    return result
