"""Between ``Engine`` and ``wal/``: attach a log, acknowledge submissions, snapshot, recover.

``wal/`` is a log library that never sees an engine; the engine never sees a file. An
engine with a WAL holds one ``Durability``: the writer thread, the directory lock, the
durability mode and the snapshot schedule. ``replay`` and ``recover`` rebuild an engine
from what ``wal.recovery.LogContents`` read, through the engine's public API plus the two
methods it keeps for this module (``_restore_counters``, ``_attach_durability``).
"""

import inspect
import numbers
import os
import threading
import warnings

from .state import Q_DURABLE, Q_HEAD, OrderColumns
from .wal import recovery
from .wal import snapshot as wal_snapshot
from .wal.dirlock import DirectoryLock
from .wal.errors import SnapshotFailedWarning, WalError
from .wal.files import FileLayer
from .wal.format import RECORD_REFUSED, ROW_BYTES, WalConfig, encode_payload, new_log_id
from .wal.reader import list_segments
from .wal.writer import WalWriter

__all__ = ["DURABILITY_MODES", "Durability", "checked_arguments", "recover", "replay"]

DURABILITY_MODES = ("none", "async", "group", "sync")
"""``Engine(durability=...)`` values; DESIGN §5 and the README say what each survives."""

ASYNC_INTERVAL_NS = 5_000_000
"""In ``async`` mode the writer syncs single orders at most once every 5 ms (``WalWriter(interval_ns=...)``).

Every sync disturbs the matching thread (the disk's interrupt and the writer's wake-up land on
its CPU about half the time). A/B on the 2-core VM, 50,000 ``submit_one`` calls, 4 runs each:
syncing as soon as possible: p99 ~35 us; every 1 ms: p99 3.6-4.2 us, p99.9 48-56 us; every
5 ms: p99 2.1-3.4 us, p99.9 38-42 us. The price is the power-loss bound: single orders reach
the disk at most 5 ms (plus one sync) after they were acknowledged."""

WAL_OPTIONS = ("segment_bytes", "max_queued_frames", "max_queued_bytes", "files")
"""The keys ``wal_options`` may hold: ``wal.writer.WalWriter``'s keyword arguments."""


def checked_arguments(durability, snapshot_every, snapshot_every_bytes, wal_options):
    """Validate the WAL arguments of ``Engine`` and ``Engine.recover``; return the durability mode.

    Called before any file is created, locked, truncated or renamed, so that a bad
    argument leaves the directory as it was.

    Raises
    ------
    ValueError
        Naming the argument, what it expects and what it got.
    """
    durability = "group" if durability is None else durability
    if durability not in DURABILITY_MODES:
        raise ValueError(f"durability: expected one of {DURABILITY_MODES}, got {durability!r}")
    if durability == "none":
        raise ValueError("durability='none' keeps no WAL: leave wal_dir out")
    options = dict(wal_options or {})
    unknown = sorted(set(options) - set(WAL_OPTIONS))
    if unknown:
        raise ValueError(f"wal_options: unknown {', '.join(unknown)}; expected some of {', '.join(WAL_OPTIONS)}")
    sizes = {"snapshot_every": snapshot_every, "snapshot_every_bytes": snapshot_every_bytes}
    sizes.update((name, value) for name, value in options.items() if name != "files")
    for name, value in sizes.items():
        if value is not None and (not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1):
            raise ValueError(f"{name}: expected an integer >= 1, got {value!r}")
    return durability


