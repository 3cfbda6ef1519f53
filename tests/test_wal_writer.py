"""The WAL writer: group commit, sync, async, backpressure, and failures that poison it.

Faults come from ``FaultyFiles``, a file layer that fails a chosen call with EIO or
ENOSPC; nothing the writer could not make durable may ever be acknowledged."""

import ast
import errno
import os
import pathlib
import threading

import pytest

import nbengine
from nbengine.durability import replay
from nbengine.wal import FileLayer, WalError, WalPoisonedError
from nbengine.wal import files as files_module
from nbengine.wal import recovery
from nbengine.wal.reader import WalReader

from .wal_support import FaultyFiles, batches, clean_hashes, order_rows


def recovered(directory):
    engine, report = replay(nbengine.Engine, directory)
    return engine, report


@pytest.mark.parametrize("durability", ["group", "sync"])
def test_submit_returns_only_once_durable(tmp_path, durability):
    files = FaultyFiles()
    engine = nbengine.Engine(wal_dir=tmp_path, durability=durability, wal_options={"files": files})
    for chunk in batches(200, 50):
        result = engine.submit(chunk)
        assert engine._wal.durable_seq >= result.seq_end
        assert result.wait_durable(timeout=0)
    engine.close()
    assert files.calls.count("fsync") == 1  # the segment header
    assert files.calls.count("write_durably") == 4  # one per batch


def test_async_submit_returns_before_durable_and_wait_durable_waits(tmp_path):
    files = FaultyFiles(delay=0.05)
    engine = nbengine.Engine(wal_dir=tmp_path, durability="async", wal_options={"files": files})
    results = [engine.submit(chunk) for chunk in batches(200, 50)]
    assert engine._wal.durable_seq < results[-1].seq_end
    assert not results[-1].wait_durable(timeout=0)
    assert results[-1].wait_durable()
    assert engine._wal.durable_seq == 200
    engine.close()


def test_an_fsync_wakes_every_waiter_it_completes_even_past_one_that_timed_out(tmp_path):
    files = FaultyFiles()
    engine = nbengine.Engine(wal_dir=tmp_path, durability="async", wal_options={"files": files})
    gate = threading.Event()
    files.on_fsync = gate.wait  # nothing becomes durable before gate.set()
    results = [engine.submit(chunk) for chunk in batches(250, 50)]
    outcomes = {}

    def wait(index, timeout):
        outcomes[index] = results[index].wait_durable(timeout)

    timeouts = [None, None, 0.05, None, None]
    waiters = [threading.Thread(target=wait, args=(i, timeout), daemon=True) for i, timeout in enumerate(timeouts)]
    for waiter in waiters:
        waiter.start()
    waiters[2].join()
    assert outcomes == {2: False}
    gate.set()
    for waiter in waiters:
        waiter.join(timeout=10)
    assert outcomes == {0: True, 1: True, 2: False, 3: True, 4: True}
    engine.close()


