"""The WAL writer thread: group commit of queued frames, bounded hand-off, poisoning.

The sequencer (the thread holding the engine lock) appends frames in sequence order;
one writer thread takes everything queued, writes and syncs it with one system call
(``FileLayer.write_durably``; RocksDB's group commit, no artificial delay) and then
advances ``durable_seq``, which releases every waiting caller whose frames are now
durable, in order. The first failed write or fsync poisons the writer for good (no retry).

The writer thread does as little as it can between two syncs, since that time is not
spent syncing: callers encode their frame headers (checksums included) when they queue
a frame, and the writer wakes the first completed waiter just before its next write
system call, so the woken thread finds the GIL free instead of waiting for it.
"""

import collections
import heapq
import itertools
import os
import threading

from .errors import WalError, WalPoisonedError
from .files import FileLayer
from .format import (
    MAX_ROWS_PER_FRAME,
    ROW_BYTES,
    SEGMENT_HEADER,
    checksum_seed,
    encode_frame_header,
    encode_rows_payload,
    encode_segment_header,
    segment_name,
)

DEFAULT_SEGMENT_BYTES = 64 << 20
DEFAULT_MAX_QUEUED_FRAMES = 65_536
DEFAULT_MAX_QUEUED_BYTES = 64 << 20


class _Rotate:
    """Queue item: close the open segment and start one named ``first_seq``."""

    __slots__ = ("first_seq",)

    def __init__(self, first_seq):
        self.first_seq = first_seq


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
    segment_bytes : int
        A new segment starts once the open one holds this many bytes.
    max_queued_frames, max_queued_bytes : int
        Bound on frames queued or being written; ``append`` blocks while it is reached.
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
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._writer_idle = False
        self._queue = collections.deque()
        self._queued_frames = 0
        self._queued_bytes = 0
        self._appended_seq = next_seq
        self._durable_seq = next_seq
        self._rotated_seq = -1
        self._error = None
        self._closing = False
        self._waiters = []
        self._waiter_ids = itertools.count()
        self.fsync_count = 0
        if append_to is None:
            self._open_new_segment(next_seq)
        else:
            self._fd = self.files.open_append(append_to)
            self._segment_first_seq = int(os.path.basename(append_to).split(".")[0])
            self._segment_size = os.path.getsize(append_to)
        self._thread = threading.Thread(target=self._run, name="nbengine-wal-writer", daemon=True)
        self._thread.start()

    # -- caller side ------------------------------------------------------------------

    @property
    def error(self):
        """The exception (an ``OSError`` in practice) that poisoned the writer, or None."""
        return self._error

    @property
    def durable_seq(self):
        """Every frame ending at or before this input seq is durable."""
        return self._durable_seq

    @property
    def queued_frames(self):
        """Frames queued or being written (bounded by ``max_queued_frames``)."""
        return self._queued_frames

    @property
    def queued_bytes(self):
        """Payload bytes queued or being written (bounded by ``max_queued_bytes``)."""
        return self._queued_bytes

    def append(self, payload, first_seq, rows):
        """Queue one frame; block while the queue is full.

        Parameters
        ----------
        payload : pyarrow.Buffer or bytes
            The Arrow IPC message (``format.encode_payload``).
        first_seq, rows : int
            The batch's first input seq and row count; frames must come gap-free.

        Returns
        -------
        int
            ``first_seq + rows``: pass it to ``wait_durable``.

        Raises
        ------
        WalPoisonedError
            When a write or fsync has failed; the frame is not queued.
        """
        header = encode_frame_header(payload, first_seq, rows, self._seed)  # here, not in the writer thread
        return self._enqueue((header, payload, first_seq, rows), len(payload))

    def append_order(self, row, seq):
        """Queue one order; the writer joins consecutive queued orders into one frame.

        A group commit of single orders then writes one frame of k rows (936 bytes for
        8) instead of k frames of 632 bytes. ``sync`` takes one order per write, so there
        every order is a frame of its own.

        Parameters
        ----------
        row : tuple of int
            The order's values in ``ORDERS_SCHEMA`` order, each fitting its dtype
            (``format.check_row``).
        seq : int
            Its input seq.

        Returns and raises as ``append``.
        """
        return self._enqueue((None, row, seq, 1), ROW_BYTES)

    def _enqueue(self, item, size):
        """Queue ``item`` (``(header or None, payload or row, first_seq, rows)``) of ``size`` bytes; see ``append``."""
        first_seq, rows = item[2], item[3]
        with self._lock:
            if self._error is not None or self._full(size):
                self._cond.wait_for(lambda: self._error is not None or not self._full(size))
            self.raise_if_unusable()
            if first_seq != self._appended_seq:
                raise ValueError(f"frame starts at seq {first_seq}, expected {self._appended_seq}")
            self._queue.append(item)
            self._queued_frames += 1
            self._queued_bytes += size
            self._appended_seq = first_seq + rows
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
                f"({self._error}); nothing after seq {self._durable_seq} is durable and no "
                "submission is accepted"
            ) from self._error
        if self._closing:
            raise WalError(f"the WAL in {self.directory} is closed")

    def wait_durable(self, seq_end, timeout=None):
        """Block until every frame ending at or before ``seq_end`` is durable.

        Each waiter sleeps on a lock of its own. After an fsync the writer thread releases
        only the first waiter it completed, and each released waiter releases the next
        completed one (in seq order), so the writer thread spends one wake-up per fsync,
        not one per waiter, before it starts the next write.

        Returns
        -------
        bool
            True once durable; False when ``timeout`` (seconds) passed first.

        Raises
        ------
        WalPoisonedError
            When the writer was poisoned before those frames became durable.
        """
        with self._lock:
            if self._durable_seq >= seq_end:
                return True
            if self._error is not None:
                self.raise_if_unusable()
            waiter = threading.Lock()
            waiter.acquire()
            entry = (seq_end, next(self._waiter_ids), waiter)
            heapq.heappush(self._waiters, entry)
        released = False
        try:
            released = waiter.acquire(timeout=-1 if timeout is None else timeout)
        finally:
            with self._lock:
                self._stop_waiting(entry, released)
        if self._durable_seq >= seq_end:
            return True
        if self._error is not None:
            self.raise_if_unusable()
        return False

    def _stop_waiting(self, entry, released):
        """Take a waiter's ``entry`` out, passing the wake-up on when it had been released. Lock held.

        A waiter that timed out (or was interrupted) may still have been popped and
        released meanwhile: then it passes the wake-up on too, so none is lost.
        """
        if not released and entry in self._waiters:
            self._waiters.remove(entry)
            heapq.heapify(self._waiters)
        else:
            self._release_waiters()

    def _release_waiters(self):
        """Wake the first caller whose frames are durable (see ``wait_durable``), or all once poisoned. Lock held."""
        waiters = self._waiters
        if self._error is not None:
            while waiters:
                heapq.heappop(waiters)[2].release()
        elif waiters and waiters[0][0] <= self._durable_seq:
            heapq.heappop(waiters)[2].release()

    def rotate(self, first_seq):
        """Queue a segment switch at ``first_seq`` (the next frame's seq); see ``wait_rotated``."""
        with self._lock:
            self.raise_if_unusable()
            if first_seq != self._appended_seq:
                raise ValueError(f"rotation at seq {first_seq}, next frame is {self._appended_seq}")
            self._queue.append(_Rotate(first_seq))
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
            self._cond.notify_all()
        self._thread.join()
        if self._fd is not None:
            self.files.close(self._fd)
            self._fd = None
        if self._error is not None and self._durable_seq < self._appended_seq:
            raise WalPoisonedError(
                f"closed with frames [{self._durable_seq}, {self._appended_seq}) not durable "
                f"({self._error})"
            ) from self._error

    # -- writer thread ----------------------------------------------------------------

    def _run(self):
        while True:
            with self._lock:
                self._release_waiters()
                if not self._queue and not self._closing:
                    self._writer_idle = True
                    self._cond.wait_for(lambda: self._queue or self._closing)
                    self._writer_idle = False
                if not self._queue:
                    return
                if self.group:
                    items = list(self._queue)
                    self._queue.clear()
                else:
                    items = [self._queue.popleft()]
            try:
                self._write(items)
            except Exception as exc:  # OSError in practice; anything else must not leave callers waiting
                with self._lock:
                    self._error = exc
                    self._queue.clear()
                    self._release_waiters()
                    self._cond.notify_all()
                return

    def _write(self, items):
        """Write ``items`` (frames, single orders and rotations) with one durable write per segment touched."""
        pieces = []
        entries = queued_bytes = frame_bytes = 0
        end_seq = None
        for item in _framed(items, self._seed):
            if isinstance(item, _Rotate):
                self._flush(pieces, entries, queued_bytes, end_seq)
                pieces, entries, queued_bytes, frame_bytes = [], 0, 0, 0
                if self._segment_size > SEGMENT_HEADER.size or self._segment_first_seq != item.first_seq:
                    self._switch_segment(item.first_seq)
                with self._lock:
                    self._rotated_seq = item.first_seq
                    self._cond.notify_all()
                continue
            header, payload, first_seq, rows, item_entries, item_bytes = item
            filled = self._segment_size + frame_bytes
            if filled >= self.segment_bytes and filled > SEGMENT_HEADER.size:
                self._flush(pieces, entries, queued_bytes, end_seq)
                pieces, entries, queued_bytes, frame_bytes = [], 0, 0, 0
                self._switch_segment(first_seq)
            pieces += (header, payload)
            entries += item_entries
            queued_bytes += item_bytes
            frame_bytes += len(header) + len(payload)
            end_seq = first_seq + rows
        self._flush(pieces, entries, queued_bytes, end_seq, last=True)

    def _flush(self, pieces, entries, queued_bytes, end_seq, *, last=False):
        """One durable write of ``pieces``; then mark every frame up to ``end_seq`` durable.

        ``entries`` and ``queued_bytes``: what the written queue entries counted against the
        queue's bounds. The ``last`` write of a group leaves waking the waiters it completed
        to ``_run``, on its way to the next write; one followed by a segment switch wakes
        the first of them at once.
        """
        if not pieces:
            return
        self.files.write_durably(self._fd, pieces)
        self._segment_size += sum(len(piece) for piece in pieces)
        with self._lock:
            self.fsync_count += 1
            self._durable_seq = end_seq
            self._queued_frames -= entries
            self._queued_bytes -= queued_bytes
            if not last:
                self._release_waiters()
            self._cond.notify_all()

    def _switch_segment(self, first_seq):
        self.files.close(self._fd)
        self._fd = None
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
        self._fd = fd
        self._segment_first_seq = first_seq
        self._segment_size = SEGMENT_HEADER.size


