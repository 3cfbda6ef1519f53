"""Recovery: snapshot + replay equals an uninterrupted run, torn tails are truncated and
appending goes on, crashes at every step of a snapshot recover, corruption and other
settings are refused, the CLI reports."""

import contextlib
import errno
import os
import shutil

import pytest

import nbengine
from nbengine import cli, codes
from nbengine.wal import SnapshotFailedWarning, WalConfigError, WalCorruptionError, WalError
from nbengine.wal.format import encode_payload
from nbengine.wal.reader import list_segments, scan_segment

from .conftest import assert_columns_equal
from .wal_support import FaultyFiles, SimulatedCrash, batches, clean_hashes, order_rows


def assert_same_results(expected, actual):
    assert_columns_equal(expected.trades.to_pydict(), actual.trades.to_pydict(), "trades")
    assert_columns_equal(expected.events.to_pydict(), actual.events.to_pydict(), "events")
    assert (expected.seq_start, expected.seq_end) == (actual.seq_start, actual.seq_end)


@pytest.mark.parametrize("stp", ["none", "cancel-maker"])
def test_snapshot_and_replay_equal_an_uninterrupted_run(tmp_path, stp):
    chunks = batches(3000, 100, seed=3, symbols=3)
    reference = nbengine.Engine(stp=stp)
    expected = [reference.submit(chunk) for chunk in chunks]
    engine = nbengine.Engine(wal_dir=tmp_path, stp=stp, snapshot_every=700, wal_options={"segment_bytes": 8000})
    for chunk in chunks[:20]:
        engine.submit(chunk)
    engine.close()
    names = os.listdir(tmp_path)
    assert "SNAPSHOT" in names and sum(n.startswith("snapshot-") for n in names) == 1
    assert min(int(os.path.basename(p).split(".")[0]) for p in list_segments(tmp_path)) == 1400
    recovered = nbengine.Engine.recover(tmp_path, stp=stp, snapshot_every=700, wal_options={"segment_bytes": 8000})
    assert recovered.recovery.snapshot_seq == 1400 and recovered.recovery.end_seq == 2000
    assert recovered.state_hash() == reference_hash_after(chunks[:20], stp)
    for chunk, want in zip(chunks[20:], expected[20:]):
        assert_same_results(want, recovered.submit(chunk))
    recovered.check()
    assert recovered.state_hash() == reference.state_hash()
    recovered.close()
    again = nbengine.Engine.recover(tmp_path)
    assert again.state_hash() == reference.state_hash() and again._counters() == reference._counters()
    again.close()


def reference_hash_after(chunks, stp):
    engine = nbengine.Engine(stp=stp)
    for chunk in chunks:
        engine.submit(chunk)
    return engine.state_hash()


def test_recovery_truncates_a_torn_tail_and_appends_after_it(tmp_path):
    chunks = batches(600, 100)
    with nbengine.Engine(wal_dir=tmp_path) as engine:
        for chunk in chunks[:4]:
            engine.submit(chunk)
    segment = list_segments(tmp_path)[-1]
    size = os.path.getsize(segment)
    with open(segment, "r+b") as f:
        f.truncate(size - 7)
    recovered = nbengine.Engine.recover(tmp_path)
    assert recovered.recovery.torn.offset is not None and recovered.next_seq == 300
    for chunk in chunks[3:]:
        recovered.submit(chunk)
    recovered.close()
    again = nbengine.Engine.recover(tmp_path)
    assert again.recovery.torn is None and again.next_seq == 600
    assert again.state_hash() == clean_hashes(chunks)[-1]
    again.close()