def test_group_commit_shares_fsyncs_between_threads(tmp_path):
    files = FaultyFiles(delay=0.005)
    engine = nbengine.Engine(wal_dir=tmp_path, durability="group", wal_options={"files": files})
    rows = batches(8 * 40, 1)
    threads = [
        threading.Thread(target=lambda part: [engine.submit(row) for row in part], args=(rows[i::8],))
        for i in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    engine.close()
    frames = len(rows)
    assert engine._wal.fsync_count < frames / 2, f"{engine._wal.fsync_count} fsyncs for {frames} frames"
    again, report = recovered(tmp_path)
    assert report.end_seq == frames and report.frames == frames
    assert again.state_hash() == engine.state_hash()
    assert again._counters() == engine._counters()


def test_sync_mode_never_shares_an_fsync(tmp_path):
    engine = nbengine.Engine(wal_dir=tmp_path, durability="sync")
    rows = batches(4 * 20, 1)
    threads = [threading.Thread(target=lambda part: [engine.submit(r) for r in part], args=(rows[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    engine.close()
    assert engine._wal.fsync_count == len(rows)


def test_async_memory_stays_under_the_queue_bound(tmp_path):
    files = FaultyFiles(delay=0.02)
    bound_frames, bound_bytes = 8, 64 << 10
    engine = nbengine.Engine(
        wal_dir=tmp_path,
        durability="async",
        wal_options={"files": files, "max_queued_frames": bound_frames, "max_queued_bytes": bound_bytes},
    )
    seen = []
    files.on_fsync = lambda: seen.append((engine._wal.queued_frames, engine._wal.queued_bytes))
    chunks = batches(150 * 50, 50)  # ~2.4 KB a frame: overload against a 20 ms fsync
    for chunk in chunks:
        engine.submit(chunk)
        seen.append((engine._wal.queued_frames, engine._wal.queued_bytes))
    engine.close()
    assert max(frames for frames, _ in seen) <= bound_frames
    assert max(size for _, size in seen) <= bound_bytes
    assert max(frames for frames, _ in seen) >= bound_frames - 1, "the test never filled the queue"
    assert engine._wal.fsync_count < len(chunks)
    assert recovered(tmp_path)[1].end_seq == 150 * 50


@pytest.mark.parametrize("durability", ["group", "sync", "async"])
@pytest.mark.parametrize(
    "code, written",
    [("EIO", 0.0), ("ENOSPC", 0.5), ("EIO", 1.0)],
    ids=["write-EIO", "write-ENOSPC-half-written", "sync-EIO-all-written"],
)
def test_failure_poisons_the_writer_and_acknowledges_nothing_more(tmp_path, durability, code, written):
    files = FaultyFiles()
    engine = nbengine.Engine(wal_dir=tmp_path, durability=durability, wal_options={"files": files})
    chunks = batches(400, 50)
    acknowledged = 0
    for chunk in chunks[:3]:
        result = engine.submit(chunk)
        result.wait_durable()
        acknowledged = result.seq_end
    files.arm("write_durably", 1)
    files.error = getattr(errno, code)
    files.written = written
    with pytest.raises(WalPoisonedError, match="poisoned") as info:
        result = engine.submit(chunks[3])
        result.wait_durable()  # async: the submit itself may return; its ack never comes
    assert isinstance(info.value.__cause__, OSError) and info.value.__cause__.errno == getattr(errno, code)
    syncs_at_failure = files.calls.count("write_durably"), files.calls.count("fsync")
    for chunk in chunks[4:6]:
        with pytest.raises(WalPoisonedError):
            engine.submit(chunk)
    with pytest.raises(WalPoisonedError):
        engine.close()
    assert (files.calls.count("write_durably"), files.calls.count("fsync")) == syncs_at_failure, (
        "a write or sync was retried after a failure"
    )
    assert engine._wal.durable_seq == acknowledged
    again, report = recovered(tmp_path)
    # the failed batch was never acknowledged; it may or may not have reached the file
    assert report.end_seq in (acknowledged, acknowledged + 50)
    assert again.state_hash() == clean_hashes(chunks[: report.end_seq // 50])[-1]


@pytest.mark.parametrize("fault", ["create", "write", "fsync", "fsync_dir"])
def test_segment_creation_failure_poisons(tmp_path, fault):
    files = FaultyFiles()
    engine = nbengine.Engine(wal_dir=tmp_path, wal_options={"files": files, "segment_bytes": 1000})
    chunks = batches(300, 100)
    engine.submit(chunks[0])
    files.arm(fault, 1)
    files.error = errno.ENOSPC
    with pytest.raises(WalPoisonedError):
        engine.submit(chunks[1])
    with pytest.raises(WalPoisonedError):
        engine.submit(chunks[2])
    assert engine._wal.durable_seq == 100


def test_closed_engine_refuses_submissions(tmp_path):
    engine = nbengine.Engine(wal_dir=tmp_path)
    engine.close()
    engine.close()
    with pytest.raises(WalError, match="closed; reopen its WAL with Engine.recover") as info:
        engine.submit(batches(10, 10)[0])
    assert isinstance(info.value, nbengine.EngineClosedError)


def test_a_closed_engine_without_a_wal_says_so_without_a_wal_error():
    engine = nbengine.Engine()
    engine.close()
    for call in (lambda: engine.submit(batches(10, 10)[0]), lambda: engine.submit_one(1, 1, 1, 0, 100, 1)):
        with pytest.raises(nbengine.EngineClosedError, match="^the engine is closed$") as info:
            call()
        assert isinstance(info.value, RuntimeError) and not isinstance(info.value, WalError)


def test_no_runtime_check_of_the_wal_is_an_assert():
    """``python -O`` drops asserts: every check of nbengine/wal and nbengine/durability.py must raise."""
    root = pathlib.Path(nbengine.__file__).parent
    sources = sorted((root / "wal").glob("*.py")) + sorted(root.glob("durability.py"))
    asserts = [
        f"{path.relative_to(root)}:{node.lineno}"
        for path in sources
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Assert)
    ]
    assert asserts == []


def test_the_wal_package_never_sees_an_engine():
    """``wal/`` is a log library: it imports neither the engine nor the durability layer above it."""
    root = pathlib.Path(nbengine.__file__).parent
    imports = [
        f"{path.name}: {node.module}"
        for path in sorted((root / "wal").glob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.level >= 2 and node.module in ("engine", "durability", None)
    ]
    assert imports == []


def test_a_replay_that_ends_elsewhere_than_its_frames_raises(tmp_path, monkeypatch):
    with nbengine.Engine(wal_dir=tmp_path) as engine:
        engine.submit(batches(100, 100)[0])
    monkeypatch.setattr(recovery, "decode_payload", lambda payload: nbengine.prepare(batches(10, 10)[0]))
    with pytest.raises(WalError, match="ended at input seq 10, but its frames end at 100"):
        replay(nbengine.Engine, tmp_path)


def test_durability_needs_a_wal_dir_and_a_known_mode(tmp_path):
    with pytest.raises(ValueError, match="needs a wal_dir"):
        nbengine.Engine(durability="group")
    with pytest.raises(ValueError, match="leave wal_dir out"):
        nbengine.Engine(wal_dir=tmp_path, durability="none")
    with pytest.raises(ValueError, match="durability: expected one of"):
        nbengine.Engine(wal_dir=tmp_path, durability="fast")


def test_short_writes_are_completed(tmp_path, monkeypatch):
    real_writev = os.writev
    monkeypatch.setattr(os, "writev", lambda fd, views: real_writev(fd, [bytes(views[0])[:7]]))
    path = tmp_path / "f"
    files = FileLayer()
    fd = files.create(str(path))
    files.write(fd, [b"abcdefghij", b"", memoryview(b"klmnopqrstuvwxyz"), b"0123"])
    files.close(fd)
    assert path.read_bytes() == b"abcdefghijklmnopqrstuvwxyz0123"


@pytest.mark.skipif(not hasattr(os, "RWF_DSYNC"), reason="pwritev2 with RWF_DSYNC is Linux only")
def test_durable_writes_append_and_complete_short_writes(tmp_path, monkeypatch):
    real_pwritev = os.pwritev
    flags = []

    def short_pwritev(fd, views, offset, flag):
        flags.append(flag)
        return real_pwritev(fd, [bytes(views[0])[:7]], offset, flag)

    path = tmp_path / "f"
    files = FileLayer()
    fd = files.create(str(path))
    files.write(fd, [b"head:"])
    files.write_durably(fd, [b"abcdefghij", b"", memoryview(b"klmn")])
    monkeypatch.setattr(os, "pwritev", short_pwritev)
    files.write_durably(fd, [b"opqrstuvwxyz", b"0123"])
    files.close(fd)
    assert path.read_bytes() == b"head:abcdefghijklmnopqrstuvwxyz0123"
    assert flags == [os.RWF_DSYNC] * 3


def test_durable_writes_without_rwf_dsync_write_then_fsync(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(files_module, "_RWF_DSYNC", None)
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    path = tmp_path / "f"
    files = FileLayer()
    fd = files.create(str(path))
    files.write_durably(fd, [b"abc", b"def"])
    files.close(fd)
    assert path.read_bytes() == b"abcdef"
    assert synced == [fd]


@pytest.mark.parametrize("ahead", [0, 1, 3])
def test_submit_many_yields_each_result_only_once_durable_and_in_order(tmp_path, ahead):
    files = FaultyFiles(delay=0.002)
    engine = nbengine.Engine(wal_dir=tmp_path, durability="group", wal_options={"files": files})
    starts = []
    for result in engine.submit_many(batches(400, 50), ahead=ahead):
        assert engine._wal.durable_seq >= result.seq_end
        assert result.wait_durable(timeout=0)
        starts.append(result.seq_start)
    engine.close()
    assert starts == list(range(0, 400, 50))


@pytest.mark.parametrize("durability", ["none", "group"])
def test_submit_many_gives_the_results_and_state_of_submit(tmp_path, durability):
    wal_dir = None if durability == "none" else tmp_path
    chunks = batches(600, 64)
    one_by_one = nbengine.Engine()
    expected = [one_by_one.submit(chunk) for chunk in chunks]
    with nbengine.Engine(wal_dir=wal_dir, durability=durability) as engine:
        got = list(engine.submit_many(chunks, ahead=2))
    for want, have in zip(expected, got, strict=True):
        assert have.trades.equals(want.trades)
        assert have.events.equals(want.events)
    assert engine.state_hash() == one_by_one.state_hash()
    if wal_dir is not None:
        assert recovered(tmp_path)[0].state_hash() == one_by_one.state_hash()


def test_submit_many_overlaps_matching_with_the_fsync_of_the_batch_before(tmp_path):
    files = FaultyFiles(delay=0.05)
    engine = nbengine.Engine(wal_dir=tmp_path, durability="group", wal_options={"files": files})
    seen_ahead = []
    for result in engine.submit_many(batches(200, 50), ahead=1):
        seen_ahead.append(engine.next_seq - result.seq_end)
    engine.close()
    # A batch already durable is yielded at once; one still syncing while the next is matched shows the overlap.
    assert max(seen_ahead) == 50 and set(seen_ahead) <= {0, 50} and seen_ahead[-1] == 0


def test_submit_many_rejects_a_negative_ahead():
    with pytest.raises(ValueError, match="ahead"):
        next(nbengine.Engine().submit_many([], ahead=-1))


@pytest.mark.parametrize("ahead", [0, 1, 3])
def test_submit_rows_yields_each_result_only_once_durable_and_in_order(tmp_path, ahead):
    files = FaultyFiles(delay=0.002)
    engine = nbengine.Engine(wal_dir=tmp_path, durability="group", wal_options={"files": files})
    starts = []
    for result in engine.submit_rows(order_rows(batches(40, 40)), ahead=ahead):
        assert engine._wal.durable_seq >= result.seq_end
        starts.append(result.seq_start)
    engine.close()
    assert starts == list(range(40))


@pytest.mark.parametrize("durability", ["none", "group", "sync"])
def test_submit_rows_gives_the_results_and_state_of_submit_one(tmp_path, durability):
    wal_dir = None if durability == "none" else tmp_path
    rows = list(order_rows(batches(300, 100)))
    one_by_one = nbengine.Engine()
    expected = [one_by_one.submit_one(**row) for row in rows]
    with nbengine.Engine(wal_dir=wal_dir, durability=durability) as engine:
        got = list(engine.submit_rows(rows, ahead=2))
    for want, have in zip(expected, got, strict=True):
        assert (have.seq_start, have.seq_end) == (want.seq_start, want.seq_end)
        assert have.trades.equals(want.trades)
        assert have.events.equals(want.events)
    assert engine.state_hash() == one_by_one.state_hash()
    if wal_dir is not None:
        assert recovered(tmp_path)[0].state_hash() == one_by_one.state_hash()


def test_submit_rows_takes_positional_tuples_as_submit_one_does():
    rows = [(1, 1, nbengine.BUY, nbengine.LIMIT, 100, 5), (2, 2, nbengine.SELL, nbengine.LIMIT, 100, 3)]
    results = list(nbengine.Engine().submit_rows(rows))
    assert [r.n_trades for r in results] == [0, 1]
    assert results[1].trades.column("qty").to_pylist() == [3]


def test_submit_rows_matches_ahead_while_the_order_before_syncs(tmp_path):
    files = FaultyFiles(delay=0.05)
    engine = nbengine.Engine(wal_dir=tmp_path, durability="group", wal_options={"files": files})
    seen_ahead = [engine.next_seq - result.seq_end for result in engine.submit_rows(order_rows(batches(4, 4)), ahead=1)]
    engine.close()
    # A row already durable is yielded at once; one still syncing while the next is matched shows the overlap.
    assert max(seen_ahead) == 1 and set(seen_ahead) <= {0, 1} and seen_ahead[-1] == 0


def test_submit_rows_from_threads_share_fsyncs_and_lose_nothing(tmp_path):
    rows = list(order_rows(batches(400, 400, symbols=4)))
    by_symbol = [[row for row in rows if row["symbol"] == symbol] for symbol in range(4)]
    files = FaultyFiles(delay=0.005)
    engine = nbengine.Engine(wal_dir=tmp_path, durability="group", wal_options={"files": files})
    late = []

    def work(part):
        for result in engine.submit_rows(part, ahead=1):
            if engine._wal.durable_seq < result.seq_end:
                late.append(result.seq_end)

    threads = [threading.Thread(target=work, args=(part,)) for part in by_symbol]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    engine.close()
    assert late == []
    assert files.calls.count("write_durably") < len(rows) / 2
    recovered_engine, report = recovered(tmp_path)
    assert report.orders == len(rows) and recovered_engine.state_hash() == engine.state_hash()


def test_submit_rows_rejects_a_negative_ahead():
    with pytest.raises(ValueError, match="ahead"):
        next(nbengine.Engine().submit_rows([], ahead=-1))


def frame_rows(directory):
    """Rows of every frame in the WAL at ``directory``, in log order."""
    return [record.rows for record in WalReader(directory).records()]


def test_single_orders_queued_for_one_write_become_one_frame(tmp_path):
    rows = list(order_rows(batches(300, 300)))
    files = FaultyFiles()
    engine = nbengine.Engine(wal_dir=tmp_path, durability="async", wal_options={"files": files})
    writing, gate = threading.Event(), threading.Event()
    files.on_fsync = lambda: (writing.set(), gate.wait())
    engine.submit_one(**rows[0])
    assert writing.wait(timeout=60)  # the writer took the first order and holds its write
    for row in rows[1:11]:
        engine.submit_one(**row)
    engine.submit(batches(300, 100)[1])
    for row in rows[11:]:
        engine.submit_one(**row)
    gate.set()
    engine.close()
    assert frame_rows(tmp_path) == [1, 10, 100, 256, 33]
    assert (engine._wal.queued_frames, engine._wal.queued_bytes) == (0, 0)
    assert recovered(tmp_path)[0].state_hash() == engine.state_hash()


def test_sync_mode_writes_every_single_order_as_its_own_frame(tmp_path):
    with nbengine.Engine(wal_dir=tmp_path, durability="sync") as engine:
        for row in order_rows(batches(20, 20)):
            engine.submit_one(**row)
    assert frame_rows(tmp_path) == [1] * 20
    assert recovered(tmp_path)[0].state_hash() == engine.state_hash()


def test_a_full_ring_makes_submit_one_wait_and_drops_no_order(tmp_path):
    """The WAL ring of single orders holds ``max_queued_frames`` orders; a full one blocks, never drops."""
    files = FaultyFiles(delay=0.005)
    engine = nbengine.Engine(wal_dir=tmp_path, durability="async",
                             wal_options={"files": files, "max_queued_frames": 4})
    seen = []
    for i in range(60):
        engine.submit_one(i, i + 1, nbengine.BUY if i % 2 else nbengine.SELL, nbengine.LIMIT, 100 + i % 3, 1)
        seen.append(engine._wal.queued_frames)
    engine.close()
    assert max(seen) <= 4 and max(seen) >= 3, seen
    again, report = recovered(tmp_path)
    assert report.end_seq == 60
    assert again.state_hash() == engine.state_hash()
