"""Hand-built MarketUpdate bytes must be exactly what protobuf decodes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quantcore.wire import MarketUpdate, SignalUpdate
from serving import wire
from quantcore.samples import signal_update


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 2**31, 1_732_000_000_000_000, 2**63 - 1, -1, -(2**63)])
def test_varint_matches_protobuf(value):
    # An int64 field alone encodes as tag + varint: compare with protobuf's own encoder.
    reference = MarketUpdate(server_send_us=value).SerializeToString()  # proto3 omits a zero
    assert reference == (b"\x18" + wire.varint(value) if value else b"")
    assert len(wire.varint(-1)) == 10


def test_a_snapshot_and_an_update_decode_with_protobuf():
    updates = [signal_update("BTCUSDT", 7, obi=0.5), signal_update("ETHUSDT", 9, obi=-0.125)]
    frames = [wire.frame_update(u.SerializeToString()) for u in updates]
    for kind in (wire.SNAPSHOT, wire.UPDATE):
        decoded = MarketUpdate.FromString(wire.market_update(kind, frames, 1_732_000_000_123_456))
        assert decoded.kind == kind
        assert list(decoded.updates) == updates
        assert decoded.server_send_us == 1_732_000_000_123_456
    empty = MarketUpdate.FromString(wire.market_update(wire.SNAPSHOT, [], 5))
    assert (empty.kind, len(empty.updates), empty.server_send_us) == (MarketUpdate.SNAPSHOT, 0, 5)


def test_the_bytes_equal_protobufs_own_serialization():
    update = signal_update("SOLUSDT", 3)
    built = wire.market_update(wire.UPDATE, [wire.frame_update(update.SerializeToString())], 42)
    assert built == MarketUpdate(kind=MarketUpdate.UPDATE, updates=[update], server_send_us=42).SerializeToString()


signal_updates = st.builds(
    lambda symbol, uid, obi, mid, event: signal_update(symbol, uid, obi=obi, mid=mid, exchange_event_us=event),
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=12),
    st.integers(0, 2**63 - 1), st.floats(-1, 1), st.floats(1e-8, 1e7), st.integers(0, 2**62))


@given(st.lists(signal_updates, max_size=40), st.sampled_from([wire.SNAPSHOT, wire.UPDATE]), st.integers(0, 2**63 - 1))
def test_any_batch_round_trips(updates, kind, send_us):
    built = wire.market_update(kind, [wire.frame_update(u.SerializeToString()) for u in updates], send_us)
    decoded = MarketUpdate.FromString(built)
    assert decoded.kind == kind and decoded.server_send_us == send_us
    assert [SignalUpdate.FromString(u.SerializeToString()) for u in decoded.updates] == updates
