"""The WAL writer thread's GIL-free loop: frame the ring's single orders, write, sync, advance the watermark.

The matching kernel (``kernels.match.match_row_logged``) appends each single order to the
ring (``state.new_ring``); ``drain`` is what the writer thread runs while only ring entries
wait: it takes every entry appended so far, encodes it into frames exactly as
``format.encode_ring_payload`` + ``format.encode_frame_header`` do (same bytes), makes them
durable with one ``write`` + ``fdatasync`` (the ``RWF_DSYNC`` of ``files.FileLayer``), then
advances ``Q_DURABLE`` and frees the slots (``Q_TAIL``). It never holds the GIL, so a
thread that matches with the GIL held (the scalar path) never waits for the writer and the
writer never waits for it: acknowledgements follow the disk, not the interpreter's switch
interval (5 ms). The Python side of the writer (``writer.WalWriter``) keeps every other
job: queued batch frames, segment switches, recording a failure (poisoning).

Ordering between the threads (x86-64 and other multi-copy-atomic CPUs): the producer
writes a slot, then (after a release fence) ``Q_HEAD``; ``drain`` reads ``Q_HEAD``, then
(after a fence) ``Q_ATTN`` and the slots. Python sets ``Q_ATTN`` (``attention``) when it
queues anything the loop must not pass (a batch frame, a rotation, ``close``), before the
sequencer appends any later entry, so a loop that sees an entry appended after that item
also sees ``Q_ATTN`` and returns instead of writing it. Sleeping and waking go through futexes, each with the same hand-shake: the
sleeper announces itself (``Q_IDLE``) or reads the word it sleeps on, fences, looks once
more, then sleeps only while the word is unchanged; the waker changes the word or the
condition, fences, then wakes. So no wake-up is lost, and every futex sleep is bounded too.

The checksum is CRC32C computed here (the CPU's instruction where it has one, else a table),
since a library call would need the GIL; ``tests/test_wal_drain.py`` checks it against the
``crc32c`` package.
"""

import numpy as np

from .._jit import (
    HARDWARE_CRC32C,
    fence,
    kernel,
    sys_clock_gettime,
    sys_errno,
    sys_fdatasync,
    sys_futex_wait,
    sys_futex_wake,
    sys_nanosleep,
    sys_write,
)
from ..state import (
    IDLE_FUTEX,
    Q_ATTN,
    Q_DURABLE,
    Q_ERROR,
    Q_HEAD,
    Q_IDLE,
    Q_NOTICE,
    Q_SYNCS,
    Q_TAIL,
    R_SEQ,
)
from .format import FRAME_HEADER, MAX_ROWS_PER_FRAME, RECORD_ORDERS, SEGMENT_HEADER

__all__ = [
    "DONE_ATTENTION",
    "DONE_ERROR",
    "DONE_SEGMENT_FULL",
    "W_FD",
    "W_FIELDS",
    "W_GROUP",
    "W_INTERVAL_NS",
    "W_SEGMENT_BYTES",
    "W_SEGMENT_SIZE",
    "W_SPIN_NS",
    "W_SPLIT_SEQ",
    "attention",
    "buffer_bytes",
    "crc32c_table",
    "crc32c_table_update",
    "crc32c_update",
    "drain",
    "encode_ring_frame",
    "notify",
    "wait_for",
    "wake_writer",
]

# ``drain``'s return values: why it handed the thread back to Python.
DONE_ATTENTION = 1
"""``Q_ATTN`` is set, or the next entry's seq is not the one expected: Python takes over."""
DONE_SEGMENT_FULL = 4
"""The open segment is full: Python starts segment ``W_SPLIT_SEQ`` and calls again."""
DONE_ERROR = 5
"""A write or sync failed: ``Q_ERROR`` holds its ``errno``; nothing after ``Q_DURABLE`` is durable."""

# The writer's settings and segment state, an int64 array of ``W_FIELDS`` shared with Python.
W_FD = 0
"""File descriptor of the open segment (opened for appending)."""
W_SEGMENT_SIZE = 1
"""Bytes in the open segment (header included); ``drain`` adds what it writes."""
W_SEGMENT_BYTES = 2
"""A new segment starts once the open one holds this many bytes (``WalWriter.segment_bytes``)."""
W_GROUP = 3
"""1: one write + sync takes every waiting entry; 0 (``sync``): one entry each."""
W_SPIN_NS = 4
"""How long ``drain`` polls an empty ring before it sleeps on ``Q_HEAD``'s futex."""
W_SPLIT_SEQ = 5
"""With ``DONE_SEGMENT_FULL``: the input seq the next segment starts at."""
W_INTERVAL_NS = 6
"""Least time between the starts of two writes (``async``: fewer syncs; 0: none)."""
W_FIELDS = 8