def _framed(items, seed):
    """``items`` as ``_Rotate`` markers and frames ``(header, payload, first_seq, rows, entries, queued_bytes)``.

    Each run of consecutive single orders becomes frames of up to ``MAX_ROWS_PER_FRAME``
    rows, checksummed from ``seed``; a queued frame stays as it is. ``entries`` and
    ``queued_bytes`` are what the frame's queue entries counted against the queue's bounds.
    """
    run = []
    for item in items:
        if not isinstance(item, _Rotate) and item[0] is None:
            run.append(item)
            if len(run) == MAX_ROWS_PER_FRAME:
                yield _orders_frame(run, seed)
                run = []
            continue
        if run:
            yield _orders_frame(run, seed)
            run = []
        yield item if isinstance(item, _Rotate) else (*item, 1, len(item[1]))
    if run:
        yield _orders_frame(run, seed)


def _orders_frame(entries, seed):
    """One frame of the single orders queued as ``entries`` (consecutive seqs), checksummed from ``seed``."""
    payload = encode_rows_payload([entry[1] for entry in entries])
    first_seq = entries[0][2]
    return encode_frame_header(payload, first_seq, len(entries), seed), payload, first_seq, len(entries), len(entries), len(entries) * ROW_BYTES


__all__ = ["DEFAULT_MAX_QUEUED_BYTES", "DEFAULT_MAX_QUEUED_FRAMES", "DEFAULT_SEGMENT_BYTES", "WalWriter"]
