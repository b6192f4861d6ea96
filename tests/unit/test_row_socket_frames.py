"""streaming/spark/row_socket.py's framing: what SocketRowWriter (jvm/spark) sends, read back.

The frames here are built with `struct` from the layout SocketRowWriter's javadoc gives;
tests/integration/test_row_socket.py sends them from the Java class itself."""

from __future__ import annotations

import json
import struct

import pytest

from streaming.spark.row_socket import FrameError, SocketRow, decode_frame, split_frames

LONG_MIN = -(2**63)  # Java's Long.MIN_VALUE: the javadoc's null event time


def frame(partition: int, offset: int, update_id: int, dead: bool, symbol: str, row: dict,
          event_us: int = LONG_MIN, mid: float = float("nan")) -> bytes:
    symbol_bytes, body = symbol.encode(), json.dumps(row).encode()
    head = struct.pack(">iqqBqdH", partition, offset, update_id, int(dead), event_us, mid, len(symbol_bytes))
    rest = head + symbol_bytes + body
    return struct.pack(">i", len(rest)) + rest


def test_whole_frames_are_split_and_a_partial_one_waits_for_the_next_read():
    first, second = frame(3, 41, 12, False, "BTCUSDT", {}), frame(3, 42, 13, False, "BTCUSDT", {})
    stream = first + second
    frames, used = split_frames(stream[:len(first) + 5])
    assert len(frames) == 1 and used == len(first)
    frames, used = split_frames(stream[used:])
    assert len(frames) == 1 and used == len(second)
    assert split_frames(b"\x00\x00") == ([], 0), "not even a length yet"


def test_a_frame_reads_as_the_computed_row_without_parsing_its_json():
    row = {"obi_1": 0.5, "mid": 101.25, "exchange_event_us": 1_700_000_000_123_456}
    (body,), _ = split_frames(frame(7, 2**40, 2**62, False, "ÉTHUSDT", row, 1_700_000_000_123_456, 101.25))
    decoded = decode_frame(body)
    assert (decoded.partition, decoded.offset, decoded.update_id, decoded.dead) == (7, 2**40, 2**62, False)
    assert (decoded["symbol"], decoded["update_id"], decoded["reason"]) == ("ÉTHUSDT", 2**62, None)
    # what the writer reads of every book (the realized volatility's input)
    assert (decoded["exchange_event_us"], decoded["mid"]) == (1_700_000_000_123_456, 101.25)
    assert decoded._row is None, "the head answered: the JSON was never parsed"
    assert decoded["obi_1"] == 0.5 and decoded["spread"] is None


def test_null_event_time_and_mid_read_as_none_like_their_json():
    (body,), _ = split_frames(frame(1, 2, 3, False, "BTCUSDT", {"obi_1": 0.1}))
    decoded = decode_frame(body)
    assert decoded["exchange_event_us"] is None and decoded["mid"] is None
    (body,), _ = split_frames(frame(1, 2, 3, False, "BTCUSDT", {}, event_us=0, mid=0.0))
    assert (decode_frame(body)["exchange_event_us"], decode_frame(body)["mid"]) == (0, 0.0), "zero is not null"


def test_a_dead_letter_reads_its_symbol_and_reason_from_its_json():
    letter = {"reason": "bad", "key": "k\tx\n", "exchange_event_us": 5}
    (body,), _ = split_frames(frame(0, 9, 0, True, "", letter, event_us=7, mid=1.0))
    dead = decode_frame(body)
    assert dead["reason"] == "bad" and dead["symbol"] is None and dead["key"] == "k\tx\n"
    assert dead["exchange_event_us"] == 5 and dead["mid"] is None, "a dead letter's fields are its JSON's"


def test_bytes_that_are_not_frames_are_refused_with_the_reason():
    with pytest.raises(FrameError, match="frame length -5 is outside"):
        split_frames(struct.pack(">i", -5) + b"x" * 8)
    with pytest.raises(FrameError, match="frame length 33 is outside 0..32"):
        split_frames(struct.pack(">i", 33), max_bytes=32)  # refused before its bytes arrive
    with pytest.raises(FrameError, match="shorter than its 39-byte head"):
        decode_frame(b"\x00" * 10)
    head = struct.pack(">iqqBqdH", 0, 0, 0, 0, LONG_MIN, 0.0, 500)
    with pytest.raises(FrameError, match="symbol of 500 bytes"):
        decode_frame(head + b"ab")


def test_socket_rows_are_mappings_over_the_computed_columns():
    from streaming.spark.compute_rows import COMPUTED_COLUMNS

    row = SocketRow(0, 1, "X", 2, False, b"{}")
    assert list(row) == list(COMPUTED_COLUMNS) and len(row) == len(COMPUTED_COLUMNS)
