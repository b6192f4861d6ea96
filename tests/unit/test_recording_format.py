"""The recording file: what is written is read back exactly; a file that is not a
recording, or a bad `record`/`--replay` argument, is a one-line error with the fix."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import pytest

from streaming.recording.format import (
    Header,
    RecordingError,
    RecordingWriter,
    RestAnswer,
    WsFrame,
    read_entries,
    read_header,
)
from streaming.simulator.replay import split_recorded

REPO = Path(__file__).resolve().parents[2]
HEADER = Header(source="binance", symbols=["BTCUSDT"], streams=["btcusdt@depth@100ms"], ws_base="wss://x",
                rest_base="https://x", started_us=1_700_000_000_000_000)


def test_entries_round_trip_exactly_in_order(tmp_path):
    path = tmp_path / "s.jsonl.gz"
    frames = ['{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","U":1,"u":2,"b":[["1.0","2"]],"a":[]}}',
              '{"result":null,"id":1}', b"\x00\xffbinary", '{"stream":"btcusdt@depth@100ms","data":{bad json}}',
              'unicode \u00e9\u4e2d']
    writer = RecordingWriter(path, HEADER)
    writer.rest(RestAnswer(5, "/api/v3/depth", {"symbol": "BTCUSDT", "limit": "1000"}, 200, '{"lastUpdateId":2}'))
    for i, frame in enumerate(frames):
        writer.frame(frame, 10 + i)
    writer.close()
    assert read_header(path) == HEADER
    entries = list(read_entries(path))
    assert entries[0] == RestAnswer(5, "/api/v3/depth", {"symbol": "BTCUSDT", "limit": "1000"}, 200,
                                    '{"lastUpdateId":2}')
    assert entries[1:] == [WsFrame(10 + i, frame) for i, frame in enumerate(frames)]


def test_split_recorded_keeps_the_data_text_and_handles_other_spellings():
    assert split_recorded('{"stream":"a@trade","data":{"p":"1.10"}}') == ("a@trade", '{"p":"1.10"}')
    assert split_recorded('{ "data": {"p": "1.10"}, "stream": "a@trade" }') == ("a@trade", '{"p":"1.10"}')


@pytest.mark.parametrize("content, problem", [
    (b"not gzip at all", "not a complete gzip recording"),
    (gzip.compress(b""), "empty file"),
    (gzip.compress(b'{"kind":"header","format":"other"}\n'), "does not say format"),
    (gzip.compress(b'{"kind":"header","format":"quantcore.recording","version":9}\n'), "version 9"),
    (gzip.compress(b'{"kind":"header","format":"quantcore.recording","version":1}\n'), "lacks or garbles"),
])
def test_a_file_that_is_not_a_recording_says_why(tmp_path, content, problem):
    path = tmp_path / "bad.gz"
    path.write_bytes(content)
    with pytest.raises(RecordingError, match=problem):
        read_header(path)


def test_a_damaged_entry_names_its_line(tmp_path):
    path = tmp_path / "s.jsonl.gz"
    RecordingWriter(path, HEADER).close()
    with gzip.open(path, "at") as extra:
        extra.write('{"kind":"ws","t_us":1,"frame":"x"}\n{"kind":"ws"}\n')
    with pytest.raises(RecordingError, match="line 3 is not a recording entry"):
        list(read_entries(path))


def quantcore(tmp_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "quantcore_platform.cli", "--home", str(tmp_path), *args],
                          capture_output=True, text=True, timeout=60, cwd=REPO)


@pytest.mark.parametrize("args, needle", [
    (("simulator", "--replay", "missing.jsonl.gz"), "missing.jsonl.gz: no such file"),
    (("simulator", "--speed", "2"), "--speed applies to a replay"),
    (("record", "--out", "x.gz", "--extra", "depth7"), "unknown stream kind(s) depth7"),
    (("record", "--out", "x.gz", "--seconds", "0"), "--seconds 0 is not positive"),
])
def test_bad_record_and_replay_arguments_fail_in_one_line(tmp_path, args, needle):
    result = quantcore(tmp_path, *args)
    output = result.stdout + result.stderr
    assert result.returncode == 2 and "Traceback" not in output and needle in output, output
