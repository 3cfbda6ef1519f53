"""The write-ahead log: format, writer thread, reader, snapshots, recovery (DESIGN §5)."""

from .errors import SnapshotFailedWarning, WalConfigError, WalCorruptionError, WalError, WalPoisonedError
from .files import FileLayer
from .format import FORMAT_VERSION, WalConfig

__all__ = [
    "FORMAT_VERSION",
    "FileLayer",
    "SnapshotFailedWarning",
    "WalConfig",
    "WalConfigError",
    "WalCorruptionError",
    "WalError",
    "WalPoisonedError",
]