class Durability:
    """An engine's WAL: writer thread, directory lock, durability mode and snapshot schedule.

    Built by ``create`` (a new log) or ``recover``; the engine calls ``log_batch`` /
    ``log_refused`` under its lock, ``acknowledge`` after matching, ``start_snapshot``
    (under its lock) and ``finish_snapshot`` to snapshot, and ``close``.

    Parameters
    ----------
    directory : str
    lock : wal.dirlock.DirectoryLock
        Held already; released by ``close``.
    mode : {"async", "group", "sync"}
    config : wal.format.WalConfig
    log_id : bytes
    next_seq : int
        The engine's next input seq: the first frame's.
    append_to : str or None
        An intact newest segment to go on appending to; None starts a new one.
    snapshot_every, snapshot_every_bytes : int or None
    wal_options : dict or None
        Checked by ``checked_arguments``.
    """

    def __init__(self, directory, lock, mode, config, log_id, next_seq, append_to, snapshot_every,
                 snapshot_every_bytes, wal_options):
        options = dict(wal_options or {})
        self.files = options.get("files") or FileLayer()
        self.writer = WalWriter(directory, config, log_id, next_seq, append_to=append_to, group=mode != "sync",
                                 interval_ns=ASYNC_INTERVAL_NS if mode == "async" else 0, **options)
        self.directory = directory
        self.mode = mode
        self.config = config
        self.snapshot_every = snapshot_every
        self.snapshot_every_bytes = snapshot_every_bytes
        self._scheduled = snapshot_every is not None or snapshot_every_bytes is not None
        self.ring_ctl = self.writer.ring_ctl
        self.snapshot_seq = next_seq
        self._frame_bytes = 0
        self._ring_mark = 0
        self.snapshot_error = None
        self.snapshot_lock = threading.Lock()
        self._lock = lock

    @classmethod
    def create(cls, directory, mode, config, next_seq, snapshot_every, snapshot_every_bytes, wal_options):
        """Start a new log in ``directory`` (created if missing) under a fresh log id.

        Raises
        ------
        WalError
            When another engine holds the directory, or it holds a log already.
        """
        os.makedirs(directory, exist_ok=True)
        lock = DirectoryLock(directory)
        try:
            if list_segments(directory) or os.path.exists(os.path.join(directory, wal_snapshot.POINTER_NAME)):
                raise WalError(f"{directory} already holds a WAL: reopen it with Engine.recover({directory!r})")
            return cls(directory, lock, mode, config, new_log_id(), next_seq, None, snapshot_every,
                       snapshot_every_bytes, wal_options)
        except BaseException:
            lock.release()
            raise

    def raise_if_unusable(self):
        """Raise ``WalPoisonedError`` once a write or sync failed."""
        if self.writer.error is not None:
            self.writer.raise_if_unusable()

    def log_batch(self, payload, seq_start, rows):
        """Queue a matched batch's frame (engine lock held, so frames go in seq order)."""
        if rows:
            self.writer.append(payload, seq_start, rows)
            self._frame_bytes += len(payload)

    def log_refused(self, columns, seq_start):
        """Queue a frame of orders the engine refused for its memory budget (engine lock held).

        Replay refuses them again (``RECORD_REFUSED``) instead of matching them: whether an
        order fits depends on the budget and on how the state grew, neither of which the
        log holds, so the log records the decision.
        """
        rows = columns.ts.shape[0]
        payload = encode_payload(columns)
        self.writer.append(payload, seq_start, rows, RECORD_REFUSED)
        self._frame_bytes += len(payload)

    def log_batch_refusing(self, columns, seq_start, refused):
        """``log_batch`` of a batch some of whose rows (indices ``refused``, ascending) were refused.

        The matched runs between them are ``RECORD_ORDERS`` frames, each refused row a
        ``RECORD_REFUSED`` frame, in seq order.
        """
        start = 0
        for row in [*refused, columns.ts.shape[0]]:
            if row > start:
                part = OrderColumns(*(column[start:row] for column in columns))
                self.log_batch(encode_payload(part), seq_start + start, row - start)
            if row < columns.ts.shape[0]:
                self.log_refused(OrderColumns(*(column[row : row + 1] for column in columns)), seq_start + row)
            start = row + 1

    @property
    def logged_bytes(self):
        """Bytes logged since the last snapshot: batch payloads, and ``ROW_BYTES`` per single order."""
        return self._frame_bytes + ROW_BYTES * (int(self.ring_ctl[Q_HEAD]) - self._ring_mark)

    def acknowledge(self, result, snapshot):
        """Wait as the mode says, take a due automatic snapshot with ``snapshot()``, return ``result``.

        Once the batch is durable it is acknowledged: a failing automatic snapshot is
        kept in ``snapshot_error`` and warned about (``SnapshotFailedWarning``), never
        raised, so that a caller never retries (and executes twice) a batch the log holds.
        The next due point, counted from the failed attempt, tries again.
        """
        if self.mode != "async" and self.ring_ctl[Q_DURABLE] < result.seq_end:
            result.wait_durable()
        if self._scheduled and self._snapshot_due(result.seq_end):
            try:
                snapshot()
            except Exception as exc:  # the batch is durable whatever failed
                self.snapshot_error = exc
                warnings.warn(
                    f"automatic snapshot of {self.directory} failed ({exc}); batch [{result.seq_start}, "
                    f"{result.seq_end}) is acknowledged, the snapshot is retried after snapshot_every more",
                    SnapshotFailedWarning,
                    stacklevel=4,
                )
            else:
                self.snapshot_error = None
        return result

    def acknowledge_durable(self, result, snapshot):
        """``acknowledge`` of a ``result`` the caller saw the durable watermark pass: only a due snapshot is left."""
        return self.acknowledge(result, snapshot) if self._scheduled else result

    def _snapshot_due(self, next_seq):
        orders, logged = self.snapshot_every, self.snapshot_every_bytes
        return (orders is not None and next_seq - self.snapshot_seq >= orders) or (
            logged is not None and self.logged_bytes >= logged
        )

    def start_snapshot(self, input_seq, trade_seq, event_seq, orders):
        """Step 1 of a snapshot (docs/wal-format.md), engine lock and ``snapshot_lock`` held.

        Takes the content and asks the writer to start segment ``input_seq``; returns the
        content for ``finish_snapshot``.
        """
        self.raise_if_unusable()
        content = wal_snapshot.Snapshot(self.config, self.writer.log_id, input_seq, trade_seq, event_seq, orders)
        self.writer.rotate(input_seq)
        self.snapshot_seq = input_seq
        self._frame_bytes = 0
        self._ring_mark = int(self.ring_ctl[Q_HEAD])
        return content

    def finish_snapshot(self, content):
        """Steps 2–4 (``snapshot_lock`` held, engine lock not): write the snapshot and pointer, prune; return its path."""
        self.writer.wait_rotated(content.input_seq)
        path = wal_snapshot.write_snapshot(self.files, self.directory, content)
        wal_snapshot.prune(self.files, self.directory, content.input_seq)
        return path

    def close(self):
        """Write and fsync everything queued, stop the writer, drop the directory lock."""
        try:
            self.writer.close()
        finally:
            self._lock.release()


