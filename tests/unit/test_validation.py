"""Frames the shard must not trust are refused with a reason; good ones pass untouched."""

from __future__ import annotations

import json

import pytest

from streaming.ingest.frames import FrameError, parse_depth, parse_diff, split_frame

GOOD_DIFF = {"e": "depthUpdate", "E": 1700000000123, "s": "BTCUSDT", "U": 157, "u": 160,
             "b": [["0.0024", "10"], ["0.0023", "0.00000000"]], "a": [["0.0026", "100.5"]]}
GOOD_DEPTH = {"lastUpdateId": 160, "bids": [["0.0024", "10"], ["0.0023", "1"]],
              "asks": [["0.0026", "100"], ["0.0027", "5"]]}


def with_(payload: dict, **changes) -> dict:
    return {**payload, **changes}


def without(payload: dict, key: str) -> dict:
    return {k: v for k, v in payload.items() if k != key}


def test_a_good_diff_keeps_the_exact_strings():
    event = parse_diff(GOOD_DIFF, "BTCUSDT", received_us=5)
    assert (event.first_id, event.last_id, event.event_time_ms, event.received_us) == (157, 160, 1700000000123, 5)
    assert event.bids == [("0.0024", "10"), ("0.0023", "0.00000000")]
    assert event.asks == [("0.0026", "100.5")]


def test_a_good_top_n_frame_keeps_the_exact_strings():
    snapshot = parse_depth(GOOD_DEPTH, "BTCUSDT")
    assert snapshot.last_update_id == 160
    assert snapshot.bids == [("0.0024", "10"), ("0.0023", "1")]


@pytest.mark.parametrize("payload, reason", [
    (without(GOOD_DIFF, "u"), "missing field 'u'"),
    (without(GOOD_DIFF, "b"), "missing field 'b'"),
    (with_(GOOD_DIFF, b=[["0.0024", "NaN"]]), "qty is NaN"),
    (with_(GOOD_DIFF, b=[["nan", "1"]]), "price is NaN"),
    (with_(GOOD_DIFF, a=[["0.0026", "-1.5"]]), "negative qty"),
    (with_(GOOD_DIFF, a=[["0.0026", "Infinity"]]), "qty is infinite"),
    (with_(GOOD_DIFF, b=[["12.3.4", "1"]]), "is not a decimal number"),
    (with_(GOOD_DIFF, b=[["1e5", "1"]]), "not a plain decimal"),
    (with_(GOOD_DIFF, b=[[0.0024, "1"]]), "does not hold decimal strings"),
    (with_(GOOD_DIFF, b=[["0.0024"]]), "is not [price, qty]"),
    (with_(GOOD_DIFF, b="0.0024"), "field 'b' is not a list"),
    (with_(GOOD_DIFF, b=[["0", "1"]]), "price is not positive"),
    (with_(GOOD_DIFF, U=161), "U (161) is greater than u (160)"),
    (with_(GOOD_DIFF, u="160"), "field 'u' is not a non-negative integer"),
    (with_(GOOD_DIFF, s="ETHUSDT"), "does not match its stream"),
    (with_(GOOD_DIFF, e="trade"), "unexpected event type"),
    ([1, 2], "not a JSON object"),
])
def test_bad_diffs_are_refused_with_a_reason(payload, reason):
    with pytest.raises(FrameError) as error:
        parse_diff(payload, "BTCUSDT")
    assert reason in error.value.reason
    assert error.value.symbol == "BTCUSDT"


@pytest.mark.parametrize("payload, reason", [
    (without(GOOD_DEPTH, "lastUpdateId"), "missing field 'lastUpdateId'"),
    (with_(GOOD_DEPTH, lastUpdateId=-1), "'lastUpdateId' is not a non-negative integer"),
    (with_(GOOD_DEPTH, lastUpdateId=True), "'lastUpdateId' is not a non-negative integer"),
    (with_(GOOD_DEPTH, bids=[["0.0027", "1"]]), "crossed book"),
    (with_(GOOD_DEPTH, bids=[["0.0026", "1"]]), "crossed book"),  # locked counts as crossed
    (with_(GOOD_DEPTH, bids=[["0.0023", "1"], ["0.0024", "1"]]), "not sorted best-first"),
    (with_(GOOD_DEPTH, asks=[["0.0027", "1"], ["0.0026", "1"]]), "not sorted best-first"),
    (with_(GOOD_DEPTH, asks=[["0.0026", "0"]]), "zero quantity"),
    (with_(GOOD_DEPTH, asks=[["0.0026", "-0.1"]]), "negative qty"),
])
def test_bad_top_n_frames_are_refused_with_a_reason(payload, reason):
    with pytest.raises(FrameError) as error:
        parse_depth(payload, "BTCUSDT")
    assert reason in error.value.reason


def test_one_empty_side_is_a_valid_book():
    assert parse_depth(with_(GOOD_DEPTH, asks=[]), "BTCUSDT").asks == []


def test_combined_frames_are_split_and_control_replies_recognized():
    stream, data = split_frame(json.dumps({"stream": "btcusdt@depth@100ms", "data": GOOD_DIFF}))
    assert stream == "btcusdt@depth@100ms" and data == GOOD_DIFF
    assert split_frame(b'{"result":null,"id":1}') == (None, {"result": None, "id": 1})


@pytest.mark.parametrize("raw, reason", [
    ('{"stream":"btcusdt@depth@100ms","data":{"e":', "invalid JSON"),
    (b"\xff\xfe", "invalid JSON"),
    ("[1]", "not a JSON object"),
    ('{"data":{}}', "missing field 'stream'"),
    ('{"stream":"btcusdt@depth@100ms"}', "missing field 'data'"),
    ('{"stream":7,"data":{}}', "'stream' is not a string"),
])
def test_malformed_frames_are_refused_with_a_reason(raw, reason):
    with pytest.raises(FrameError) as error:
        split_frame(raw)
    assert reason in error.value.reason