def test_recovery_after_a_torn_segment_header_starts_a_new_segment(tmp_path):
    chunks = batches(400, 100)
    with nbengine.Engine(wal_dir=tmp_path, wal_options={"segment_bytes": 1000}) as engine:
        for chunk in chunks[:3]:
            engine.submit(chunk)
    newest = list_segments(tmp_path)[-1]
    with open(newest, "r+b") as f:
        f.truncate(10)
    recovered = nbengine.Engine.recover(tmp_path)
    assert recovered.next_seq == 200
    recovered.submit(chunks[2])
    recovered.close()
    assert nbengine.Engine.recover(tmp_path).state_hash() == clean_hashes(chunks[:3])[-1]


def test_recovery_refuses_corruption_and_salvages_on_request(tmp_path):
    chunks = batches(500, 100)
    with nbengine.Engine(wal_dir=tmp_path) as engine:
        for chunk in chunks:
            engine.submit(chunk)
    segment = list_segments(tmp_path)[0]
    third = [r.offset for r in scan_segment(segment, newest=True)[1]][2]
    with open(segment, "r+b") as f:
        f.seek(third + 40)
        f.write(b"\x00\x01")
    with pytest.raises(WalCorruptionError, match=f"{segment} at byte {third}"):
        nbengine.Engine.recover(tmp_path)
    salvaged = nbengine.Engine.recover(tmp_path, salvage=True)
    assert salvaged.next_seq == 200 and salvaged.state_hash() == clean_hashes(chunks[:2])[-1]
    assert os.path.exists(segment + ".corrupt")
    salvaged.submit(chunks[2])
    salvaged.close()
    assert nbengine.Engine.recover(tmp_path).state_hash() == clean_hashes(chunks[:3])[-1]


def test_recovery_refuses_other_settings(tmp_path):
    with nbengine.Engine(wal_dir=tmp_path, stp="cancel-taker", max_span_ticks=1 << 12) as engine:
        engine.submit(batches(100, 100)[0])
    with pytest.raises(WalConfigError, match="stp: WAL has 'cancel-taker', engine has 'none'"):
        nbengine.Engine.recover(tmp_path, stp="none")
    with pytest.raises(WalConfigError, match="max_span_ticks: WAL has 4096, engine has 1048576"):
        nbengine.Engine.recover(tmp_path, max_span_ticks=1 << 20)
    recovered = nbengine.Engine.recover(tmp_path)
    assert (recovered.stp, recovered.max_span_ticks) == ("cancel-taker", 1 << 12)
    recovered.close()


def test_a_log_torn_while_its_first_segment_was_created_recovers_empty(tmp_path):
    nbengine.Engine(wal_dir=tmp_path, stp="cancel-both").close()
    segment = list_segments(tmp_path)[0]
    open(segment, "wb").close()
    recovered = nbengine.Engine.recover(tmp_path, stp="cancel-both")
    assert recovered.next_seq == 0 and recovered.live_orders == 0 and recovered.stp == "cancel-both"
    recovered.submit(batches(50, 50)[0])
    recovered.close()
    assert nbengine.Engine.recover(tmp_path).next_seq == 50


def test_a_directory_without_a_log_is_refused(tmp_path):
    with pytest.raises(WalConfigError, match="holds no WAL segment"):
        nbengine.Engine.recover(tmp_path)


def test_one_engine_at_a_time_writes_a_directory(tmp_path):
    engine = nbengine.Engine(wal_dir=tmp_path)
    with pytest.raises(WalError, match="in use by another engine"):
        nbengine.Engine.recover(tmp_path)
    engine.close()
    recovered = nbengine.Engine.recover(tmp_path)
    with pytest.raises(WalError, match="in use by another engine"):
        nbengine.Engine.recover(tmp_path)
    recovered.close()


