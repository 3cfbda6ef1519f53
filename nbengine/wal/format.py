"""Byte layout of WAL segments and frames (docs/wal-format.md), encode and decode.

Everything little-endian. A segment file is one ``SEGMENT_HEADER`` followed by frames;
a frame is a ``FRAME_HEADER`` followed by its payload, the Arrow IPC record-batch
message (``schema.ORDERS_SCHEMA``) of one input batch or of consecutive single orders
that the writer joined. Sizes are multiples of 8 so
every payload starts 8-byte aligned in the file and decodes to aligned numpy columns.
"""

import functools
import itertools
import os
import struct
from typing import NamedTuple

import numpy as np
import pyarrow as pa
from crc32c import crc32c

from ..codes import STP_MODES
from ..schema import ORDER_DTYPES, ORDERS_SCHEMA, SCHEMA_VERSION, prepare
from ..state import OrderColumns
from .errors import WalConfigError

FORMAT_VERSION = 2
"""Bumped on any change of this layout or of ``ORDERS_SCHEMA``; readers refuse others."""

SEGMENT_MAGIC = b"NBENGWAL"
SEGMENT_SUFFIX = ".wal"
SEGMENT_HEADER = struct.Struct("<8sIIqqq16sII")
"""magic, format version, stp code, max_span_ticks, max_price_ticks, first seq, log id, reserved (0), CRC32C of the bytes before it."""

_VERSION_1_HEADER = struct.Struct("<8sIIqqqII")
"""The segment header of format version 1 (no log id), recognised only to refuse it by name."""

LOG_ID_BYTES = 16
"""Size of a log's identity: random bytes drawn when the log is created."""

FRAME_HEADER = struct.Struct("<IIIBxxxqII")
"""crc (log id + bytes 4.. of header + payload), header_crc (log id + bytes 8..32), payload length, type, first seq, rows, reserved (0)."""

RECORD_ORDERS = 1
"""A batch of input orders, replayed by matching them. Type 0 is never written (zeroed bytes)."""

RECORD_REFUSED = 2
"""Input orders the engine refused for its memory budget: replayed as those refusals (a
``REJECTED`` / ``MEMORY_BUDGET`` event each, an input seq each), never matched."""

_STP_NAMES = {code: name for name, code in STP_MODES.items()}


class WalConfig(NamedTuple):
    """The engine settings that change matching; every segment header carries them."""

    stp: str
    max_span_ticks: int
    max_price_ticks: int

    def check_same(self, other, where):
        """Raise ``WalConfigError`` naming each setting that differs from ``other``."""
        diffs = [
            f"{name}: WAL has {theirs!r}, engine has {mine!r}"
            for name, mine, theirs in zip(self._fields, self, other)
            if mine != theirs
        ]
        if diffs:
            raise WalConfigError(f"{where} was written under other matching settings ({'; '.join(diffs)})")


def segment_name(first_seq):
    """File name of the segment whose first frame has input sequence ``first_seq`` (Kafka style)."""
    return f"{first_seq:020d}{SEGMENT_SUFFIX}"


def new_log_id():
    """A fresh log identity: ``LOG_ID_BYTES`` random bytes."""
    return os.urandom(LOG_ID_BYTES)


def checksum_seed(log_id):
    """The CRC32C of ``log_id``: the running value every frame checksum of that log starts from.

    Both frame checksums are CRC32C of the log id followed by the checked bytes, so a frame
    copied from another log fails them even where its bytes are otherwise valid.
    """
    return crc32c(log_id)


def encode_segment_header(config, first_seq, log_id):
    """The ``SEGMENT_HEADER.size`` bytes that open a segment of the log ``log_id``."""
    fields = (
        SEGMENT_MAGIC,
        FORMAT_VERSION,
        STP_MODES[config.stp],
        config.max_span_ticks,
        config.max_price_ticks,
        first_seq,
        log_id,
        0,
    )
    body = SEGMENT_HEADER.pack(*fields, 0)[:-4]
    return body + struct.pack("<I", crc32c(body))


class SegmentHeader(NamedTuple):
    """A decoded segment header."""

    config: WalConfig
    first_seq: int
    log_id: bytes


def _intact(data, layout):
    """True when ``data`` is long enough for ``layout`` and its last field is the CRC32C of the bytes before it."""
    if len(data) < layout.size:
        return False
    return crc32c(bytes(data[: layout.size - 4])) == layout.unpack_from(data)[-1]


