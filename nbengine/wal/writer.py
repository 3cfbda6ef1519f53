"""The WAL writer thread: group commit of queued frames, bounded hand-off, poisoning.

The sequencer (the thread holding the engine lock) appends frames in sequence order;
one writer thread takes everything queued, writes and syncs it (RocksDB's group commit,
no artificial delay) and then advances ``durable_seq``, which releases every waiting
caller whose frames are now durable. The first failed write or fsync poisons the writer
for good (no retry).

Single orders (the ring that ``kernels.match.match_row_logged`` appends to) are written
by a GIL-free loop, ``drain.drain``: while nothing else is queued the writer thread never
takes the GIL, so the thread that matches (holding it) and the thread that syncs never
wait for each other. Batch frames, rotations and ``close`` go through Python
(``FileLayer.write_durably``); their callers encode frame headers (checksums included)
when they queue a frame, so the writer's own work between two syncs stays small. Callers
wait on the durable watermark with the GIL released (``drain.wait_for``: a short poll,
then a futex the writer wakes after each durable write).
"""

import collections
import os
import sys
import threading

import numpy as np

from .._jit import FUTEX_SYSCALL
from ..state import (
    IDLE_PYTHON,
    Q_ATTN,
    Q_DURABLE,
    Q_END_SEQ,
    Q_ERROR,
    Q_HEAD,
    Q_IDLE,
    Q_SYNCS,
    Q_TAIL,
    R_SEQ,
    new_ring,
)
from . import drain as native
from .errors import WalError, WalPoisonedError
from .files import FileLayer
from .format import (
    MAX_ROWS_PER_FRAME,
    RECORD_ORDERS,
    SEGMENT_HEADER,
    checksum_seed,
    encode_frame_header,
    encode_ring_payload,
    encode_segment_header,
    ring_frame_layout,
    segment_name,
)

DEFAULT_SEGMENT_BYTES = 64 << 20
DEFAULT_MAX_QUEUED_FRAMES = 65_536
DEFAULT_MAX_QUEUED_BYTES = 64 << 20
SPIN_NS = 250_000
"""How long a caller waiting for the writer polls before it sleeps on a futex: about one fsync of a fast disk."""
WRITER_SPIN_NS = 50_000
"""How long the writer's GIL-free loop polls an empty ring before it sleeps on a futex."""
WAIT_SLICE_NS = 100_000_000
"""Waits run in slices of this length, so that Python sees signals (Ctrl-C) in between."""


class _Rotate:
    """Queue item: close the open segment and start one named ``first_seq``."""

    __slots__ = ("first_seq",)

    def __init__(self, first_seq):
        self.first_seq = first_seq


class _Run:
    """Work item of the writer thread: ``count`` ring entries from entry number ``entry`` (seqs from ``first_seq``)."""

    __slots__ = ("entry", "count", "first_seq")

    def __init__(self, entry, count, first_seq):
        self.entry, self.count, self.first_seq = entry, count, first_seq