_FRAME_HEADER_BYTES = FRAME_HEADER.size
_SEGMENT_HEADER_BYTES = SEGMENT_HEADER.size
_IDLE_SLEEP_NS = 100_000_000
"""Longest futex sleep of an idle ``drain`` before it looks again (wake-ups end it sooner)."""
_WRITE_ROWS = 4096
"""Most entries one write takes (16 frames of ``MAX_ROWS_PER_FRAME``)."""


def crc32c_table():
    """The int64 ``(8, 256)`` lookup table of ``crc32c_update`` (CRC32C, reflected polynomial 0x82F63B78)."""
    table = np.zeros((8, 256), dtype=np.int64)
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
        table[0, byte] = crc
    for k in range(1, 8):
        for byte in range(256):
            previous = table[k - 1, byte]
            table[k, byte] = (previous >> 8) ^ table[0, previous & 0xFF]
    return table


@kernel
def crc32c_table_update(value, data, start, end, table):
    """``crc32c_update`` by table lookups (slicing by 8), where the CPU has no CRC32C instruction."""
    crc = ~value & 0xFFFFFFFF
    i = start
    while i + 8 <= end:
        low = crc ^ (np.int64(data[i]) | (np.int64(data[i + 1]) << 8) | (np.int64(data[i + 2]) << 16)
                     | (np.int64(data[i + 3]) << 24))
        crc = (table[7, low & 0xFF] ^ table[6, (low >> 8) & 0xFF] ^ table[5, (low >> 16) & 0xFF]
               ^ table[4, low >> 24] ^ table[3, data[i + 4]] ^ table[2, data[i + 5]] ^ table[1, data[i + 6]]
               ^ table[0, data[i + 7]])
        i += 8
    while i < end:
        crc = table[0, (crc ^ np.int64(data[i])) & 0xFF] ^ (crc >> 8)
        i += 1
    return ~crc & 0xFFFFFFFF


if HARDWARE_CRC32C:  # pragma: no cover (compiled only, so never run under NUMBA_DISABLE_JIT; tested with the JIT)
    from .._jit import crc32c_word

    @kernel
    def _crc32c_hardware_update(value, data, start, end, table):
        """``crc32c_update`` with the CPU's CRC32C instruction, 8 bytes at a time (the table only for the tail)."""
        crc = np.uint64(~value & 0xFFFFFFFF)
        i = start
        while i + 8 <= end:
            word = np.uint64(0)
            for k in range(8):
                word |= np.uint64(data[i + k]) << np.uint64(8 * k)
            crc = crc32c_word(crc, word)
            i += 8
        rest = np.int64(crc) & 0xFFFFFFFF
        while i < end:
            rest = table[0, (rest ^ np.int64(data[i])) & 0xFF] ^ (rest >> 8)
            i += 1
        return ~rest & 0xFFFFFFFF


crc32c_update = _crc32c_hardware_update if HARDWARE_CRC32C else crc32c_table_update
"""``crc32c_update(value, data, start, end, table)``: the CRC32C of ``value``'s message followed by
``data[start:end]``, i.e. ``crc32c.crc32c(data[start:end], value)``. ``data`` is a uint8 array,
``table`` is ``crc32c_table()``, ``value`` a CRC32C as returned before (0 for an empty message)."""


@kernel
def _put(buf, at, value, size):
    """Write the low ``size`` bytes of ``value`` at ``buf[at]``, little-endian."""
    for k in range(size):
        buf[at + k] = (value >> (8 * k)) & 0xFF


