"""The hub without any I/O: state, fan-out, filters, resnapshots, lag drops, limits, shutdown."""

from __future__ import annotations

import asyncio

import pytest

from quantcore.wire import MarketUpdate
from serving.hub import CloseReason, Hub, HubClosed, HubFull, SubscriberClosed
from tests.support.hub_messages import UNIVERSE, decoded, payload


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make_hub(**overrides) -> tuple[Hub, Clock]:
    """A hub whose Redis feed has read a first (empty) snapshot."""
    clock = Clock()
    options = {"queue_size": 16, "max_lag_s": 5.0, "max_streams": 10, **overrides}
    hub = Hub(UNIVERSE, clock=clock, **options)
    hub.replace_state({})
    return hub, clock


async def settle() -> None:
    await asyncio.sleep(0)  # the hub flushes on the next loop turn


def run(coroutine) -> None:
    asyncio.run(coroutine)


def test_offers_are_batched_per_loop_turn_and_filtered_per_subscriber():
    async def scenario() -> None:
        hub, _ = make_hub()
        everything, eth_only = hub.register(None), hub.register(frozenset({"ETHUSDT"}))
        assert decoded(await hub.next_message(everything)) == (MarketUpdate.SNAPSHOT, [])
        assert decoded(await hub.next_message(eth_only)) == (MarketUpdate.SNAPSHOT, [])
        for raw in (payload("BTCUSDT", 1), payload("ETHUSDT", 1), payload("BTCUSDT", 2)):
            hub.offer(raw)
        await settle()
        assert decoded(await hub.next_message(everything)) == \
            (MarketUpdate.UPDATE, [("BTCUSDT", 1), ("ETHUSDT", 1), ("BTCUSDT", 2)])
        assert decoded(await hub.next_message(eth_only)) == (MarketUpdate.UPDATE, [("ETHUSDT", 1)])
        assert hub.metrics.messages_sent == 4 and hub.metrics.updates_sent == 4
        newcomer = hub.register(frozenset({"BTCUSDT", "SOLUSDT"}))
        assert decoded(await hub.next_message(newcomer)) == (MarketUpdate.SNAPSHOT, [("BTCUSDT", 2)])

    run(scenario())


def test_only_newer_ids_pass_and_garbage_is_counted():
    async def scenario() -> None:
        hub, _ = make_hub()
        sub = hub.register(None)
        await hub.next_message(sub)
        for raw in (payload("BTCUSDT", 5), payload("BTCUSDT", 5), payload("BTCUSDT", 3), b"\xff\xfe",
                    payload("DOGEUSDT", 1), payload("BTCUSDT", 6)):
            hub.offer(raw)
        await settle()
        assert decoded(await hub.next_message(sub))[1] == [("BTCUSDT", 5), ("BTCUSDT", 6)]
        assert (hub.metrics.stale_ignored, hub.metrics.malformed, hub.metrics.updates_received) == (2, 2, 2)

    run(scenario())


def test_forwarded_bytes_are_the_published_bytes():
    async def scenario() -> None:
        hub, _ = make_hub()
        sub = hub.register(None)
        await hub.next_message(sub)
        raw = payload("SOLUSDT", 9, obi=-0.375)
        hub.offer(raw)
        await settle()
        message = MarketUpdate.FromString(await hub.next_message(sub))
        assert message.updates[0].SerializeToString() == raw
        assert message.server_send_us > 0

    run(scenario())


def test_a_new_snapshot_from_redis_replaces_state_and_is_sent_to_everyone():
    async def scenario() -> None:
        hub, _ = make_hub()
        sub = hub.register(None)
        await hub.next_message(sub)
        hub.offer(payload("BTCUSDT", 50))
        hub.offer(payload("ETHUSDT", 50))
        await settle()
        hub.replace_state({"BTCUSDT": payload("BTCUSDT", 3)})  # Redis restarted: ids may start lower
        assert decoded(await hub.next_message(sub)) == (MarketUpdate.SNAPSHOT, [("BTCUSDT", 3)])
        hub.offer(payload("BTCUSDT", 3))  # published between SUBSCRIBE and the snapshot read
        hub.offer(payload("BTCUSDT", 4))
        await settle()
        assert decoded(await hub.next_message(sub)) == (MarketUpdate.UPDATE, [("BTCUSDT", 4)])

    run(scenario())


def test_a_lagging_subscriber_is_dropped_and_its_wait_ends():
    async def scenario() -> None:
        hub, clock = make_hub(queue_size=2, max_lag_s=1.0)
        slow, fast = hub.register(None), hub.register(None)
        await hub.next_message(slow)
        await hub.next_message(fast)
        for uid in range(1, 5):
            hub.offer(payload("BTCUSDT", uid))
            hub.offer(payload("ETHUSDT", uid))
            await settle()
            await hub.next_message(fast)
        assert len(slow.queue) == 2 and hub.metrics.conflated == 6
        clock.now = 0.9
        assert hub.drop_lagging() == []
        clock.now = 1.1
        assert hub.drop_lagging() == [slow]
        assert hub.subscribers == {fast} and hub.metrics.drops == 1
        with pytest.raises(SubscriberClosed) as closed:
            await hub.next_message(slow)
        assert closed.value.reason is CloseReason.LAGGING and "behind" in closed.value.details

    run(scenario())


def test_stream_limit_and_shutdown_drain():
    async def scenario() -> None:
        hub, _ = make_hub(max_streams=1)
        sub = hub.register(None)
        with pytest.raises(HubFull):
            hub.register(None)
        await hub.next_message(sub)
        hub.offer(payload("BTCUSDT", 1))
        await settle()
        hub.close_all("bye")
        assert decoded(await hub.next_message(sub))[1] == [("BTCUSDT", 1)], "queued changes go out first"
        with pytest.raises(SubscriberClosed) as closed:
            await hub.next_message(sub)
        assert closed.value.reason is CloseReason.SHUTDOWN
        hub.unregister(sub)
        with pytest.raises(HubClosed):
            hub.register(None)

    run(scenario())


def test_a_waiting_subscriber_wakes_on_a_change():
    async def scenario() -> None:
        hub, _ = make_hub()
        sub = hub.register(None)
        await hub.next_message(sub)
        waiting = asyncio.create_task(hub.next_message(sub))
        await settle()
        assert not waiting.done()
        hub.offer(payload("ETHUSDT", 2))
        assert decoded(await asyncio.wait_for(waiting, 1))[1] == [("ETHUSDT", 2)]

    run(scenario())


def test_a_subscriber_waits_for_the_first_snapshot_from_redis():
    async def scenario() -> None:
        hub = Hub(UNIVERSE, queue_size=16, max_lag_s=5.0, max_streams=10)
        sub = hub.register(None)
        waiting = asyncio.create_task(hub.next_message(sub))
        await settle()
        assert not waiting.done(), "no empty snapshot before Redis has been read"
        hub.replace_state({"ETHUSDT": payload("ETHUSDT", 4)})
        assert decoded(await asyncio.wait_for(waiting, 1)) == (MarketUpdate.SNAPSHOT, [("ETHUSDT", 4)])

    run(scenario())