class WalWriter:
    """Appends frames to segments in ``directory`` from a writer thread.

    Parameters
    ----------
    directory : str
        The WAL directory (it exists).
    config : format.WalConfig
        Matching settings written into every segment header.
    log_id : bytes
        The log's identity (``format.new_log_id()`` for a new log, the recovered one's
        otherwise): in every segment header, and covered by every frame checksum.
    next_seq : int
        Input sequence number of the first frame to be appended.
    append_to : str, optional
        Path of an intact newest segment to go on appending to (after recovery); by
        default a new segment named ``next_seq`` is created.
    group : bool
        True: each fsync covers every frame queued so far (``group`` and ``async``).
        False: one frame per write + fsync (``sync``).
    interval_ns : int
        Least time between the starts of two writes of the GIL-free loop (``async``: fewer
        syncs disturb the matching thread less); 0 writes as soon as the last write ended.
    segment_bytes : int
        A new segment starts once the open one holds this many bytes.
    max_queued_frames, max_queued_bytes : int
        Bound on frames queued or being written; ``append`` blocks while it is reached.
        ``max_queued_frames`` is also the capacity of the ring of single orders
        (``ring``): a full ring makes the matching thread wait.
    files : FileLayer, optional
        File operations (tests inject faults here).
    """

    def __init__(
        self,
        directory,
        config,
        log_id,
        next_seq,
        *,
        append_to=None,
        group=True,
        interval_ns=0,
        segment_bytes=DEFAULT_SEGMENT_BYTES,
        max_queued_frames=DEFAULT_MAX_QUEUED_FRAMES,
        max_queued_bytes=DEFAULT_MAX_QUEUED_BYTES,
        files=None,
    ):
        if max_queued_frames < 1 or max_queued_bytes < 1:
            raise ValueError("max_queued_frames and max_queued_bytes must be >= 1")
        self.directory = str(directory)
        self.config = config
        self.log_id = bytes(log_id)
        self._seed = checksum_seed(self.log_id)
        self.group = group
        self.segment_bytes = int(segment_bytes)
        self.max_queued_frames = int(max_queued_frames)
        self.max_queued_bytes = int(max_queued_bytes)
        self.files = files if files is not None else FileLayer()
        # The GIL-free loop (``drain``) writes with libc calls, so it serves only the default
        # file layer; an injected one (tests inject faults) gets every write through Python.
        # Its futexes are 32-bit words inside int64 fields: little-endian Linux only.
        self._native = type(self.files) is FileLayer and FUTEX_SYSCALL != -1 and sys.byteorder == "little"
        self._settings = np.zeros(native.W_FIELDS, dtype=np.int64)
        self._settings[native.W_SEGMENT_BYTES] = self.segment_bytes
        self._settings[native.W_GROUP] = int(group)
        self._settings[native.W_INTERVAL_NS] = int(interval_ns)
        self._settings[native.W_SPIN_NS] = WRITER_SPIN_NS
        if self._native:
            prefixes, prefix_sizes, itemsizes = ring_frame_layout()
            self._drain_args = (
                self._settings, np.zeros(native.buffer_bytes(prefix_sizes, itemsizes), dtype=np.uint8),
                prefixes, prefix_sizes, itemsizes, self._seed, native.crc32c_table(), np.zeros(2, dtype=np.int64),
            )
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._writer_idle = False
        self._queue = collections.deque()
        self._queued_frames = 0
        self._queued_bytes = 0
        self._appended_seq = next_seq
        self.ring, self.ring_ctl = new_ring(self.max_queued_frames, next_seq)
        self._rotated_seq = -1
        self._error = None
        self._closing = False
        if append_to is None:
            self._open_new_segment(next_seq)
        else:
            self._set_fd(self.files.open_append(append_to))
            self._segment_first_seq = int(os.path.basename(append_to).split(".")[0])
            self._segment_size = os.path.getsize(append_to)
        if self._native:
            self._load_native()
        self._thread = threading.Thread(target=self._run, name="nbengine-wal-writer", daemon=True)
        self._thread.start()

    def _load_native(self):
        """Call each GIL-free function once, so that loading its compiled code (about 10 ms) is done here,
        not on the first order's way to the disk. Changes nothing: ``drain`` returns at once on ``Q_ATTN``."""
        ctl = self.ring_ctl
        native.attention(ctl)
        native.drain(self.ring, ctl, *self._drain_args)
        ctl[Q_ATTN] = 0
        native.wake_writer(ctl)
        native.notify(ctl)
        native.wait_for(ctl, Q_DURABLE, 0, 0, 0, np.zeros(2, dtype=np.int64))

    # -- caller side ------------------------------------------------------------------

    @property
    def error(self):
        """The exception (an ``OSError`` in practice) that poisoned the writer, or None."""
        return self._error

    @property
    def durable_seq(self):
        """Every frame ending at or before this input seq is durable."""
        return int(self.ring_ctl[Q_DURABLE])

    @property
    def fsync_count(self):
        """Durable writes (each one write + sync) made so far."""
        return int(self.ring_ctl[Q_SYNCS])

    @property
    def _segment_size(self):
        """Bytes in the open segment, header included (in ``_settings``, which ``drain`` updates)."""
        return int(self._settings[native.W_SEGMENT_SIZE])

    @_segment_size.setter
    def _segment_size(self, size):
        self._settings[native.W_SEGMENT_SIZE] = size

    def _set_fd(self, fd):
        self._fd = fd
        self._settings[native.W_FD] = -1 if fd is None else fd

    @property
    def queued_frames(self):
        """Frames queued or being written (bounded by ``max_queued_frames``), plus single orders in the ring."""
        ctl = self.ring_ctl
        return self._queued_frames + int(ctl[Q_HEAD] - ctl[Q_TAIL])

    def _next_seq(self):
        """The input seq the next frame, order or rotation must start at. Lock held."""
        return max(self._appended_seq, int(self.ring_ctl[Q_END_SEQ]))

    @property
    def queued_bytes(self):
        """Payload bytes queued or being written (bounded by ``max_queued_bytes``)."""
        return self._queued_bytes

    def append(self, payload, first_seq, rows, record_type=RECORD_ORDERS):
        """Queue one frame; block while the queue is full.

        Parameters
        ----------
        payload : pyarrow.Buffer or bytes
            The Arrow IPC message (``format.encode_payload``).
        first_seq, rows : int
            The batch's first input seq and row count; frames must come gap-free.
        record_type : int
            ``format.RECORD_ORDERS``, or ``format.RECORD_REFUSED`` for orders the engine
            refused for its memory budget.

        Returns
        -------
        int
            ``first_seq + rows``: pass it to ``wait_durable``.

        Raises
        ------
        WalPoisonedError
            When a write or fsync has failed; the frame is not queued.
        """
        header = encode_frame_header(payload, first_seq, rows, self._seed, record_type)  # here, not in the writer thread
        return self._enqueue((header, payload, first_seq, rows), len(payload))

    def append_order(self, row, seq):
        """Append one order to the ring from Python; the writer joins consecutive orders into one frame.

        The engine's scalar path appends in its kernel (``kernels.match.match_row_logged``);
        this is the same append from Python. Blocks while the ring is full. A group commit of
        single orders writes one frame of k rows (936 bytes for 8) instead of k frames of
        632 bytes. ``sync`` takes one order per write, so there every order is a frame of
        its own.

        Parameters
        ----------
        row : tuple of int
            The order's values in ``ORDERS_SCHEMA`` order, each fitting its dtype
            (``format.check_row``).
        seq : int
            Its input seq.

        Returns and raises as ``append``.
        """
        ring, ctl = self.ring, self.ring_ctl
        if ctl[Q_HEAD] - ctl[Q_TAIL] >= ring.shape[0]:
            self.wait_ring_space()
        with self._lock:
            self.raise_if_unusable()
            if seq != self._next_seq():
                raise ValueError(f"order has seq {seq}, expected {self._next_seq()}")
            head = int(ctl[Q_HEAD])
            ring[head % ring.shape[0], :R_SEQ] = row
            ring[head % ring.shape[0], R_SEQ] = seq
            ctl[Q_END_SEQ] = seq + 1
            ctl[Q_HEAD] = head + 1
            native.wake_writer(ctl)
            self._cond.notify_all()
        return seq + 1

    def wait_ring_space(self):
        """Block while the ring is full (the kernel returned ``RING_FULL``); raise once poisoned or closed.

        Waits with the GIL released (``drain.wait_for`` on ``Q_TAIL``).
        """
        ring, ctl = self.ring, self.ring_ctl
        if not self._wait_for(Q_TAIL, int(ctl[Q_HEAD]) + 1 - ring.shape[0], None):
            self._raise_failed()
        with self._lock:
            self.raise_if_unusable()

    def _raise_failed(self):
        """Raise ``WalPoisonedError`` once the writer failed (``Q_ERROR`` is set).

        The GIL-free loop sets ``Q_ERROR`` and wakes the waiters before the writer thread
        records the exception, so a waiter that saw ``Q_ERROR`` first waits for that.
        """
        with self._lock:
            self._cond.wait_for(lambda: self._error is not None)
            self.raise_if_unusable()

    def _wait_for(self, field, value, timeout):
        """Wait until ``ring_ctl[field] >= value`` (True), the writer fails or ``timeout`` seconds pass (False)."""
        ctl = self.ring_ctl
        clock = np.zeros(2, dtype=np.int64)
        left = None if timeout is None else max(0, int(timeout * 1e9))
        while True:
            slice_ns = WAIT_SLICE_NS if left is None else min(left, WAIT_SLICE_NS)
            if native.wait_for(ctl, field, value, SPIN_NS, slice_ns, clock):
                return True
            if ctl[Q_ERROR] != 0 or self._error is not None:
                return False
            if left is not None:
                left -= slice_ns
                if left <= 0:
                    return False

    def wake(self):
        """Wake the writer thread (the kernel returned ``WAKE_WRITER``: it appended while the writer slept)."""
        with self._lock:
            self._cond.notify_all()

    def _enqueue(self, item, size):
        """Queue ``item`` (``(header or None, payload or row, first_seq, rows)``) of ``size`` bytes; see ``append``."""
        first_seq, rows = item[2], item[3]
        with self._lock:
            if self._error is not None or self._full(size):
                self._cond.wait_for(lambda: self._error is not None or not self._full(size))
            self.raise_if_unusable()
            if first_seq != self._next_seq():
                raise ValueError(f"frame starts at seq {first_seq}, expected {self._next_seq()}")
            self._queue.append(item)
            self._queued_frames += 1
            self._queued_bytes += size
            self._appended_seq = first_seq + rows
            native.attention(self.ring_ctl)
            if self._writer_idle:
                self._cond.notify_all()
        return first_seq + rows

    def _full(self, size):
        if self._queued_frames == 0:
            return False
        return (
            self._queued_frames + 1 > self.max_queued_frames
            or self._queued_bytes + size > self.max_queued_bytes
        )

    def raise_if_unusable(self):
        """Raise ``WalPoisonedError`` when poisoned, ``WalError`` when closed."""
        if self._error is not None:
            raise WalPoisonedError(
                f"the WAL in {self.directory} is poisoned by a failed file operation "
                f"({self._error}); nothing after seq {self.durable_seq} is durable and no "
                "submission is accepted"
            ) from self._error
        if self._closing:
            raise WalError(f"the WAL in {self.directory} is closed")

    def wait_durable(self, seq_end, timeout=None):
        """Block until every frame ending at or before ``seq_end`` is durable.

        Waits with the GIL released (``drain.wait_for``): polls the durable watermark for
        up to ``SPIN_NS`` (an fsync of a fast disk ends within it, and a poll costs neither
        thread a wake-up), then sleeps on a futex that the writer wakes after every durable
        write; it returns to Python every ``WAIT_SLICE_NS`` so that Ctrl-C is seen.

        Returns
        -------
        bool
            True once durable; False when ``timeout`` (seconds) passed first.

        Raises
        ------
        WalPoisonedError
            When the writer was poisoned before those frames became durable.
        """
        if self.ring_ctl[Q_DURABLE] >= seq_end or self._wait_for(Q_DURABLE, seq_end, timeout):
            return True
        if self._error is not None or self.ring_ctl[Q_ERROR] != 0:
            self._raise_failed()
        return False

    def rotate(self, first_seq):
        """Queue a segment switch at ``first_seq`` (the next frame's seq); see ``wait_rotated``."""
        with self._lock:
            self.raise_if_unusable()
            if first_seq != self._next_seq():
                raise ValueError(f"rotation at seq {first_seq}, next frame is {self._next_seq()}")
            self._queue.append(_Rotate(first_seq))
            native.attention(self.ring_ctl)
            self._cond.notify_all()

    def wait_rotated(self, first_seq):
        """Block until the segment named ``first_seq`` is open (every earlier frame durable)."""
        with self._lock:
            self._cond.wait_for(lambda: self._rotated_seq >= first_seq or self._error is not None)
            if self._rotated_seq < first_seq:
                self.raise_if_unusable()

    def close(self):
        """Write and fsync everything queued, stop the thread, close the segment.

        Raises
        ------
        WalPoisonedError
            When frames were accepted that never became durable.
        """
        with self._lock:
            self._closing = True
            native.attention(self.ring_ctl)
            self._cond.notify_all()
        self._thread.join()
        if self._fd is not None:
            self.files.close(self._fd)
            self._set_fd(None)
        if self._error is not None and self.durable_seq < self._next_seq():
            raise WalPoisonedError(
                f"closed with frames [{self.durable_seq}, {self._next_seq()}) not durable "
                f"({self._error})"
            ) from self._error

    # -- writer thread ----------------------------------------------------------------

    def _has_work(self):
        ctl = self.ring_ctl
        return bool(self._queue) or ctl[Q_HEAD] > ctl[Q_TAIL]

    def _sleep(self):
        """Wait for work or ``close`` (the Python writer only). Lock held.

        ``Q_IDLE`` is set before the ring is looked at; the kernel advances ``Q_HEAD``
        before it reads ``Q_IDLE``, so one of the two sees the other (the kernel holds the
        GIL, and so does this thread here) and an append never goes unnoticed.
        """
        ctl = self.ring_ctl
        self._writer_idle = True
        ctl[Q_IDLE] = IDLE_PYTHON
        self._cond.wait_for(lambda: self._has_work() or self._closing)
        ctl[Q_IDLE] = 0
        self._writer_idle = False

    def _take(self):
        """What to write next, in seq order: deque items and runs of ring entries. Lock held.

        Taken under the lock, so that everything seen (every queued item, every ring
        entry appended before ``Q_HEAD`` was read) is a gap-free prefix of the seqs not
        yet written: the sequencer appends both in seq order, and a frame is queued only
        under this lock. ``sync`` takes one frame or one order.
        """
        ring, ctl = self.ring, self.ring_ctl
        capacity = ring.shape[0]
        entry, end = int(ctl[Q_TAIL]), int(ctl[Q_HEAD])
        if not self.group:
            if entry < end and (not self._queue or ring[entry % capacity, R_SEQ] < _first_seq(self._queue[0])):
                return [_Run(entry, 1, int(ring[entry % capacity, R_SEQ]))]
            return [self._queue.popleft()]
        items = []
        for item in self._queue:
            if entry < end:
                seq = int(ring[entry % capacity, R_SEQ])
                count = min(_first_seq(item) - seq, end - entry)
                if count > 0:
                    items.append(_Run(entry, count, seq))
                    entry += count
            items.append(item)
        self._queue.clear()
        if entry < end:
            items.append(_Run(entry, end - entry, int(ring[entry % capacity, R_SEQ])))
        return items

    def _run(self):
        """The writer thread: the GIL-free loop while only ring entries wait, Python for the rest.

        Python takes a turn for queued frames, rotations and ``close`` (``Q_ATTN``), once
        after the loop handed back for another reason, and for every write when the loop
        cannot serve the file layer (``_native`` false: then the thread sleeps on its
        condition when idle; the loop sleeps on a futex instead).
        """
        python_turn = not self._native
        while True:
            with self._lock:
                if self._closing and not self._has_work():
                    return
                if not self._native and not self._has_work():
                    self._sleep()
                    continue
                items = None
                if self._queue or self._closing or python_turn:
                    if self._has_work():
                        items = self._take()
                    if not self._queue and not self._closing:
                        self.ring_ctl[Q_ATTN] = 0
            try:
                if items is None:
                    python_turn = self._drain()
                else:
                    self._write(items)
                    python_turn = not self._native
            except Exception as exc:  # OSError in practice; anything else must not leave callers waiting
                with self._lock:
                    self._error = exc
                    if self.ring_ctl[Q_ERROR] == 0:
                        self.ring_ctl[Q_ERROR] = getattr(exc, "errno", None) or -1
                    self._queue.clear()
                    native.notify(self.ring_ctl)
                    self._cond.notify_all()
                return

    def _drain(self):
        """Run ``drain.drain`` (GIL released) and act on why it returned; True when Python takes the next turn.

        Raises
        ------
        OSError
            The failed write or ``fdatasync``, with its ``errno``.
        """
        status = native.drain(self.ring, self.ring_ctl, *self._drain_args)
        if status == native.DONE_ERROR:
            code = int(self.ring_ctl[Q_ERROR])
            raise OSError(code, f"WAL write or fdatasync failed: {os.strerror(code)}")
        if status == native.DONE_SEGMENT_FULL:
            self._switch_segment(int(self._settings[native.W_SPLIT_SEQ]))
        return status == native.DONE_ATTENTION

    def _write(self, items):
        """Write ``items`` (frames, runs of ring entries and rotations) with one durable write per segment touched."""
        pieces = []
        entries = queued_bytes = frame_bytes = ring_entries = 0
        end_seq = None
        for item in _framed(items, self.ring, self._seed):
            if isinstance(item, _Rotate):
                self._flush(pieces, entries, queued_bytes, ring_entries, end_seq)
                pieces, entries, queued_bytes, frame_bytes, ring_entries = [], 0, 0, 0, 0
                if self._segment_size > SEGMENT_HEADER.size or self._segment_first_seq != item.first_seq:
                    self._switch_segment(item.first_seq)
                with self._lock:
                    self._rotated_seq = item.first_seq
                    self._cond.notify_all()
                continue
            header, payload, first_seq, rows, item_entries, item_bytes, item_ring = item
            filled = self._segment_size + frame_bytes
            if filled >= self.segment_bytes and filled > SEGMENT_HEADER.size:
                self._flush(pieces, entries, queued_bytes, ring_entries, end_seq)
                pieces, entries, queued_bytes, frame_bytes, ring_entries = [], 0, 0, 0, 0
                self._switch_segment(first_seq)
            pieces += (header, payload)
            entries += item_entries
            queued_bytes += item_bytes
            ring_entries += item_ring
            frame_bytes += len(header) + len(payload)
            end_seq = first_seq + rows
        self._flush(pieces, entries, queued_bytes, ring_entries, end_seq)

    def _flush(self, pieces, entries, queued_bytes, ring_entries, end_seq):
        """One durable write of ``pieces``; then mark every frame up to ``end_seq`` durable and wake the waiters.

        ``entries`` and ``queued_bytes``: what the written queue entries counted against the
        queue's bounds; ``ring_entries``: ring slots freed (``Q_TAIL`` advances, after the
        watermark ``Q_DURABLE``).
        """
        if not pieces:
            return
        self.files.write_durably(self._fd, pieces)
        self._segment_size += sum(len(piece) for piece in pieces)
        with self._lock:
            ctl = self.ring_ctl
            ctl[Q_SYNCS] += 1
            ctl[Q_DURABLE] = end_seq
            ctl[Q_TAIL] += ring_entries
            self._queued_frames -= entries
            self._queued_bytes -= queued_bytes
            native.notify(ctl)
            self._cond.notify_all()

    def _switch_segment(self, first_seq):
        self.files.close(self._fd)
        self._set_fd(None)
        self._open_new_segment(first_seq)

    def _open_new_segment(self, first_seq):
        """Create segment ``first_seq``: header written and fsynced, directory fsynced."""
        path = os.path.join(self.directory, segment_name(first_seq))
        fd = self.files.create(path)
        try:
            self.files.write(fd, [encode_segment_header(self.config, first_seq, self.log_id)])
            self.files.fsync(fd)
        except OSError:
            self.files.close(fd)
            raise
        self.files.fsync_dir(self.directory)
        self._set_fd(fd)
        self._segment_first_seq = first_seq
        self._segment_size = SEGMENT_HEADER.size


