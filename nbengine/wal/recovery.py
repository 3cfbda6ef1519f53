"""Read back a WAL directory (newest snapshot, then every later frame) and make it appendable.

``LogContents`` only reads; ``repair`` makes the directory appendable again (truncates a
torn tail, sets a corrupt suffix aside when salvaging). ``durability`` replays what
``LogContents`` returns into an engine and attaches a writer; this module never sees one.
"""

import itertools
import os
import time
from typing import NamedTuple

import numpy as np

from ..codes import GTC, LIMIT
from ..schema import prepare
from .errors import WalConfigError
from .files import FileLayer, copy_file_durably, free_name
from .format import RECORD_REFUSED, SEGMENT_HEADER, WalConfig, decode_payload, new_log_id
from .reader import TornTail, WalReader, list_segments
from .snapshot import load_latest


class RecoveryReport(NamedTuple):
    """What recovery found and did.

    Attributes
    ----------
    directory : str
    config : format.WalConfig
    log_id : bytes
        The log's identity; a new one when the log held no readable segment header.
    snapshot_seq : int or None
        Input seq the snapshot covered up to, or None without a snapshot.
    end_seq : int
        The next input seq: everything in ``[0, end_seq)`` was recovered.
    frames, orders : int
        Frames and orders replayed after the snapshot.
    torn : reader.TornTail or None
        Where the newest segment's torn tail starts.
    corruption : WalCorruptionError or None
        With ``salvage=True``: the corruption the valid prefix stops at.
    seconds : float
        Wall time of reading, verifying and replaying.
    """

    directory: str
    config: WalConfig
    log_id: bytes
    snapshot_seq: int | None
    end_seq: int
    frames: int
    orders: int
    torn: TornTail | None
    corruption: Exception | None
    seconds: float


class LogContents:
    """What a WAL directory holds: its snapshot, settings and identity, and the batches to replay after it.

    Opening reads and verifies the snapshot and the log as far as its first frame, so
    that ``config`` is known before anything is replayed; ``batches()`` reads the rest.
    Nothing here changes a file or sees an engine: ``durability.replay`` feeds an engine.

    Parameters
    ----------
    directory : str or os.PathLike
    salvage : bool
        Stop before the first corruption (kept in ``report().corruption``) instead of
        raising ``WalCorruptionError``.

    Attributes
    ----------
    snapshot : snapshot.Snapshot or None
    config : format.WalConfig or None
        The log's settings; None when no segment header nor snapshot could be read (a
        first segment torn while being created, or, salvaging, a bad first header).

    Raises
    ------
    FileNotFoundError
        When ``directory`` does not exist.
    WalConfigError
        When it holds no log, a log of another format version, or a snapshot whose
        settings differ from its segments'.
    WalCorruptionError
        On corruption, unless ``salvage``.
    """

    def __init__(self, directory, *, salvage=False):
        self._started = time.perf_counter()
        self.directory = os.fspath(directory)
        if not os.path.isdir(self.directory):
            raise FileNotFoundError(f"no WAL directory {self.directory}")
        self.snapshot = load_latest(self.directory)
        self.start_seq = self.snapshot.input_seq if self.snapshot is not None else 0
        log_id = None if self.snapshot is None else self.snapshot.log_id
        self._reader = WalReader(self.directory, start_seq=self.start_seq, salvage=salvage, log_id=log_id)
        self._records = self._reader.records()
        self._first = next(self._records, None)
        reader = self._reader
        self.config = self.snapshot.config if self.snapshot is not None else reader.config
        if self.config is None and reader.torn is None and reader.corruption is None:
            raise WalConfigError(f"{self.directory} holds no WAL segment and no snapshot")
        if self.config is not None and reader.config is not None and reader.config != self.config:
            self.config.check_same(reader.config, f"{self.directory}: the snapshot")
        self.frames = 0

    def snapshot_batch(self):
        """The snapshot's resting orders as prepared GTC LIMIT order columns in priority order, or None.

        Matching them into a fresh engine rebuilds every book and priority; the
        snapshot's counters are then set (``snapshot.input_seq``, ``trade_seq``, ``event_seq``).
        """
        if self.snapshot is None or not self.snapshot.orders.num_rows:
            return None
        orders = self.snapshot.orders
        n = orders.num_rows
        names = ("ts", "order_id", "symbol", "side", "price", "qty", "account")
        columns = {name: orders.column(name).to_numpy() for name in names}
        columns["kind"] = np.full(n, LIMIT, dtype=np.int8)
        columns["tif"] = np.full(n, GTC, dtype=np.int8)
        return prepare(columns)

    def batches(self):
        """Yield ``(refused, columns)`` of each frame after the snapshot, in order: whether it holds
        orders the engine refused for its memory budget (``RECORD_REFUSED``), and its prepared
        order columns (zero copy)."""
        for record in itertools.chain([] if self._first is None else [self._first], self._records):
            self.frames += 1
            yield record.record_type == RECORD_REFUSED, decode_payload(record.payload)

    def report(self, config):
        """The ``RecoveryReport`` once ``batches()`` is exhausted; ``config`` is the settings used (``self.config`` or chosen)."""
        reader = self._reader
        return RecoveryReport(
            self.directory,
            config,
            reader.log_id if reader.log_id is not None else new_log_id(),
            None if self.snapshot is None else self.snapshot.input_seq,
            reader.end_seq,
            self.frames,
            reader.end_seq - self.start_seq,
            reader.torn,
            reader.corruption,
            time.perf_counter() - self._started,
        )


def repair(report, files=None):
    """Make a recovered directory appendable; return the segment to append to, or None for a new one.

    Truncates a torn tail, removes a newest segment whose header is torn, and with a
    salvaged corruption copies the bad segment to ``<name>.corrupt`` (durably, before it
    is truncated at the bad offset) and renames every later segment to ``<name>.corrupt``;
    a bad segment header sets its segment aside whole. Where an earlier salvage left a
    ``<name>.corrupt``, the next free ``<name>.N.corrupt`` is taken: no copy is ever
    overwritten. Leftover ``*.tmp`` files are removed.
    """
    files = files if files is not None else FileLayer()
    directory = report.directory
    for name in os.listdir(directory):
        if name.endswith(".tmp"):
            files.remove(os.path.join(directory, name))
    segments = list_segments(directory)
    bad = report.corruption
    if bad is not None:
        index = segments.index(bad.segment)
        if bad.offset >= SEGMENT_HEADER.size:
            copy_file_durably(files, bad.segment, free_name(bad.segment, ".corrupt"))
            files.truncate(bad.segment, bad.offset)
            later = segments[index + 1 :]
        else:
            later = segments[index:]
        for path in later:
            files.rename(path, free_name(path, ".corrupt"))
        files.fsync_dir(directory)
        segments = list_segments(directory)
    elif report.torn is not None:
        if report.torn.offset is None:
            files.remove(report.torn.segment)
            files.fsync_dir(directory)
            segments = segments[:-1]
        else:
            files.truncate(report.torn.segment, report.torn.offset)
    if not segments:
        return None
    return segments[-1]


__all__ = ["LogContents", "RecoveryReport", "repair"]
