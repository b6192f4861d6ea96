"""Validation of the symbols a request asks for (pure; INVALID_ARGUMENT when it fails)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from google.protobuf.message import DecodeError, Message
from google.protobuf.unknown_fields import UnknownFieldSet


M = TypeVar("M", bound=Message)


class InvalidRequest(ValueError):
    """The request is malformed or names a symbol outside the universe."""


def parse_request(message_type: type[M], raw: bytes) -> M:
    """Requests arrive as bytes so a malformed one becomes INVALID_ARGUMENT, not INTERNAL.

    Protobuf keeps a known field that arrives with the wrong wire type as an *unknown*
    field, so `SubscribeRequest` with field 1 as a varint would parse as an empty request
    ("every symbol") and stream the whole firehose. Such a request comes from a client built
    from another .proto: refuse it. Unknown field numbers stay allowed (newer clients)."""
    try:
        message = message_type.FromString(raw)
    except DecodeError as exc:
        raise InvalidRequest(f"malformed {message_type.DESCRIPTOR.name}: {exc}") from None
    known = message_type.DESCRIPTOR.fields_by_number
    for field in UnknownFieldSet(message):
        if field.field_number in known:
            name = known[field.field_number].name
            raise InvalidRequest(f"malformed {message_type.DESCRIPTOR.name}: field {field.field_number} ({name}) "
                                 f"has wire type {field.wire_type}, not the one its type needs; is the client built "
                                 "from this server's market_data.proto?")
    return message


def requested_symbols(requested: Iterable[str], universe: Iterable[str]) -> frozenset[str] | None:
    """The symbols to serve (None: all of them). Case-insensitive; repeats are harmless."""
    wanted = [symbol.strip().upper() for symbol in requested]
    if not wanted:
        return None
    known = set(universe)
    unknown = sorted({symbol for symbol in wanted if symbol not in known})
    if unknown:
        shown = ", ".join(repr(symbol) for symbol in unknown[:10])
        raise InvalidRequest(f"unknown symbol(s) {shown}; ListSymbols gives the {len(known)} served symbols")
    return frozenset(wanted)


def requested_depth(depth: int, most: int) -> int:
    """The book levels per side a SubscribeBooks request asks for: 1..`most`, nothing else."""
    if not 1 <= depth <= most:
        raise InvalidRequest(f"depth must be 1..{most} (levels per side), got {depth}")
    return depth
