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


def kill_leftovers(settings: Settings) -> dict[int, str]:
    """kill -9 whatever of the platform's home still runs (never leave a stray process to
    the rest of the suite); returns what was left."""
    import os

    from quantcore_platform.services.process import processes_of_home

    left = processes_of_home(settings.paths.home_dir)
    for pid in left:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
    return left
