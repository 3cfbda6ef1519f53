"""Snapshots: every book's resting orders and the counters, written atomically.

Layout and crash safety are in docs/wal-format.md ("Snapshots"). A snapshot is an
Arrow IPC file of ``schema.RESTING_SCHEMA`` whose schema metadata holds the settings and
counters; the ``SNAPSHOT`` pointer names the newest one with its size and CRC32C.
"""

import json
import os
from typing import NamedTuple

import pyarrow as pa
from crc32c import crc32c

from ..schema import RESTING_SCHEMA
from .errors import WalConfigError, WalCorruptionError
from .files import write_file_durably
from .format import FORMAT_VERSION, WalConfig
from .reader import list_segments

POINTER_NAME = "SNAPSHOT"
_PREFIX = "snapshot-"
_SUFFIX = ".arrow"


class Snapshot(NamedTuple):
    """What a snapshot holds."""

    config: WalConfig
    log_id: bytes
    input_seq: int
    trade_seq: int
    event_seq: int
    orders: pa.Table


def snapshot_name(input_seq):
    """File name of the snapshot covering input seqs ``[0, input_seq)``."""
    return f"{_PREFIX}{input_seq:020d}{_SUFFIX}"


def _encode(snapshot):
    metadata = {
        "nbengine.wal_format_version": FORMAT_VERSION,
        "nbengine.stp": snapshot.config.stp,
        "nbengine.max_span_ticks": snapshot.config.max_span_ticks,
        "nbengine.max_price_ticks": snapshot.config.max_price_ticks,
        "nbengine.log_id": snapshot.log_id.hex(),
        "nbengine.input_seq": snapshot.input_seq,
        "nbengine.trade_seq": snapshot.trade_seq,
        "nbengine.event_seq": snapshot.event_seq,
    }
    schema = RESTING_SCHEMA.with_metadata(
        {**RESTING_SCHEMA.metadata, **{k.encode(): str(v).encode() for k, v in metadata.items()}}
    )
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, schema) as writer:
        writer.write_table(snapshot.orders.cast(schema))
    return sink.getvalue()


def write_snapshot(files, directory, snapshot):
    """Write ``snapshot`` and point ``SNAPSHOT`` at it, each durably (temp, fsync, rename, fsync dir).

    Returns
    -------
    str
        The snapshot file's path.
    """
    data = _encode(snapshot)
    name = snapshot_name(snapshot.input_seq)
    path = write_file_durably(files, directory, name, data)
    pointer = {"file": name, "input_seq": snapshot.input_seq, "bytes": data.size, "crc32c": crc32c(data)}
    write_file_durably(files, directory, POINTER_NAME, (json.dumps(pointer) + "\n").encode())
    return path


def prune(files, directory, input_seq):
    """Delete what the snapshot at ``input_seq`` covers: segments named below it, older snapshots, temp files.

    The writer has already started segment ``input_seq``, so every segment named below
    it holds only frames below ``input_seq``.
    """
    keep = snapshot_name(input_seq)
    doomed = [path for path in list_segments(directory) if int(os.path.basename(path).split(".")[0]) < input_seq]
    doomed += [
        os.path.join(directory, name)
        for name in os.listdir(directory)
        if (name.startswith(_PREFIX) and name != keep) or name.endswith(".tmp")
    ]
    for path in doomed:
        files.remove(path)
    if doomed:
        files.fsync_dir(directory)


def load_latest(directory):
    """The snapshot ``SNAPSHOT`` points at, verified, or None when there is no pointer.

    Raises
    ------
    WalCorruptionError
        When the snapshot file is missing, of another size, or fails its CRC32C.
    WalConfigError
        When it was written by another format version.
    """
    pointer_path = os.path.join(directory, POINTER_NAME)
    if not os.path.exists(pointer_path):
        return None
    with open(pointer_path, "rb") as f:
        try:
            pointer = json.loads(f.read())
        except ValueError as exc:
            raise WalCorruptionError(pointer_path, 0, f"unreadable snapshot pointer ({exc})") from None
    path = os.path.join(directory, pointer["file"])
    if not os.path.exists(path):
        raise WalCorruptionError(path, 0, "the snapshot named by SNAPSHOT is missing")
    with open(path, "rb") as f:
        data = f.read()
    if len(data) != pointer["bytes"] or crc32c(data) != pointer["crc32c"]:
        raise WalCorruptionError(path, 0, "snapshot size or CRC32C differs from the SNAPSHOT pointer")
    table = pa.ipc.open_file(pa.py_buffer(data)).read_all()
    meta = {k.decode(): v.decode() for k, v in table.schema.metadata.items()}
    version = int(meta["nbengine.wal_format_version"])
    if version != FORMAT_VERSION:
        raise WalConfigError(
            f"{path}: WAL format version {version}, this nbengine reads version {FORMAT_VERSION} only "
            "(open it with the nbengine release that wrote it, or start a new log)"
        )
    config = WalConfig(meta["nbengine.stp"], int(meta["nbengine.max_span_ticks"]), int(meta["nbengine.max_price_ticks"]))
    return Snapshot(
        config,
        bytes.fromhex(meta["nbengine.log_id"]),
        int(meta["nbengine.input_seq"]),
        int(meta["nbengine.trade_seq"]),
        int(meta["nbengine.event_seq"]),
        table,
    )


__all__ = ["POINTER_NAME", "Snapshot", "load_latest", "prune", "snapshot_name", "write_snapshot"]
