"""One writer per WAL directory: an exclusive ``flock`` on ``DIR/LOCK`` (LevelDB's LOCK file).

The kernel drops the lock when its holder dies, so a crashed engine never blocks recovery.
"""

import fcntl
import os

from .errors import WalError

LOCK_NAME = "LOCK"


class DirectoryLock:
    """Hold the lock of ``directory`` until ``release()``.

    Raises
    ------
    WalError
        When another engine (in this process or another) holds it.
    """

    def __init__(self, directory):
        self.path = os.path.join(directory, LOCK_NAME)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            self._fd = None
            raise WalError(f"{directory} is in use by another engine (it holds {self.path})") from None

    def release(self):
        """Drop the lock (idempotent)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


__all__ = ["DirectoryLock", "LOCK_NAME"]
