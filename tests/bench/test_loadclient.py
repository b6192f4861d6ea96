"""The fanout benchmark's Go load client passes its own tests (the protowire parser, the
window tally). Go is required, like Java for Kafka: without it the test fails, saying so."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from bench.go_client import NO_GO_FIX, SOURCE_DIR

pytestmark = pytest.mark.slow


def test_go_unit_tests_pass():
    go = shutil.which("go")
    assert go is not None, f"Go is not installed: {NO_GO_FIX}"

    result = subprocess.run([go, "test", "./..."], cwd=SOURCE_DIR, capture_output=True, text=True, timeout=300)

    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
