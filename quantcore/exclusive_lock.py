"""An exclusive lock on a local file (flock): at most one holder per path on this machine.

The kernel releases it when the holder's process dies, however it dies (kill -9 included),
so a waiting standby learns at once that it is its turn.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class ExclusiveLock:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.previous_owner = ""  # what the last holder wrote (see try_acquire)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self, owner: str = "") -> bool:
        """Take the lock if it is free; never blocks. The file then holds `owner` (and the
        holder's pid when empty); what the previous holder wrote is kept in `previous_owner`."""
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self.previous_owner = os.pread(fd, 4096, 0).decode(errors="replace").strip()
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{owner or os.getpid()}\n".encode(), 0)
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None