def _first_seq(item):
    """First input seq of a queued frame tuple or ``_Rotate``."""
    return item.first_seq if isinstance(item, _Rotate) else item[2]


def _framed(items, ring, seed):
    """``items`` as ``_Rotate`` markers and frames ``(header, payload, first_seq, rows, entries, queued_bytes, ring_entries)``.

    Each ``_Run`` of ring entries becomes frames of up to ``MAX_ROWS_PER_FRAME`` rows
    (split where the run wraps around the ring's end), encoded from the ring's columns
    and checksummed from ``seed``; a queued frame stays as it is. ``entries`` and
    ``queued_bytes`` are what the frame's queue entries counted against the queue's
    bounds, ``ring_entries`` the ring slots it frees.
    """
    capacity = ring.shape[0]
    for item in items:
        if isinstance(item, _Rotate):
            yield item
        elif isinstance(item, _Run):
            entry, left, first_seq = item.entry, item.count, item.first_seq
            while left:
                slot = entry % capacity
                rows = min(left, MAX_ROWS_PER_FRAME, capacity - slot)
                payload = encode_ring_payload(ring, slot, rows)
                yield encode_frame_header(payload, first_seq, rows, seed), payload, first_seq, rows, 0, 0, rows
                entry += rows
                first_seq += rows
                left -= rows
        else:
            yield (*item, 1, len(item[1]), 0)


__all__ = ["DEFAULT_MAX_QUEUED_BYTES", "DEFAULT_MAX_QUEUED_FRAMES", "DEFAULT_SEGMENT_BYTES", "WalWriter"]
