"""The recording file: one exchange session's raw frames and REST answers, in order.

A gzip-compressed JSON-lines file. Line 1 is the header; every further line is one
entry, in the order the recorder received them, each with its receive time:

    {"kind": "header", "format": "quantcore.recording", "version": 1, "source": "simulator",
     "simulator_seed": 7, "ws_base": "ws://...", "rest_base": "http://...",
     "symbols": ["BTCUSDT", ...], "streams": ["btcusdt@depth@100ms", ...], "started_us": ...}
    {"kind": "ws", "t_us": 1764700000123456, "frame": "{\"stream\":...,\"data\":{...}}"}
    {"kind": "rest", "t_us": ..., "path": "/api/v3/depth", "query": {"symbol": "BTCUSDT",
     "limit": "1000"}, "status": 200, "body": "{\"lastUpdateId\":...}"}

Frames and bodies are kept as the exact text received (a binary frame as base64 in
`frame_b64`), so a replay sends them byte for byte. JSON lines, because a recording must
stay readable by anyone with `zcat | jq`, and gzip, because market data compresses ~10x.
"""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

from quantcore.errors import PlatformError

FORMAT = "quantcore.recording"
VERSION = 1


class RecordingError(PlatformError):
    """A file that is not a readable recording; the message says what is wrong."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}", "pass a file written by `quantcore record`")


@dataclass(frozen=True)
class Header:
    source: str  # simulator | binance
    symbols: list[str]
    streams: list[str]  # the stream names subscribed, e.g. btcusdt@depth@100ms
    ws_base: str
    rest_base: str
    started_us: int
    simulator_seed: int | None = None


@dataclass(frozen=True)
class WsFrame:
    t_us: int  # when the recorder received it
    frame: str | bytes  # exactly as received


@dataclass(frozen=True)
class RestAnswer:
    t_us: int
    path: str
    query: dict[str, str]
    status: int
    body: str


Entry = WsFrame | RestAnswer


class RecordingWriter:
    """Appends entries to a new recording; `close()` finishes the gzip stream."""

    def __init__(self, path: Path, header: Header) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = gzip.open(self.path, "wt", encoding="utf-8", compresslevel=6)
        self.frames = self.rest_answers = 0
        self._write({"kind": "header", "format": FORMAT, "version": VERSION, **asdict(header)})

    def frame(self, raw: str | bytes, received_us: int) -> None:
        if isinstance(raw, bytes):
            self._write({"kind": "ws", "t_us": received_us, "frame_b64": base64.b64encode(raw).decode()})
        else:
            self._write({"kind": "ws", "t_us": received_us, "frame": raw})
        self.frames += 1

    def rest(self, answer: RestAnswer) -> None:
        self._write({"kind": "rest", "t_us": answer.t_us, "path": answer.path, "query": answer.query,
                     "status": answer.status, "body": answer.body})
        self.rest_answers += 1

    def _write(self, entry: dict) -> None:
        self._file.write(json.dumps(entry, separators=(",", ":")))
        self._file.write("\n")

    def close(self) -> None:
        self._file.close()


def read_header(path: Path) -> Header:
    with _open(path) as lines:
        return _header(path, next(lines, None))


def read_entries(path: Path) -> Iterator[Entry]:
    """Every entry after the header, in recorded order (streamed: a recording may be large)."""
    with _open(path) as lines:
        _header(path, next(lines, None))
        for number, line in enumerate(lines, start=2):
            yield _entry(path, number, line)


def _open(path: Path):
    path = Path(path)
    if not path.is_file():
        raise RecordingError(path, "no such file")
    return _Lines(path)


class _Lines:
    """The file's lines; a damaged gzip stream becomes a RecordingError."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = gzip.open(path, "rt", encoding="utf-8")

    def __enter__(self) -> Iterator[str]:
        return self._iterate()

    def _iterate(self) -> Iterator[str]:
        try:
            yield from self._file
        except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
            raise RecordingError(self.path, f"not a complete gzip recording ({exc})") from None

    def __exit__(self, *exc: object) -> None:
        self._file.close()


def _header(path: Path, line: str | None) -> Header:
    if line is None:
        raise RecordingError(path, "empty file")
    try:
        header = json.loads(line)
    except ValueError:
        raise RecordingError(path, "the first line is not a JSON header") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise RecordingError(path, f"the header does not say format {FORMAT!r}")
    if header.get("version") != VERSION:
        raise RecordingError(path, f"version {header.get('version')!r}; this platform reads version {VERSION}")
    try:
        return Header(source=header["source"], symbols=list(header["symbols"]), streams=list(header["streams"]),
                      ws_base=header["ws_base"], rest_base=header["rest_base"], started_us=int(header["started_us"]),
                      simulator_seed=header.get("simulator_seed"))
    except (KeyError, TypeError, ValueError) as exc:
        raise RecordingError(path, f"the header lacks or garbles {exc}") from None


def _entry(path: Path, number: int, line: str) -> Entry:
    try:
        entry = json.loads(line)
        kind = entry["kind"]
        if kind == "ws":
            frame = entry["frame"] if "frame" in entry else base64.b64decode(entry["frame_b64"])
            return WsFrame(int(entry["t_us"]), frame)
        if kind == "rest":
            return RestAnswer(int(entry["t_us"]), entry["path"], dict(entry["query"]), int(entry["status"]),
                              entry["body"])
    except (ValueError, KeyError, TypeError) as exc:
        raise RecordingError(path, f"line {number} is not a recording entry ({exc})") from None
    raise RecordingError(path, f"line {number} has unknown kind {kind!r}")
