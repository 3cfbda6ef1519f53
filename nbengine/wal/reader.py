"""Read WAL segments: verify every header and frame, tell a torn tail from corruption.

The rules are those of docs/wal-format.md ("Reading"). Nothing here changes a file;
repairs (truncating a torn tail, setting a corrupt suffix aside) are in ``recovery``.
"""

import os
from typing import NamedTuple

import numpy as np
import pyarrow as pa

from .errors import WalCorruptionError
from .format import (
    FRAME_HEADER,
    RECORD_ORDERS,
    RECORD_REFUSED,
    SEGMENT_HEADER,
    SEGMENT_SUFFIX,
    checksum_seed,
    decode_frame_header,
    decode_segment_header,
    frame_crc_ok,
)


class Record(NamedTuple):
    """One verified frame."""

    segment: str
    offset: int
    first_seq: int
    rows: int
    payload: pa.Buffer
    record_type: int = RECORD_ORDERS


class TornTail(NamedTuple):
    """Where the newest segment stops being valid; ``offset`` None: its header is torn."""

    segment: str
    offset: int | None


def list_segments(directory):
    """Paths of the segment files in ``directory``, in log order (by the seq in the name)."""
    names = [
        name
        for name in os.listdir(directory)
        if name.endswith(SEGMENT_SUFFIX) and name[: -len(SEGMENT_SUFFIX)].isdigit()
    ]
    names.sort(key=lambda name: int(name[: -len(SEGMENT_SUFFIX)]))
    return [os.path.join(directory, name) for name in names]


def _is_zero(data, start):
    return not data[start:].any()


def scan_segment(path, *, newest):
    """Verify one segment.

    Parameters
    ----------
    path : str
        The segment file.
    newest : bool
        Whether it is the newest segment: only there can a tail be torn.

    Returns
    -------
    header : format.SegmentHeader or None
        None when the newest segment's header itself is torn.
    records : list of Record
        Every valid frame, in order.
    torn : TornTail or None
        Set when the newest segment ends in a torn frame or header.
    corruption : WalCorruptionError or None
        The first bad spot that cannot be a torn tail; ``records`` stop before it.
    """
    data = np.fromfile(path, dtype=np.uint8)
    buffer = pa.py_buffer(data)
    size = data.shape[0]
    header = decode_segment_header(data[: SEGMENT_HEADER.size], path)
    if header is None:
        if newest and (size < SEGMENT_HEADER.size or _is_zero(data, 0)):
            return None, [], TornTail(path, None), None
        return None, [], None, WalCorruptionError(path, 0, "bad segment header (magic or checksum)")
    seed = checksum_seed(header.log_id)
    expected_name = _segment_seq(path)
    if header.first_seq != expected_name:
        detail = f"header says first seq {header.first_seq}, the file name says {expected_name}"
        return header, [], None, WalCorruptionError(path, 0, detail)
    records = []
    offset = SEGMENT_HEADER.size
    next_seq = header.first_seq
    while offset < size:
        remaining = size - offset
        if remaining < FRAME_HEADER.size:
            if newest:
                return header, records, TornTail(path, offset), None
            return header, records, None, WalCorruptionError(path, offset, f"{remaining} stray bytes after the last frame")
        frame = decode_frame_header(data, offset, seed)
        if frame is None:
            if newest and _is_zero(data, offset):
                return header, records, TornTail(path, offset), None
            return header, records, None, WalCorruptionError(path, offset, "frame header checksum mismatch")
        if FRAME_HEADER.size + frame.length > remaining:
            if newest:
                return header, records, TornTail(path, offset), None
            detail = f"frame of {frame.length} payload bytes runs past the end of the segment"
            return header, records, None, WalCorruptionError(path, offset, detail)
        if not frame_crc_ok(data, offset, frame, seed):
            if newest and _is_zero(data, offset + FRAME_HEADER.size):
                return header, records, TornTail(path, offset), None
            return header, records, None, WalCorruptionError(path, offset, "frame checksum mismatch")
        if frame.record_type not in (RECORD_ORDERS, RECORD_REFUSED):
            return header, records, None, WalCorruptionError(path, offset, f"unknown record type {frame.record_type}")
        if frame.first_seq != next_seq or frame.rows < 1:
            detail = f"frame has seq {frame.first_seq} and {frame.rows} rows, expected seq {next_seq}"
            return header, records, None, WalCorruptionError(path, offset, detail)
        payload = buffer.slice(offset + FRAME_HEADER.size, frame.length)
        records.append(Record(path, offset, frame.first_seq, frame.rows, payload, frame.record_type))
        next_seq += frame.rows
        offset += FRAME_HEADER.size + frame.length
    return header, records, None, None


