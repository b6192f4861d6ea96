"""Which symbols a request asks for, and the errors that become INVALID_ARGUMENT."""

from __future__ import annotations

import pytest

from quantcore.wire import market_data_pb2
from serving.requests import InvalidRequest, parse_request, requested_symbols

UNIVERSE = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]


def test_empty_means_every_symbol():
    assert requested_symbols([], UNIVERSE) is None


def test_symbols_are_case_insensitive_and_repeats_harmless():
    assert requested_symbols(["btcusdt", "BTCUSDT", " ethusdt "], UNIVERSE) == frozenset({"BTCUSDT", "ETHUSDT"})


def test_unknown_symbols_are_named():
    with pytest.raises(InvalidRequest, match="'DOGEUSDT'.*3 served symbols"):
        requested_symbols(["BTCUSDT", "DOGEUSDT"], UNIVERSE)
    with pytest.raises(InvalidRequest, match="unknown"):
        requested_symbols([""], UNIVERSE)


def test_malformed_bytes_are_invalid_not_internal():
    raw = market_data_pb2.SubscribeRequest(symbols=["BTCUSDT"]).SerializeToString()
    assert list(parse_request(market_data_pb2.SubscribeRequest, raw).symbols) == ["BTCUSDT"]
    with pytest.raises(InvalidRequest, match="malformed SubscribeRequest"):
        parse_request(market_data_pb2.SubscribeRequest, raw[:-2])


def test_a_known_field_with_the_wrong_wire_type_is_invalid_not_everything():
    """Field 1 (symbols, length-delimited) sent as a varint: protobuf would keep it as an
    unknown field and read an empty request, i.e. the whole firehose."""
    with pytest.raises(InvalidRequest, match=r"field 1 \(symbols\) has wire type 0"):
        parse_request(market_data_pb2.SubscribeRequest, bytes([0x08, 0x05]))


def test_unknown_field_numbers_stay_allowed_for_newer_clients():
    valid = market_data_pb2.SubscribeRequest(symbols=["BTCUSDT"]).SerializeToString()
    field_99_varint = bytes([(99 << 3 | 0) & 0x7F | 0x80, (99 << 3) >> 7, 0x01])
    parsed = parse_request(market_data_pb2.SubscribeRequest, valid + field_99_varint)
    assert list(parsed.symbols) == ["BTCUSDT"]