def engine_defaults(engine_class):
    """The default ``stp``, ``max_span_ticks``, ``max_price_ticks`` of ``engine_class``."""
    defaults = inspect.signature(engine_class).parameters
    return WalConfig(*(defaults[name].default for name in WalConfig._fields))


def replay(engine_class, directory, *, salvage=False, expected=None):
    """Read, verify and replay a WAL directory into a new engine without a WAL (no file changes).

    Parameters
    ----------
    engine_class : type
        ``Engine`` (passed in: ``engine`` imports this module).
    directory : str or os.PathLike
    salvage : bool
        Keep the valid prefix instead of raising at corruption.
    expected : dict, optional
        Settings the caller asks for (``stp``, ``max_span_ticks``, ``max_price_ticks``,
        None for any); any that differ from the log's raise ``WalConfigError``. Where the
        log's settings are unknown (it holds no readable header) they are used, with the
        engine's defaults for the rest.

    Returns
    -------
    engine : Engine
    report : wal.recovery.RecoveryReport

    Raises
    ------
    WalCorruptionError, WalConfigError, FileNotFoundError
        As ``wal.recovery.LogContents``; ``WalConfigError`` also for other settings.
    WalError
        When the replayed engine does not end where the log's frames do.
    """
    log = recovery.LogContents(directory, salvage=salvage)
    asked = {name: value for name, value in (expected or {}).items() if value is not None}
    config = log.config if log.config is not None else engine_defaults(engine_class)._replace(**asked)
    config._replace(**asked).check_same(config, f"the WAL in {log.directory}")
    engine = engine_class(**config._asdict())
    if log.snapshot is not None:
        resting = log.snapshot_batch()
        if resting is not None:
            engine.match_columns(resting)
        engine._restore_counters(log.snapshot.input_seq, log.snapshot.trade_seq, log.snapshot.event_seq)
    for refused, columns in log.batches():
        if refused:
            engine._refuse_columns(columns)
        else:
            engine.match_columns(columns)
    report = log.report(config)
    if engine.next_seq != report.end_seq:
        raise WalError(
            f"replay of {log.directory} ended at input seq {engine.next_seq}, but its frames end at {report.end_seq}"
        )
    return engine, report


def recover(engine_class, directory, *, salvage, mode, expected, snapshot_every, snapshot_every_bytes,
            wal_options):
    """``Engine.recover``: lock, replay, repair the directory, attach a writer after the last frame.

    ``mode`` and the other WAL arguments must have passed ``checked_arguments``.
    """
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"no WAL directory {directory}")
    lock = DirectoryLock(directory)
    try:
        engine, report = replay(engine_class, directory, salvage=salvage, expected=expected)
        files = (wal_options or {}).get("files")
        append_to = recovery.repair(report, files)
        link = Durability(directory, lock, mode, report.config, report.log_id, engine.next_seq, append_to,
                          snapshot_every, snapshot_every_bytes, wal_options)
    except BaseException:
        lock.release()
        raise
    engine._attach_durability(link, report)
    return engine