def decode_segment_header(data, where):
    """Decode and verify a segment header.

    Returns
    -------
    SegmentHeader or None
        None when the checksum or magic does not match (the caller decides whether
        that is a torn header or corruption).

    Raises
    ------
    WalConfigError
        When the header is intact but of another format version (one of version 1,
        or of a later version that kept this header layout).
    """
    if len(data) < 12 or bytes(data[:8]) != SEGMENT_MAGIC:
        return None
    version = struct.unpack_from("<I", data, 8)[0]
    if version != FORMAT_VERSION:
        if (version == 1 and _intact(data, _VERSION_1_HEADER)) or (version > 1 and _intact(data, SEGMENT_HEADER)):
            raise WalConfigError(
                f"{where}: WAL format version {version}, this nbengine reads version {FORMAT_VERSION} only "
                "(open it with the nbengine release that wrote it, or start a new log)"
            )
        return None
    if not _intact(data, SEGMENT_HEADER):
        return None
    _, _, stp, span, max_price, first_seq, log_id, _, _ = SEGMENT_HEADER.unpack_from(data)
    if stp not in _STP_NAMES:
        return None
    return SegmentHeader(WalConfig(_STP_NAMES[stp], span, max_price), first_seq, log_id)


def encode_frame_header(payload, first_seq, rows, seed, record_type=RECORD_ORDERS):
    """The ``FRAME_HEADER.size`` bytes in front of ``payload`` (a buffer whose size is a multiple of 8).

    ``seed`` is ``checksum_seed`` of the log's id; ``record_type`` ``RECORD_ORDERS`` or ``RECORD_REFUSED``.
    """
    tail = struct.pack("<IBxxxqII", len(payload), record_type, first_seq, rows, 0)
    header_crc = crc32c(tail, seed)
    crc = crc32c(payload, crc32c(struct.pack("<I", header_crc) + tail, seed))
    return struct.pack("<II", crc, header_crc) + tail


class FrameHeader(NamedTuple):
    """A decoded frame header (its own checksum already verified)."""

    crc: int
    length: int
    record_type: int
    first_seq: int
    rows: int


def decode_frame_header(data, offset, seed):
    """The frame header at ``offset`` of ``data``, or None when its ``header_crc`` fails under ``seed``."""
    crc, header_crc, length, record_type, first_seq, rows, _ = FRAME_HEADER.unpack_from(data, offset)
    if crc32c(bytes(data[offset + 8 : offset + FRAME_HEADER.size]), seed) != header_crc:
        return None
    return FrameHeader(crc, length, record_type, first_seq, rows)


def frame_crc_ok(data, offset, header, seed):
    """True when the frame's ``crc`` matches the log id (``seed``), bytes 4.. of its header and its payload."""
    start = offset + 4
    end = offset + FRAME_HEADER.size + header.length
    return crc32c(memoryview(data)[start:end], seed) == header.crc


def encode_payload(columns):
    """The Arrow IPC record-batch message of prepared order columns (``state.OrderColumns``).

    Arrays are made from the column buffers directly (no copy, no per-array conversion
    cost); ``serialize`` copies once into the message.
    """
    n = columns.ts.shape[0]
    arrays = [
        pa.Array.from_buffers(field.type, n, [None, pa.py_buffer(column)])
        for field, column in zip(ORDERS_SCHEMA, columns)
    ]
    payload = pa.RecordBatch.from_arrays(arrays, schema=ORDERS_SCHEMA).serialize()
    if payload.size % 8:
        raise RuntimeError(f"pyarrow made an IPC message of {payload.size} bytes; the WAL format needs a multiple of 8")
    return payload


MAX_ROWS_PER_FRAME = 256
"""Most single orders ``encode_rows_payload`` takes: the writer splits longer runs."""

ROW_BYTES = 72
"""What one queued single order counts against ``max_queued_bytes``: its values padded to 8 bytes each."""


@functools.lru_cache(maxsize=MAX_ROWS_PER_FRAME)
def _rows_layout(rows):
    """``(prefix, body)`` of a message of ``rows`` orders: its metadata bytes and the ``struct.Struct`` of its buffers.

    The metadata of a message without nulls depends only on its row count; the body is
    each column's values, padded to 8 bytes, in schema order. A probe with distinct
    values checks both against pyarrow's own encoding.
    """
    codes = {1: "b", 4: "i", 8: "q"}
    body = struct.Struct(
        "<" + "".join(f"{rows}{codes[dtype.itemsize]}{-rows * dtype.itemsize % 8}x" for dtype in _ORDER_DTYPES)
    )
    zeros = OrderColumns(*(np.zeros(rows, dtype=dtype) for dtype in _ORDER_DTYPES))
    prefix = encode_payload(zeros).to_pybytes()[: -body.size]
    probe = [[(-1) ** row * ((7 * column + row) % 127 + 1) for column in range(len(_ORDER_DTYPES))] for row in range(rows)]
    columns = OrderColumns(*(np.array(values, dtype=dtype) for values, dtype in zip(zip(*probe), _ORDER_DTYPES)))
    if prefix + body.pack(*itertools.chain.from_iterable(zip(*probe))) != encode_payload(columns).to_pybytes():
        raise RuntimeError(f"pyarrow encodes a message of {rows} orders unlike the WAL's cached layout")
    return prefix, body


