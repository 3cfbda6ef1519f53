"""The WAL writer's GIL-free loop (``nbengine.wal.drain``): the same bytes as the Python encoder,
checksums equal to the ``crc32c`` library's, single orders logged through it replay exactly,
and a failed write poisons the log with the system's own error."""

import errno
import os
import threading
import time

import numpy as np
import pytest
from crc32c import crc32c
from hypothesis import given, settings
from hypothesis import strategies as st

import nbengine
from nbengine.durability import replay
from nbengine.schema import ORDER_DTYPES
from nbengine.state import Q_DURABLE, Q_ERROR, Q_HEAD, Q_SYNCS, Q_TAIL, R_SEQ, new_ring
from nbengine.wal import WalPoisonedError, drain
from nbengine.wal.format import (
    MAX_ROWS_PER_FRAME,
    SEGMENT_HEADER,
    checksum_seed,
    encode_frame_header,
    encode_ring_payload,
    ring_frame_layout,
)
from nbengine.wal.reader import list_segments

from .wal_support import batches, order_rows

DTYPES = list(ORDER_DTYPES.values())


@pytest.mark.parametrize("update", [drain.crc32c_update, drain.crc32c_table_update])
@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=300), value=st.integers(0, 2**32 - 1))
def test_crc32c_equals_the_library(update, data, value):
    buf = np.frombuffer(data, dtype=np.uint8)
    assert update(value, buf, 0, buf.size, drain.crc32c_table()) == crc32c(data, value)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, MAX_ROWS_PER_FRAME), st.integers(0, 8), st.integers(0, 2**40), st.binary(min_size=16, max_size=16),
       st.integers(0, 2**32 - 1))
def test_a_ring_frame_is_the_python_encoders_bytes(rows, slot, first_seq, log_id, values_seed):
    generator = np.random.default_rng(values_seed)
    ring, _ = new_ring(MAX_ROWS_PER_FRAME + 8, 0)
    for column, dtype in enumerate(DTYPES):
        info = np.iinfo(dtype)
        values = generator.integers(info.min, info.max, size=rows, endpoint=True, dtype=np.int64)
        values[: min(rows, 2)] = (info.min, info.max)[: min(rows, 2)]  # the extremes of each dtype
        ring[slot : slot + rows, column] = values
    ring[slot : slot + rows, R_SEQ] = np.arange(first_seq, first_seq + rows)
    seed = checksum_seed(log_id)
    prefixes, prefix_sizes, itemsizes = ring_frame_layout()
    buf = np.zeros(drain.buffer_bytes(prefix_sizes, itemsizes), dtype=np.uint8)
    size = drain.encode_ring_frame(buf, 0, ring, slot, rows, first_seq, prefixes, prefix_sizes, itemsizes, seed,
                                   drain.crc32c_table())
    payload = encode_ring_payload(ring, slot, rows)
    assert bytes(buf[:size]) == encode_frame_header(payload, first_seq, rows, seed) + payload


@pytest.mark.parametrize("durability", ["async", "group", "sync"])
def test_single_orders_logged_by_the_loop_replay_to_the_same_state(tmp_path, durability):
    chunks = batches(3_000, 500)
    engine = nbengine.Engine(wal_dir=tmp_path, durability=durability, wal_options={"segment_bytes": 16_384})
    assert engine._wal._native
    for order in order_rows(chunks[:2]):
        engine.submit_one(**order)
    engine.submit(chunks[2])  # a batch frame between runs of single orders
    for order in order_rows(chunks[3:]):
        engine.submit_one(**order)
    expected = engine.state_hash()
    engine.close()
    assert len(list_segments(tmp_path)) > 3  # the loop switched segments
    replayed, report = replay(nbengine.Engine, tmp_path)
    assert replayed.state_hash() == expected
    assert report.end_seq == 3_000


