"""Rebuild an engine from a WAL directory: newest snapshot, then every later frame.

``replay`` only reads; ``repair`` makes the directory appendable again (truncates a
torn tail, sets a corrupt suffix aside when salvaging). ``Engine.recover`` does both and
attaches a writer.
"""

import inspect
import itertools
import os
import time
from typing import NamedTuple

import numpy as np

from ..codes import GTC, LIMIT
from ..schema import prepare
from .errors import WalConfigError, WalError
from .files import FileLayer, copy_file_durably, free_name
from .format import SEGMENT_HEADER, WalConfig, decode_payload, new_log_id
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


def restore_snapshot(engine, snapshot):
    """Load a snapshot into a fresh engine: resting orders as GTC LIMIT rows in priority order, then the counters."""
    orders = snapshot.orders
    n = orders.num_rows
    columns = {name: orders.column(name).to_numpy() for name in ("ts", "order_id", "symbol", "side", "price", "qty", "account")}
    columns["kind"] = np.full(n, LIMIT, dtype=np.int8)
    columns["tif"] = np.full(n, GTC, dtype=np.int8)
    if n:
        engine.match_columns(prepare(columns))
    engine._set_counters(snapshot.input_seq, snapshot.trade_seq, snapshot.event_seq)


def engine_defaults(engine_class):
    """The default ``stp``, ``max_span_ticks``, ``max_price_ticks`` of ``engine_class``."""
    defaults = inspect.signature(engine_class).parameters
    return tuple(defaults[name].default for name in WalConfig._fields)


def replay(engine_class, directory, *, salvage=False, expected=None):
    """Read, verify and replay a WAL directory into a new engine without a WAL.

    Parameters
    ----------
    engine_class : type
        ``Engine`` (passed in to keep this module free of an import cycle).
    directory : str
    salvage : bool
        Keep the valid prefix instead of raising at corruption.
    expected : dict, optional
        Settings the caller asks for (``stp``, ``max_span_ticks``, ``max_price_ticks``);
        any that differ from the log's raise ``WalConfigError``.

    Returns
    -------
    engine : Engine
    report : RecoveryReport
    """
    start = time.perf_counter()
    directory = str(directory)
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"no WAL directory {directory}")
    snapshot = load_latest(directory)
    start_seq = snapshot.input_seq if snapshot is not None else 0
    reader = WalReader(directory, start_seq=start_seq, salvage=salvage, log_id=None if snapshot is None else snapshot.log_id)
    records = reader.records()
    first = next(records, None)
    config = snapshot.config if snapshot is not None else reader.config
    if config is None and reader.torn is None and reader.corruption is None:
        raise WalConfigError(f"{directory} holds no WAL segment and no snapshot")
    if config is None:  # a segment torn while being created, or (salvage) a bad first header: settings unknown
        config = WalConfig(*engine_defaults(engine_class))
        config = config._replace(**{k: v for k, v in (expected or {}).items() if v is not None})
    if reader.config is not None and reader.config != config:
        config.check_same(reader.config, f"{directory}: the snapshot")
    if expected:
        asked = config._replace(**{k: v for k, v in expected.items() if v is not None})
        asked.check_same(config, f"the WAL in {directory}")
    engine = engine_class(**config._asdict())
    if snapshot is not None:
        restore_snapshot(engine, snapshot)
    frames = 0
    for record in itertools.chain([] if first is None else [first], records):
        engine.match_columns(decode_payload(record.payload))
        frames += 1
    report = RecoveryReport(
        directory,
        config,
        reader.log_id if reader.log_id is not None else new_log_id(),
        None if snapshot is None else snapshot.input_seq,
        reader.end_seq,
        frames,
        reader.end_seq - start_seq,
        reader.torn,
        reader.corruption,
        time.perf_counter() - start,
    )
    if engine.next_seq != report.end_seq:
        raise WalError(
            f"replay of {directory} ended at input seq {engine.next_seq}, but its frames end at {report.end_seq}"
        )
    return engine, report


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
