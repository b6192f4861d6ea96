"""The fanout benchmark's Go client, Python side: its result line read into the Python
workers' shape, and the build helper's answers without Go."""

from __future__ import annotations

import base64
import os
import struct

import numpy as np
import pytest

from bench.go_client import build_load_client
from bench.scenarios.fanout_clients import open_subscribers
from bench.scenarios.fanout_go import decode_result
from quantcore.errors import PlatformError


def go_result_line(latencies: list[int], hops: list[int]) -> dict:
    """A result as qc-subscribers writes it: int64 little-endian bytes, base64 in JSON."""
    packed = lambda values: base64.b64encode(struct.pack(f"<{len(values)}q", *values)).decode()  # noqa: E731
    return {"counts": [2, 1], "errors": 0, "latencies_us": packed(latencies), "hops_us": packed(hops),
            "seen": [[["BTCUSDT", 1_764_000_000_000_010, 1_764_000_000_123_456]], []], "cpu_s": 0.25}


def test_latencies_and_hops_come_back_as_the_int64_bytes_numpy_reads():
    result = decode_result(go_result_line([1_250, -3, 2**40], [6_700, 900]))

    assert np.frombuffer(result["latencies_us"], dtype=np.int64).tolist() == [1_250, -3, 2**40]
    assert np.frombuffer(result["hops_us"], dtype=np.int64).reshape(-1, 2).tolist() == [[6_700, 900]]
    assert result["counts"] == [2, 1] and result["errors"] == 0 and result["cpu_s"] == 0.25


def test_seen_updates_become_the_tuples_the_visibility_figure_sorts():
    result = decode_result(go_result_line([], []))

    assert result["seen"] == [[("BTCUSDT", 1_764_000_000_000_010, 1_764_000_000_123_456)], []]
    assert result["latencies_us"] == b"" and result["hops_us"] == b""


def test_without_go_the_build_explains_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no go on it

    with pytest.raises(PlatformError) as error:
        build_load_client(binary=tmp_path / "bin" / "qc-subscribers")

    assert "Go is not installed" in error.value.problem
    assert "install Go" in error.value.fix and "--set client=python" in error.value.fix


def test_an_up_to_date_binary_needs_no_go(tmp_path, monkeypatch):
    source = tmp_path / "loadclient"
    source.mkdir()
    for name in ("main.go", "go.mod", "go.sum"):
        (source / name).write_text("")
    binary = tmp_path / "qc-subscribers"
    binary.write_text("")
    os.utime(binary, (os.stat(source / "main.go").st_mtime + 10,) * 2)
    monkeypatch.setenv("PATH", str(tmp_path))

    assert build_load_client(binary=binary, source_dir=source) == binary


def test_a_source_newer_than_the_binary_means_a_rebuild(tmp_path, monkeypatch):
    source = tmp_path / "loadclient"
    source.mkdir()
    binary = tmp_path / "qc-subscribers"
    binary.write_text("")
    (source / "stream.go").write_text("")
    os.utime(source / "stream.go", (os.stat(binary).st_mtime + 10,) * 2)
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(PlatformError, match="Go is not installed"):  # it tried to build
        build_load_client(binary=binary, source_dir=source)


def test_an_unknown_client_is_explained():
    with pytest.raises(PlatformError) as error:
        open_subscribers("rust", "127.0.0.1:1", 1)

    assert "client=go" in error.value.fix and "client=python" in error.value.fix


@pytest.mark.parametrize("client", ["go", "python"])
def test_a_connection_needs_at_least_one_stream(client):
    with pytest.raises(PlatformError, match="per_connection=0") as raised:
        open_subscribers(client, "127.0.0.1:1", 10, per_connection=0)
    assert "N >= 1" in raised.value.fix