def test_many_threads_waiting_on_the_watermark_are_all_released(tmp_path):
    chunks = batches(1_600, 200)
    engine = nbengine.Engine(wal_dir=tmp_path, durability="group")
    acknowledged = []

    def submit(chunk):
        for order in order_rows([chunk]):
            result = engine.submit_one(**order)
            assert engine._wal.durable_seq >= result.seq_end
            acknowledged.append(result.seq_end)

    threads = [threading.Thread(target=submit, args=(chunk,)) for chunk in chunks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(acknowledged) == list(range(1, 1_601))
    assert engine._wal.fsync_count < 1_600  # threads shared fsyncs
    engine.close()


def test_a_failed_write_of_the_loop_poisons_the_log_with_its_errno(tmp_path):
    chunks = batches(400, 200)
    engine = nbengine.Engine(wal_dir=tmp_path, durability="group")
    for order in order_rows(chunks[:1]):
        engine.submit_one(**order)
    full = os.open("/dev/full", os.O_WRONLY)
    try:
        os.dup2(full, engine._wal._fd)  # every later write of the segment fails with ENOSPC
        with pytest.raises(WalPoisonedError, match="No space left on device"):
            for order in order_rows(chunks[1:]):
                engine.submit_one(**order)
        with pytest.raises(WalPoisonedError):
            engine.submit_one(10**6, 10**6, 1, 0, 100, 1)
        assert engine._wal.durable_seq == 200
        with pytest.raises(WalPoisonedError):
            engine.close()
    finally:
        os.close(full)


def _loop_on_file(path, ring, ctl, *, segment_bytes=1 << 30):
    """``drain.drain``'s arguments for ``ring``/``ctl`` writing to a new file at ``path`` (a fresh segment)."""
    prefixes, prefix_sizes, itemsizes = ring_frame_layout()
    settings = np.zeros(drain.W_FIELDS, dtype=np.int64)
    settings[drain.W_FD] = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    settings[drain.W_SEGMENT_SIZE] = SEGMENT_HEADER.size
    settings[drain.W_SEGMENT_BYTES] = segment_bytes
    settings[drain.W_GROUP] = 1
    buf = np.zeros(drain.buffer_bytes(prefix_sizes, itemsizes), dtype=np.uint8)
    return (ring, ctl, settings, buf, prefixes, prefix_sizes, itemsizes, checksum_seed(b"L" * 16),
            drain.crc32c_table(), np.zeros(2, dtype=np.int64))


def _filled_ring(seqs):
    ring, ctl = new_ring(512, seqs[0])
    for entry, seq in enumerate(seqs):
        ring[entry, :R_SEQ] = (seq, seq + 1, 0, 1, 0, 0, 100 + entry, 1, 0)
        ring[entry, R_SEQ] = seq
    ctl[Q_HEAD] = len(seqs)
    return ring, ctl


def test_the_loop_never_writes_across_a_gap_in_seqs(tmp_path):
    # Entries 0..9 then 20..29: seqs 10..19 belong to a frame queued in Python. Even with
    # Q_ATTN not (yet) seen, the loop writes only the run before the gap, then hands back.
    ring, ctl = _filled_ring(list(range(10)) + list(range(20, 30)))
    args = _loop_on_file(tmp_path / "segment", ring, ctl)
    assert drain.drain(*args) == drain.DONE_ATTENTION
    os.close(int(args[2][drain.W_FD]))
    assert (ctl[Q_DURABLE], ctl[Q_TAIL], ctl[Q_SYNCS]) == (10, 10, 1)
    payload = encode_ring_payload(ring, 0, 10)
    written = (tmp_path / "segment").read_bytes()
    assert written == encode_frame_header(payload, 0, 10, checksum_seed(b"L" * 16)) + payload


def test_the_loop_hands_a_full_segment_back_at_a_frame_boundary(tmp_path):
    ring, ctl = _filled_ring(list(range(300)))
    args = _loop_on_file(tmp_path / "segment", ring, ctl, segment_bytes=SEGMENT_HEADER.size + 1)
    assert drain.drain(*args) == drain.DONE_SEGMENT_FULL
    os.close(int(args[2][drain.W_FD]))
    # The first frame (256 rows, the most one frame takes) fills the segment past its size.
    assert (ctl[Q_DURABLE], ctl[Q_TAIL], args[2][drain.W_SPLIT_SEQ]) == (256, 256, 256)


def test_a_waiter_that_sees_the_loops_error_first_raises_instead_of_returning(tmp_path):
    engine = nbengine.Engine(wal_dir=tmp_path, durability="group")
    wal = engine._wal
    ctl = wal.ring_ctl
    # As the loop does on a failed write: Q_ERROR set and the waiters woken; the writer
    # thread records the exception a moment later.
    ctl[Q_ERROR] = errno.EIO

    def record():
        time.sleep(0.05)
        with wal._lock:
            wal._error = OSError(errno.EIO, "injected")
            wal._cond.notify_all()

    threading.Thread(target=record).start()
    with pytest.raises(WalPoisonedError, match="injected"):
        wal.wait_durable(int(ctl[Q_DURABLE]) + 1)
    engine.close()