@functools.lru_cache(maxsize=1)
def ring_frame_layout():
    """The message layouts of 1 … ``MAX_ROWS_PER_FRAME`` orders as arrays, for the writer's GIL-free loop (``drain``).

    Returns ``(prefixes, prefix_sizes, itemsizes)``: ``prefixes[rows, :prefix_sizes[rows]]``
    is the metadata of a message of ``rows`` orders (``_rows_layout``; row 0 unused), uint8
    and int64; ``itemsizes`` the byte width of each ``ORDERS_SCHEMA`` column, int64.
    """
    metadata = [b""] + [_rows_layout(rows)[0] for rows in range(1, MAX_ROWS_PER_FRAME + 1)]
    prefixes = np.zeros((len(metadata), max(map(len, metadata))), dtype=np.uint8)
    for rows, prefix in enumerate(metadata):
        prefixes[rows, : len(prefix)] = np.frombuffer(prefix, dtype=np.uint8)
    prefix_sizes = np.array([len(prefix) for prefix in metadata], dtype=np.int64)
    itemsizes = np.array([dtype.itemsize for dtype in _ORDER_DTYPES], dtype=np.int64)
    if not set(itemsizes.tolist()) <= {1, 4, 8}:
        raise RuntimeError(f"ORDERS_SCHEMA has a column of {sorted(set(itemsizes.tolist()))} bytes; the WAL loop writes 1, 4 or 8")
    return prefixes, prefix_sizes, itemsizes


def check_row(row):
    """Raise ``OverflowError`` when a value of ``row`` (ints in ``ORDERS_SCHEMA`` order) does not fit its column's dtype."""
    try:
        _rows_layout(1)[1].pack(*row)
    except struct.error as exc:
        raise OverflowError(f"an order field does not fit its column's dtype ({exc})") from None


def encode_rows_payload(rows):
    """``encode_payload`` of up to ``MAX_ROWS_PER_FRAME`` orders given as tuples of ints in ``ORDERS_SCHEMA`` order.

    Fills the cached layout of that many rows, without building arrays; the values must
    fit their dtypes (``check_row``).
    """
    prefix, body = _rows_layout(len(rows))
    return prefix + body.pack(*itertools.chain.from_iterable(zip(*rows)))


def encode_ring_payload(ring, slot, rows):
    """``encode_payload`` of ``rows`` orders held in ``ring[slot:slot + rows]`` (``state.new_ring`` layout).

    The WAL writer's encoding of single orders: the cached message layout of that many
    rows (``_rows_layout``) filled column by column from the ring, without a Python
    object per order. ``rows`` is at most ``MAX_ROWS_PER_FRAME``; the values fit their
    dtypes (the kernel checked them).
    """
    prefix = _rows_layout(rows)[0]
    block = ring[slot : slot + rows]
    parts = [prefix]
    for field, dtype in enumerate(_ORDER_DTYPES):
        parts.append(block[:, field].astype(dtype).tobytes())
        pad = -rows * dtype.itemsize % 8
        if pad:
            parts.append(bytes(pad))
    return b"".join(parts)


def decode_payload(buffer):
    """Prepared order columns from a payload (a ``pyarrow.Buffer``; zero copy)."""
    return prepare(pa.ipc.read_record_batch(buffer, ORDERS_SCHEMA))


_ORDER_DTYPES = list(ORDER_DTYPES.values())


if SCHEMA_VERSION != "1":
    raise RuntimeError(f"orders schema version {SCHEMA_VERSION}: a new orders schema needs a new WAL FORMAT_VERSION")
if _rows_layout(1)[1].size != ROW_BYTES:
    raise RuntimeError(f"one order's values take {_rows_layout(1)[1].size} bytes, ROW_BYTES says {ROW_BYTES}")


__all__ = [
    "FORMAT_VERSION",
    "FRAME_HEADER",
    "FrameHeader",
    "LOG_ID_BYTES",
    "MAX_ROWS_PER_FRAME",
    "RECORD_ORDERS",
    "RECORD_REFUSED",
    "ROW_BYTES",
    "SEGMENT_HEADER",
    "SEGMENT_MAGIC",
    "SEGMENT_SUFFIX",
    "SegmentHeader",
    "WalConfig",
    "check_row",
    "checksum_seed",
    "decode_frame_header",
    "decode_payload",
    "decode_segment_header",
    "encode_frame_header",
    "encode_payload",
    "encode_ring_payload",
    "encode_rows_payload",
    "encode_segment_header",
    "frame_crc_ok",
    "new_log_id",
    "ring_frame_layout",
    "segment_name",
]
