"""`MarketUpdate` bytes built by hand around the `SignalUpdate` bytes compute already wrote.

Compute serializes each `SignalUpdate` once and publishes those bytes on Redis. Protobuf's
wire format is a concatenation of (tag, value) pairs, so a `MarketUpdate` is just:

    0x08 <varint kind>                       field 1, varint
    0x12 <varint len> <SignalUpdate bytes>   field 2, length-delimited (repeated)
    0x18 <varint server_send_us>             field 3, varint

The hub frames each update once (`frame_update`); each send only joins frames and stamps
the time, so fan-out never decodes or re-encodes per client. Tag numbers are checked
against the generated descriptor at import, so a renumbered field fails loudly here.
"""

from __future__ import annotations

from collections.abc import Iterable

from quantcore.wire import MarketUpdate, varint

_FIELDS = MarketUpdate.DESCRIPTOR.fields_by_name
assert (_FIELDS["kind"].number, _FIELDS["updates"].number, _FIELDS["server_send_us"].number) == (1, 2, 3), \
    "market_data.proto renumbered MarketUpdate: update serving/wire.py"

_WIRE_VARINT, _WIRE_LEN = 0, 2
_TAG_KIND = bytes([(1 << 3) | _WIRE_VARINT])  # 0x08
_TAG_UPDATE = bytes([(2 << 3) | _WIRE_LEN])  # 0x12
_TAG_SEND_US = bytes([(3 << 3) | _WIRE_VARINT])  # 0x18

SNAPSHOT = MarketUpdate.SNAPSHOT
UPDATE = MarketUpdate.UPDATE
_KIND_PREFIX = {kind: _TAG_KIND + bytes([kind]) for kind in (SNAPSHOT, UPDATE)}


def frame_update(signal_update: bytes) -> bytes:
    """One serialized `SignalUpdate` as a `MarketUpdate.updates` entry (field 2)."""
    return _TAG_UPDATE + varint(len(signal_update)) + signal_update


def market_update(kind: int, frames: Iterable[bytes], server_send_us: int) -> bytes:
    """A serialized `MarketUpdate` from framed updates (see `frame_update`)."""
    return b"".join((_KIND_PREFIX[kind], *frames, _TAG_SEND_US, varint(server_send_us)))