@kernel
def encode_ring_frame(buf, at, ring, slot, rows, first_seq, prefixes, prefix_sizes, itemsizes, seed, table):
    """Encode the frame of ``ring[slot:slot + rows]`` at ``buf[at]``; return the bytes it took.

    The bytes of ``format.encode_frame_header(format.encode_ring_payload(ring, slot, rows),
    first_seq, rows, seed)`` followed by that payload. ``prefixes[rows, :prefix_sizes[rows]]``
    is the message metadata of ``rows`` orders (``format.ring_frame_layout``), ``itemsizes``
    each column's byte width (1, 4 or 8); ``rows`` is at most ``MAX_ROWS_PER_FRAME`` and
    ``slot + rows <= ring.shape[0]``; ``buf`` has room for the frame and ``at`` is a
    multiple of 8. Values are stored in the machine's byte order: little-endian machines
    only (the writer keeps to Python elsewhere).
    """
    header = _FRAME_HEADER_BYTES
    prefix = prefix_sizes[rows]
    pos = at + header
    for k in range(prefix):
        buf[pos + k] = prefixes[rows, k]
    pos += prefix
    for column in range(itemsizes.shape[0]):
        size = itemsizes[column]
        end = pos + rows * size
        if size == 8:
            wide = buf[pos:end].view(np.int64)
            for row in range(rows):
                wide[row] = ring[slot + row, column]
        elif size == 4:
            half = buf[pos:end].view(np.int32)
            for row in range(rows):
                half[row] = ring[slot + row, column]
        else:
            narrow = buf[pos:end].view(np.int8)
            for row in range(rows):
                narrow[row] = ring[slot + row, column]
        pos = end
        while (pos - at - header) % 8:
            buf[pos] = 0
            pos += 1
    length = pos - at - header
    _put(buf, at + 8, length, 4)
    _put(buf, at + 12, RECORD_ORDERS, 4)
    _put(buf, at + 16, first_seq, 8)
    _put(buf, at + 24, rows, 4)
    _put(buf, at + 28, 0, 4)
    _put(buf, at + 4, crc32c_update(seed, buf, at + 8, at + header, table), 4)
    _put(buf, at, crc32c_update(seed, buf, at + 4, pos, table), 4)
    return pos - at


@kernel
def _now_ns(clock):
    sys_clock_gettime(1, clock.ctypes.data)  # CLOCK_MONOTONIC
    return clock[0] * 1_000_000_000 + clock[1]


@kernel
def _write_all(fd, buf, size):
    """Write ``buf[:size]`` to ``fd``, continuing short writes; 0, or the ``errno`` of the failure."""
    done = 0
    while done < size:
        written = sys_write(fd, buf.ctypes.data + done, size - done)
        if written < 0:
            error = sys_errno()
            if error != 4:  # EINTR: try again
                return error
        else:
            done += written
    return 0


@kernel
def _sleep_until_changed(ctl, field, seen, timeout_ns, clock):
    """Sleep on the futex of ``ctl[field]`` (its low 32 bits) while it holds ``seen``, at most ``timeout_ns``."""
    clock[0] = timeout_ns // 1_000_000_000
    clock[1] = timeout_ns % 1_000_000_000
    low = seen & 0xFFFFFFFF  # the futex word: the field's low half, as a signed int32
    sys_futex_wait(ctl.ctypes.data + 8 * field, low - (1 << 32) if low >= 1 << 31 else low, clock.ctypes.data)


@kernel
def notify(ctl):
    """Bump ``Q_NOTICE`` and wake every caller waiting on it (``wait_for``): after a durable write, a failure, or close."""
    ctl[Q_NOTICE] += 1
    fence()
    sys_futex_wake(ctl.ctypes.data + 8 * Q_NOTICE)


@kernel
def wake_writer(ctl):
    """Wake the writer if it sleeps in ``drain`` (after an append from Python)."""
    fence()
    if ctl[Q_IDLE] == IDLE_FUTEX:
        sys_futex_wake(ctl.ctypes.data + 8 * Q_HEAD)


@kernel
def attention(ctl):
    """Set ``Q_ATTN`` and wake the writer if it sleeps in ``drain``: Python has queued work for it."""
    ctl[Q_ATTN] = 1
    wake_writer(ctl)