def test_segments_a_snapshot_covers_are_not_read(tmp_path):
    chunks = batches(400, 100)
    with nbengine.Engine(wal_dir=tmp_path, wal_options={"segment_bytes": 1000}) as engine:
        for chunk in chunks[:2]:
            engine.submit(chunk)
        kept = {path: open(path, "rb").read() for path in list_segments(tmp_path)}
        engine.snapshot()  # deletes segments 0 and 100
        engine.submit(chunks[2])
    for path, data in kept.items():  # as if the prune had been interrupted, and one rotted since
        with open(path, "wb") as f:
            f.write(data[:60] + bytes([data[60] ^ 1]) + data[61:])
    recovered = nbengine.Engine.recover(tmp_path)
    assert recovered.recovery.snapshot_seq == 200 and recovered.next_seq == 300
    assert recovered.state_hash() == clean_hashes(chunks[:3])[-1]
    recovered.close()


def test_a_directory_holding_a_wal_is_not_overwritten(tmp_path):
    nbengine.Engine(wal_dir=tmp_path).close()
    with pytest.raises(WalError, match="Engine.recover"):
        nbengine.Engine(wal_dir=tmp_path)


def snapshot_file_ops(tmp_path, chunks):
    """File operations one snapshot() makes (after one earlier snapshot), from a dry run."""
    files = FaultyFiles()
    engine = nbengine.Engine(wal_dir=tmp_path / "dry", wal_options={"files": files})
    engine.submit(chunks[0])
    engine.snapshot()
    engine.submit(chunks[1])
    before = len(files.calls)
    engine.snapshot()
    ops = len(files.calls) - before
    engine.close()
    return ops


def test_crash_at_every_step_of_a_snapshot_recovers(tmp_path):
    chunks = batches(300, 100)
    expected = clean_hashes(chunks[:2])[-1]
    steps = snapshot_file_ops(tmp_path, chunks)
    assert steps >= 12
    for step in range(1, steps + 1):
        directory = tmp_path / f"crash{step}"
        files = FaultyFiles()
        engine = nbengine.Engine(wal_dir=directory, wal_options={"files": files})
        engine.submit(chunks[0])
        engine.snapshot()
        engine.submit(chunks[1])
        files.arm("any", step, SimulatedCrash)
        with pytest.raises((OSError, WalError)):  # the writer thread's failure arrives as WalPoisonedError
            engine.snapshot()
        with contextlib.suppress(WalError):
            engine.close()  # only lets go of the directory lock: nothing is queued
        recovered = nbengine.Engine.recover(directory)
        assert recovered.next_seq == 200, step
        assert recovered.state_hash() == expected, step
        recovered.submit(chunks[2])
        recovered.close()
        assert nbengine.Engine.recover(directory).state_hash() == clean_hashes(chunks)[-1], step
        assert not [n for n in os.listdir(directory) if n.endswith(".tmp")]


def test_snapshot_needs_a_wal():
    with pytest.raises(WalError, match="wal_dir"):
        nbengine.Engine().snapshot()


def test_submit_one_and_match_columns_are_logged(tmp_path):
    chunks = batches(200, 100)
    with nbengine.Engine(wal_dir=tmp_path) as engine:
        engine.match_columns(nbengine.prepare(chunks[0]))
        row = {name: int(values[0]) for name, values in chunks[1].items()}
        engine.submit_one(row["ts"], row["order_id"], row["side"], row["kind"], row["price"], row["qty"],
                          symbol=row["symbol"], tif=row["tif"], account=row["account"])
    recovered = nbengine.Engine.recover(tmp_path)
    assert recovered.next_seq == 101 and recovered.state_hash() == engine.state_hash()
    recovered.close()


