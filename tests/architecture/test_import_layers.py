"""The layers import one way: import-linter's contracts in pyproject.toml must hold."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_import_contracts_hold() -> None:
    lint = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint), "--no-cache"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_a_forbidden_import_is_caught(tmp_path: Path) -> None:
    """The contract is not vacuous: a data-plane module importing the control plane breaks it."""
    offender = REPO / "serving" / "_layer_probe.py"
    offender.write_text("import quantcore_platform.services.process  # noqa: F401\n")
    try:
        lint = Path(sys.executable).parent / "lint-imports"
        result = subprocess.run([str(lint), "--no-cache"], cwd=REPO, capture_output=True, text=True)
    finally:
        offender.unlink()
    assert result.returncode != 0
    assert "serving._layer_probe -> quantcore_platform.services.process" in result.stdout