@kernel
def drain(ring, ctl, settings, buf, prefixes, prefix_sizes, itemsizes, seed, table, clock):
    """Write the ring's entries in groups until Python must act; return why (``DONE_*``).

    ``ring``, ``ctl``: the writer's ``state.new_ring`` pair; entries from ``Q_TAIL`` carry
    consecutive seqs from ``ctl[Q_DURABLE]`` (everything before them is durable) unless a
    frame queued in Python comes first, which ``Q_ATTN`` announces. ``settings``: int64
    ``W_FIELDS`` (``W_*``), the segment's ``W_SEGMENT_SIZE`` updated here. ``buf``: uint8,
    room for ``_WRITE_ROWS`` entries as frames (``buffer_bytes``). ``prefixes``,
    ``prefix_sizes``, ``itemsizes``: ``format.ring_frame_layout()``. ``seed``: the log's
    checksum seed. ``table``: ``crc32c_table()``. ``clock``: int64 scratch of 2.

    Each write is one ``write`` + ``fdatasync`` of whole frames, at most
    ``MAX_ROWS_PER_FRAME`` rows each and never across the ring's end; then ``Q_DURABLE``
    and ``Q_TAIL`` advance and waiting callers are woken (``notify``). An empty ring is
    polled for ``settings[W_SPIN_NS]``, then the loop sleeps on ``Q_HEAD``'s futex with
    ``Q_IDLE`` = ``IDLE_FUTEX`` (the producer wakes it; so does ``attention``). With
    ``settings[W_INTERVAL_NS]``, a write starts no sooner than that after the previous one.
    """
    capacity = ring.shape[0]
    fd = settings[W_FD]
    idle_since = _now_ns(clock)
    last_write = idle_since - settings[W_INTERVAL_NS]
    while True:
        if ctl[Q_ATTN] != 0:
            return DONE_ATTENTION
        head = ctl[Q_HEAD]
        fence()
        tail = ctl[Q_TAIL]
        if head == tail:
            if _now_ns(clock) - idle_since < settings[W_SPIN_NS]:
                continue
            ctl[Q_IDLE] = IDLE_FUTEX
            fence()
            if ctl[Q_HEAD] == tail and ctl[Q_ATTN] == 0:
                _sleep_until_changed(ctl, Q_HEAD, tail, _IDLE_SLEEP_NS, clock)
            ctl[Q_IDLE] = 0
            idle_since = _now_ns(clock)
            continue
        if ctl[Q_ATTN] != 0:
            return DONE_ATTENTION
        early = last_write + settings[W_INTERVAL_NS] - _now_ns(clock)
        if early > 0:
            clock[0] = 0
            clock[1] = min(early, 1_000_000)
            sys_nanosleep(clock.ctypes.data)
            continue
        last_write = _now_ns(clock)
        seq = ctl[Q_DURABLE]
        if ring[tail % capacity, R_SEQ] != seq:
            return DONE_ATTENTION
        todo = min(head - tail, _WRITE_ROWS) if settings[W_GROUP] != 0 else 1
        entry = tail
        size = 0
        full = False
        while entry < tail + todo:
            filled = settings[W_SEGMENT_SIZE] + size
            if filled >= settings[W_SEGMENT_BYTES] and filled > _SEGMENT_HEADER_BYTES:
                full = True
                break
            slot = entry % capacity
            rows = min(tail + todo - entry, MAX_ROWS_PER_FRAME, capacity - slot)
            for k in range(1, rows):
                if ring[slot + k, R_SEQ] != seq + k:  # a queued frame sits between them
                    rows = k
                    todo = entry + k - tail
                    break
            size += encode_ring_frame(buf, size, ring, slot, rows, seq, prefixes, prefix_sizes, itemsizes, seed,
                                      table)
            entry += rows
            seq += rows
        if size:
            error = _write_all(fd, buf, size)
            if error == 0 and sys_fdatasync(fd) != 0:
                error = sys_errno()
            if error != 0:
                ctl[Q_ERROR] = error
                notify(ctl)
                return DONE_ERROR
            settings[W_SEGMENT_SIZE] += size
            ctl[Q_SYNCS] += 1
            fence()
            ctl[Q_DURABLE] = seq
            ctl[Q_TAIL] = entry
            notify(ctl)
        if full:
            settings[W_SPLIT_SEQ] = seq
            return DONE_SEGMENT_FULL
        idle_since = _now_ns(clock)


@kernel
def wait_for(ctl, field, value, spin_ns, timeout_ns, clock):
    """Wait until ``ctl[field] >= value``, ``ctl[Q_ERROR]`` is set, or ``timeout_ns`` passed; True once reached.

    Run with the GIL released by a caller that waits for the writer thread (the durable
    watermark, or free ring slots). Polls for the first ``spin_ns`` (an fsync of a fast
    disk ends within it, and a poll costs neither thread a wake-up), then sleeps on the
    futex of ``Q_NOTICE``, which the writer bumps and wakes after every durable write.
    """
    start = _now_ns(clock)
    while True:
        fence()
        if ctl[field] >= value:
            return True
        if ctl[Q_ERROR] != 0:
            return False
        waited = _now_ns(clock) - start
        if waited >= timeout_ns:
            return False
        if waited < spin_ns:
            continue
        notice = ctl[Q_NOTICE]
        fence()
        if ctl[field] >= value or ctl[Q_ERROR] != 0:
            continue
        _sleep_until_changed(ctl, Q_NOTICE, notice, timeout_ns - waited, clock)


def buffer_bytes(prefix_sizes, itemsizes):
    """Bytes ``drain``'s ``buf`` needs: ``_WRITE_ROWS`` entries as frames of ``MAX_ROWS_PER_FRAME`` (or one short frame per ring wrap)."""
    row_bytes = int(sum(int(size) for size in itemsizes))
    frame_bytes = _FRAME_HEADER_BYTES + int(prefix_sizes.max()) + MAX_ROWS_PER_FRAME * row_bytes + 8 * len(itemsizes)
    frames = _WRITE_ROWS // MAX_ROWS_PER_FRAME + 2
    return frames * frame_bytes