def test_cli_wal_dump_and_recover(tmp_path, capsys):
    with nbengine.Engine(wal_dir=tmp_path) as engine:
        for chunk in batches(300, 100):
            engine.submit(chunk)
    assert cli.main(["wal-dump", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "offset 64 seq 0 rows 100" in out and out.count("crc ok") == 3
    assert cli.main(["recover", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"state hash {engine.state_hash()}" in out and "recovered seqs [0, 300)" in out
    segment = list_segments(tmp_path)[0]
    with open(segment, "r+b") as f:
        f.seek(100)
        f.write(b"\xee")
    assert cli.main(["wal-dump", str(tmp_path)]) == 1
    assert "offset 64: CORRUPT" in capsys.readouterr().out


def test_cli_recover_reports_corruption_in_one_line(tmp_path):
    with nbengine.Engine(wal_dir=tmp_path) as engine:
        for chunk in batches(300, 100):
            engine.submit(chunk)
    segment = list_segments(tmp_path)[0]
    offset = corrupt_frame(segment, 1)
    with pytest.raises(SystemExit) as info:
        cli.main(["recover", str(tmp_path)])
    message = str(info.value.code)
    assert message.startswith(f"nbengine recover: WAL corruption in {segment} at byte {offset}: ")
    assert "--salvage" in message and "\n" not in message
    with pytest.raises(SystemExit, match="nbengine recover: no WAL directory"):
        cli.main(["recover", str(tmp_path / "missing")])


def test_cli_wal_dump_goes_on_listing_segments_without_the_snapshot(tmp_path, capsys):
    chunks = batches(300, 100)
    with nbengine.Engine(wal_dir=tmp_path) as engine:
        engine.submit(chunks[0])
        snapshot = engine.snapshot()
        engine.submit(chunks[1])
        engine.submit(chunks[2])
    os.remove(snapshot)
    assert cli.main(["wal-dump", str(tmp_path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"snapshot: CORRUPT: WAL corruption in {snapshot} at byte 0: the snapshot named by SNAPSHOT is missing"
    assert lines[1].startswith(f"segment {list_segments(tmp_path)[0]}: stp=none")
    assert [line.split(" crc")[0] for line in lines[2:]] == [
        "  offset 64 seq 100 rows 100 bytes 5240", "  offset 5336 seq 200 rows 100 bytes 5240"
    ]
    with pytest.raises(SystemExit, match="nbengine wal-dump: no WAL directory"):
        cli.main(["wal-dump", str(tmp_path / "missing")])


def test_cli_wal_dump_flags_a_segment_of_another_log(tmp_path, capsys):
    options = {"wal_options": {"segment_bytes": 1000}}
    for name, seed in (("log", 1), ("other", 2)):
        with nbengine.Engine(wal_dir=tmp_path / name, **options) as engine:
            for chunk in batches(200, 100, seed=seed):
                engine.submit(chunk)
    segments = list_segments(tmp_path / "log")
    shutil.copyfile(list_segments(tmp_path / "other")[1], segments[1])
    assert cli.main(["wal-dump", str(tmp_path / "log")]) == 1
    assert "  offset 0: CORRUPT: a segment of another log (00000000000000000000.wal has log id" in capsys.readouterr().out


def test_snapshot_every_bytes_snapshots_once_that_much_input_was_logged(tmp_path):
    chunks = batches(1000, 100, seed=5)
    payload_bytes = [len(encode_payload(nbengine.prepare(chunk))) for chunk in chunks]
    threshold = payload_bytes[0] * 3 - 1
    expected_snapshots, logged = [], 0
    for k, size in enumerate(payload_bytes, start=1):
        logged += size
        if logged >= threshold:
            expected_snapshots.append(k * 100)
            logged = 0
    with nbengine.Engine(wal_dir=tmp_path, snapshot_every_bytes=threshold) as engine:
        taken = []
        for chunk in chunks:
            engine.submit(chunk)
            taken.append(engine._durability.snapshot_seq)
    assert sorted(set(taken) - {0}) == expected_snapshots
    recovered = nbengine.Engine.recover(tmp_path)
    assert recovered.recovery.snapshot_seq == expected_snapshots[-1]
    assert recovered.state_hash() == reference_hash_after(chunks, "none")
    recovered.close()


def one_order(order_id, side, price, qty, ts=1):
    return {"ts": [ts], "order_id": [order_id], "kind": [nbengine.LIMIT], "side": [side], "price": [price], "qty": [qty]}


def test_a_failed_automatic_snapshot_acknowledges_the_durable_batch(tmp_path):
    files = FaultyFiles(error=errno.ENOSPC, written=0.5)
    engine = nbengine.Engine(wal_dir=tmp_path, snapshot_every=1, wal_options={"files": files})
    engine.submit(one_order(1, nbengine.SELL, 100, 100))
    files.arm("write", 2)  # 1: the new segment's header, 2: the snapshot's temp file
    with pytest.warns(SnapshotFailedWarning, match="automatic snapshot .* failed .* batch \\[1, 2\\) is acknowledged"):
        result = engine.submit(one_order(2, nbengine.BUY, 100, 10))
    assert result.trades.num_rows == 1 and engine.bbo().ask_qty == 90
    assert isinstance(engine.snapshot_error, OSError) and engine.snapshot_error.errno == errno.ENOSPC
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]
    engine.submit(one_order(3, nbengine.BUY, 100, 10))  # due again: this snapshot succeeds
    assert engine.snapshot_error is None and engine.bbo().ask_qty == 80
    engine.close()
    recovered = nbengine.Engine.recover(tmp_path)
    assert recovered.recovery.snapshot_seq == 3 and recovered.bbo().ask_qty == 80
    recovered.close()


def test_a_failed_explicit_snapshot_raises_and_leaves_the_engine_consistent(tmp_path):
    files = FaultyFiles(error=errno.ENOSPC, written=0.5)
    engine = nbengine.Engine(wal_dir=tmp_path, wal_options={"files": files})
    engine.submit(one_order(1, nbengine.SELL, 100, 100))
    engine.snapshot()
    engine.submit(one_order(2, nbengine.BUY, 100, 10))
    files.arm("write", 2)
    with pytest.raises(OSError, match="No space left"):
        engine.snapshot()
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]
    engine.submit(one_order(3, nbengine.BUY, 100, 10))
    assert engine.bbo().ask_qty == 80
    engine.close()
    recovered = nbengine.Engine.recover(tmp_path)
    assert recovered.recovery.snapshot_seq == 1 and recovered.bbo().ask_qty == 80
    recovered.snapshot()
    assert recovered.next_seq == 3
    recovered.close()


def corrupt_frame(segment, index):
    """Flip a payload byte of the ``index``-th frame of ``segment``; return that frame's offset."""
    offset = [r.offset for r in scan_segment(segment, newest=True)[1]][index]
    with open(segment, "r+b") as f:
        f.seek(offset + 40)
        byte = f.read(1)
        f.seek(offset + 40)
        f.write(bytes([byte[0] ^ 0x01]))
    return offset


def test_a_second_salvage_keeps_the_first_ones_copies(tmp_path):
    chunks = batches(600, 100)
    with nbengine.Engine(wal_dir=tmp_path) as engine:
        for chunk in chunks[:4]:
            engine.submit(chunk)
    segment = list_segments(tmp_path)[0]
    corrupt_frame(segment, 3)
    first_copy = open(segment, "rb").read()
    with nbengine.Engine.recover(tmp_path, salvage=True) as salvaged:
        assert salvaged.next_seq == 300
        salvaged.submit(chunks[3])
        salvaged.submit(chunks[4])
    corrupt_frame(segment, 4)
    second_copy = open(segment, "rb").read()
    with nbengine.Engine.recover(tmp_path, salvage=True) as salvaged:
        assert salvaged.next_seq == 400 and salvaged.state_hash() == clean_hashes(chunks[:4])[-1]
    corrupt = sorted(name for name in os.listdir(tmp_path) if name.endswith(".corrupt"))
    assert corrupt == [os.path.basename(segment) + ".1.corrupt", os.path.basename(segment) + ".corrupt"]
    assert open(segment + ".corrupt", "rb").read() == first_copy
    assert open(segment + ".1.corrupt", "rb").read() == second_copy


def test_salvage_of_a_log_whose_first_segment_header_is_corrupt(tmp_path):
    chunks = batches(300, 100)
    with nbengine.Engine(wal_dir=tmp_path, stp="cancel-both", wal_options={"segment_bytes": 1000}) as engine:
        for chunk in chunks[:2]:
            engine.submit(chunk)
    first, second = list_segments(tmp_path)
    with open(first, "r+b") as f:
        f.seek(20)
        f.write(b"\xff")
    with pytest.raises(WalCorruptionError, match=f"{first} at byte 0: bad segment header"):
        nbengine.Engine.recover(tmp_path)
    with pytest.raises(WalError, match="Engine.recover"):
        nbengine.Engine(wal_dir=tmp_path)
    with nbengine.Engine.recover(tmp_path, salvage=True, stp="cancel-both") as salvaged:
        assert salvaged.next_seq == 0 and salvaged.live_orders == 0 and salvaged.stp == "cancel-both"
        assert salvaged.recovery.corruption.segment == first
        salvaged.submit(chunks[2])
    assert os.path.exists(first + ".corrupt") and os.path.exists(second + ".corrupt")
    with nbengine.Engine.recover(tmp_path) as again:
        assert again.next_seq == 100 and again.stp == "cancel-both"


@pytest.mark.parametrize("arguments", [{"durability": "fast"}, {"durability": "none"}, {"snapshot_every": 0},
                                       {"wal_options": {"segment_byte": 1000}}])
def test_recover_checks_its_arguments_before_it_changes_a_file(tmp_path, arguments):
    chunks = batches(400, 100)
    with nbengine.Engine(wal_dir=tmp_path) as engine:
        for chunk in chunks:
            engine.submit(chunk)
    segment = list_segments(tmp_path)[0]
    corrupt_frame(segment, 2)
    with open(segment, "ab") as f:
        f.write(b"torn")
    before = {name: open(tmp_path / name, "rb").read() for name in os.listdir(tmp_path)}
    for salvage in (True, False):
        with pytest.raises(ValueError):
            nbengine.Engine.recover(tmp_path, salvage=salvage, **arguments)
    assert {name: open(tmp_path / name, "rb").read() for name in os.listdir(tmp_path)} == before


def test_an_engine_without_a_log_leaves_no_lock_file(tmp_path):
    with pytest.raises(ValueError, match="leave wal_dir out"):
        nbengine.Engine(wal_dir=tmp_path / "wal", durability="none")
    assert not (tmp_path / "wal").exists()
    (tmp_path / "wal").mkdir()
    with pytest.raises(ValueError, match="durability: expected one of"):
        nbengine.Engine(wal_dir=tmp_path / "wal", durability="fast")
    assert os.listdir(tmp_path / "wal") == []


@pytest.mark.parametrize("durability", ["group", "async"])
@pytest.mark.parametrize("how", ["batches", "single orders", "both"])
def test_orders_refused_for_the_memory_budget_stay_refused_after_recovery(tmp_path, how, durability):
    # Whether an order fits the budget depends on how the state grew, which the log does not
    # hold: the log records the refusals (RECORD_REFUSED), so replay refuses them again
    # instead of accepting them into the books.
    chunks = batches(2_000, 250, symbols=16)  # more books than the first arrays hold
    engine = nbengine.Engine(wal_dir=tmp_path, durability=durability, memory_budget=nbengine.Engine().nbytes)
    refused = 0
    for index, chunk in enumerate(chunks):
        if how == "batches" or (how == "both" and index % 2):
            results = [engine.submit(chunk)]
        else:
            results = [engine.submit_one(**order) for order in order_rows([chunk])]
        refused += sum(result.events.column("reason").to_pylist().count(codes.MEMORY_BUDGET) for result in results)
    assert refused > 100
    expected = engine.state_hash()
    engine.close()
    recovered = nbengine.Engine.recover(tmp_path)
    assert recovered.state_hash() == expected
    assert recovered.next_seq == 2_000
    recovered.close()
