"""`cancel_and_wait`: every task ends, even one that swallows its first cancel (as redis-py's
pub/sub read sometimes does), and a task's own error is not hidden."""

from __future__ import annotations

import asyncio

import pytest

from quantcore.lifecycle import cancel_and_wait


async def swallows_first_cancel(cancels: list[int]) -> None:
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        cancels.append(1)  # swallowed: goes on as if nothing happened
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        cancels.append(2)
        raise


def test_a_swallowed_cancel_is_sent_again_and_every_task_ends():
    async def scenario() -> tuple[list[int], list[asyncio.Task]]:
        cancels: list[int] = []
        tasks = [asyncio.create_task(swallows_first_cancel(cancels)), asyncio.create_task(asyncio.sleep(3600))]
        await asyncio.sleep(0)
        await asyncio.wait_for(cancel_and_wait(tasks, retry_s=0.01), 5)
        return cancels, tasks

    cancels, tasks = asyncio.run(scenario())
    assert cancels == [1, 2]
    assert all(task.cancelled() for task in tasks)


def test_a_task_that_failed_raises_its_error_and_finished_tasks_are_left_alone():
    async def fails() -> None:
        raise ValueError("the feed broke")

    async def scenario() -> None:
        failed, finished = asyncio.create_task(fails()), asyncio.create_task(asyncio.sleep(0))
        await asyncio.sleep(0.01)
        await cancel_and_wait([failed, finished])

    with pytest.raises(ValueError, match="the feed broke"):
        asyncio.run(scenario())