def _segment_seq(path):
    return int(os.path.basename(path)[: -len(SEGMENT_SUFFIX)])


def _uncovered(segments, start_seq):
    """Drop segments a snapshot at ``start_seq`` fully covers (left by an interrupted prune).

    A segment is covered when the next one starts at or below ``start_seq``: every frame
    it holds ends before that. Such segments are not read at all.
    """
    return [path for path, after in zip(segments, segments[1:] + [None]) if after is None or _segment_seq(after) > start_seq]


class WalReader:
    """Every valid record of a WAL directory from ``start_seq`` on, segment by segment.

    Iterate ``records()``; afterwards ``config``, ``log_id``, ``end_seq``, ``torn`` and
    (with ``salvage``) ``corruption`` describe what was found.

    Parameters
    ----------
    directory : str
    start_seq : int
        Records ending at or before it are verified but not yielded (a snapshot covers
        them). Without a snapshot it is 0 and the log must start at seq 0.
    salvage : bool
        False: the first corruption raises ``WalCorruptionError``. True: iteration
        stops before it and ``corruption`` holds the error.
    log_id : bytes, optional
        The log's identity (the snapshot's); by default the first segment's. A segment
        of another log is corruption.
    """

    def __init__(self, directory, *, start_seq=0, salvage=False, log_id=None):
        self.directory = str(directory)
        self.start_seq = start_seq
        self.salvage = salvage
        self.segments = _uncovered(list_segments(self.directory), start_seq)
        self.log_id = log_id
        self._log_id_owner = "the snapshot" if log_id is not None else None
        self.config = None
        self.end_seq = start_seq
        self.torn = None
        self.corruption = None

    def records(self):
        """Yield each ``Record`` whose rows start at or after ``start_seq``, in order."""
        expected = None
        for index, path in enumerate(self.segments):
            newest = index == len(self.segments) - 1
            header, records, torn, corruption = scan_segment(path, newest=newest)
            if header is not None:
                if self.config is None:
                    self.config = header.config
                elif header.config != self.config:
                    corruption = corruption or WalCorruptionError(
                        path, 0, f"segment settings {header.config} differ from earlier segments' {self.config}"
                    )
                    records = []
                if expected is None and header.first_seq > self.start_seq:
                    detail = f"the log starts at seq {header.first_seq}, but seqs from {self.start_seq} are needed"
                    corruption = WalCorruptionError(path, 0, detail)
                    records = []
                elif expected is not None and header.first_seq != expected:
                    detail = f"segment starts at seq {header.first_seq}, expected {expected} (a segment or frames are missing)"
                    corruption = WalCorruptionError(path, 0, detail)
                    records = []
                elif not records and not newest and corruption is None:
                    corruption = WalCorruptionError(path, SEGMENT_HEADER.size, "a segment other than the newest holds no frame")
                if self.log_id is None:
                    self.log_id, self._log_id_owner = header.log_id, os.path.basename(path)
                elif header.log_id != self.log_id:
                    detail = (
                        f"segment of another log (log id {header.log_id.hex()}; "
                        f"{self._log_id_owner} has {self.log_id.hex()})"
                    )
                    corruption = WalCorruptionError(path, 0, detail)
                    records = []
            for record in records:
                end = record.first_seq + record.rows
                if record.first_seq < self.start_seq < end:
                    detail = f"frame [{record.first_seq}, {end}) straddles the snapshot seq {self.start_seq}"
                    corruption = WalCorruptionError(path, record.offset, detail)
                    break
                expected = end
                if end > self.start_seq:
                    self.end_seq = end
                    yield record
            if header is not None and expected is None:
                expected = header.first_seq
            if corruption is not None:
                if not self.salvage:
                    raise corruption
                self.corruption = corruption
                return
            self.torn = torn


__all__ = ["Record", "TornTail", "WalReader", "list_segments", "scan_segment"]
