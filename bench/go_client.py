"""Builds `qc-subscribers`, the Go load client of the fanout benchmark (bench/loadclient/).

Built on first use and whenever a source is newer than the binary, so a checkout needs no
extra setup step; `make loadclient` does the same ahead of time. The binary stays with the
checkout (like the jars), not in a platform home: each bench run has a temporary one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from quantcore.errors import PlatformError
from quantcore.settings import REPO_ROOT

SOURCE_DIR = REPO_ROOT / "bench" / "loadclient"
BINARY = REPO_ROOT / ".quantcore" / "bin" / "qc-subscribers"
NO_GO_FIX = ("install Go 1.26+ (apt-get install golang where the release ships 1.26, else https://go.dev/dl) "
             "or use --set client=python")


def build_load_client(binary: Path = BINARY, source_dir: Path = SOURCE_DIR) -> Path:
    """The path of an up-to-date `qc-subscribers`, building it when missing or stale."""
    if binary.exists() and not _stale(binary, source_dir):
        return binary
    go = shutil.which("go")
    if go is None:
        raise PlatformError("Go is not installed: the fanout benchmark's load client is a Go program", NO_GO_FIX)
    binary.parent.mkdir(parents=True, exist_ok=True)
    # No cgo: the client needs no C library, and the build then needs no C compiler.
    result = subprocess.run([go, "build", "-o", str(binary), "./"], cwd=source_dir, capture_output=True,
                            text=True, env={**os.environ, "CGO_ENABLED": "0"})
    if result.returncode != 0:
        raise PlatformError(f"go build of {source_dir} failed:\n{result.stderr.strip()[-3000:]}",
                            "fix the Go sources, or use --set client=python")
    return binary


def _stale(binary: Path, source_dir: Path) -> bool:
    """A source the binary is built from (tests aside) changed after it."""
    sources = [p for p in source_dir.iterdir()
               if (p.suffix == ".go" and not p.name.endswith("_test.go")) or p.name in ("go.mod", "go.sum")]
    return max(p.stat().st_mtime for p in sources) > binary.stat().st_mtime
