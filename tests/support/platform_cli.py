"""`quantcore ...` run against a throwaway platform's settings, as an operator's shell would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from quantcore.settings import Settings
from tests.support.settings import platform_env

REPO = Path(__file__).resolve().parents[2]


def cli(settings: Settings, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "quantcore_platform.cli", *args], capture_output=True, text=True,
                          env=platform_env(settings), timeout=timeout, cwd=REPO)
