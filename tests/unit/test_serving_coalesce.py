"""When the hub fans out: the coalescing policy alone, then through the hub."""

from __future__ import annotations

import asyncio

import pytest

from quantcore.wire import MarketUpdate
from serving.coalesce import Coalescer
from serving.hub import Hub
from tests.support.hub_messages import UNIVERSE, decoded, payload


def test_a_few_subscribers_never_wait():
    coalescer = Coalescer(quiet_s=0.001, max_wait_s=0.004, min_subscribers=10)
    assert not coalescer.waits(9)
    assert coalescer.waits(10)
    assert not Coalescer(quiet_s=0.0).waits(1000), "a zero quiet window turns coalescing off"


def test_due_follows_the_last_arrival_up_to_the_cap():
    coalescer = Coalescer(quiet_s=0.001, max_wait_s=0.004)
    coalescer.arrived(10.0)
    assert coalescer.due() == pytest.approx(10.001)
    coalescer.arrived(10.0008)
    assert coalescer.due() == pytest.approx(10.0018), "more of the burst: wait for the feed to go quiet"
    coalescer.arrived(10.0035)
    assert coalescer.due() == pytest.approx(10.004), "a feed that never pauses is fanned out at the cap"
    coalescer.flushed()
    coalescer.arrived(11.0)
    assert coalescer.due() == pytest.approx(11.001), "a new batch after a fan-out"


def test_invalid_windows_are_refused():
    with pytest.raises(ValueError):
        Coalescer(quiet_s=0.01, max_wait_s=0.001)


def test_with_many_subscribers_a_burst_read_in_pieces_is_one_message():
    async def scenario() -> None:
        hub = Hub(UNIVERSE, queue_size=16, max_lag_s=5.0, max_streams=10,
                  coalescer=Coalescer(quiet_s=0.2, max_wait_s=2.0, min_subscribers=2))
        hub.replace_state({})
        subs = [hub.register(None), hub.register(None)]
        for sub in subs:
            assert decoded(await hub.next_message(sub))[0] == MarketUpdate.SNAPSHOT
        hub.offer(payload("BTCUSDT", 1))
        await asyncio.sleep(0.005)  # the next socket read of the same burst
        hub.offer(payload("ETHUSDT", 1))
        assert not any(sub.queue.ready for sub in subs), "nothing is fanned out while the burst arrives"
        messages = [await asyncio.wait_for(hub.next_message(sub), 1) for sub in subs]
        assert [decoded(m) for m in messages] == [(MarketUpdate.UPDATE, [("BTCUSDT", 1), ("ETHUSDT", 1)])] * 2
        assert hub.metrics.messages_sent == 4

    asyncio.run(scenario())
