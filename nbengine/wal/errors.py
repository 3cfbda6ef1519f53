"""Exceptions of the write-ahead log."""


class WalError(Exception):
    """Base class of every WAL error."""


class WalCorruptionError(WalError):
    """A record or header that fails its checksum (or breaks the format) where no torn tail can be.

    Attributes
    ----------
    segment : str
        Path of the segment file.
    offset : int
        Byte offset in that file where the bad record or header starts.
    """

    def __init__(self, segment, offset, detail):
        self.segment = str(segment)
        self.offset = int(offset)
        super().__init__(f"WAL corruption in {self.segment} at byte {self.offset}: {detail}")


class WalConfigError(WalError):
    """A WAL written under another format version or other matching settings."""


class WalPoisonedError(WalError):
    """A write or fsync failed: the WAL accepts nothing more and acknowledges nothing more.

    The ``__cause__`` is the original exception (an ``OSError`` such as EIO or ENOSPC).
    """


class SnapshotFailedWarning(UserWarning):
    """An automatic snapshot (``snapshot_every``) failed; the batch that made it due is durable and acknowledged.

    The log stays recoverable (the previous snapshot and every segment after it are kept);
    the engine records the error as ``Engine.snapshot_error`` and tries again once another
    ``snapshot_every`` orders (or ``snapshot_every_bytes`` bytes) were logged.
    """


__all__ = ["SnapshotFailedWarning", "WalConfigError", "WalCorruptionError", "WalError", "WalPoisonedError"]
