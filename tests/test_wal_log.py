"""WAL segments and frames, in the manner of LevelDB's log_test.cc: what the reader accepts,
what is a torn tail (a clean end) and what is corruption (an error naming segment and offset)."""

import os
import shutil
import struct

import numpy as np
import pytest
from hypothesis import given
from crc32c import crc32c
from hypothesis import strategies as st

import nbengine
from nbengine.wal import WalConfigError, WalCorruptionError
from nbengine.schema import ORDER_DTYPES
from nbengine.state import OrderColumns
from nbengine.wal.format import (
    FRAME_HEADER,
    SEGMENT_HEADER,
    WalConfig,
    decode_payload,
    MAX_ROWS_PER_FRAME,
    check_row,
    encode_frame_header,
    encode_payload,
    encode_rows_payload,
    encode_segment_header,
)
from nbengine.wal.reader import WalReader, list_segments, scan_segment
from nbengine.wal.writer import WalWriter

from .wal_support import batches


def write_log(directory, chunks, **options):
    """Log ``chunks`` through an engine in group mode; return the engine (closed)."""
    with nbengine.Engine(wal_dir=directory, **options) as engine:
        for chunk in chunks:
            engine.submit(chunk)
    return engine


def read_all(directory, **options):
    reader = WalReader(directory, **options)
    return reader, list(reader.records())


def frame_offsets(path):
    _, records, _, _ = scan_segment(path, newest=True)
    return [r.offset for r in records]


def test_empty_log_reads_nothing(tmp_path):
    write_log(tmp_path, [])
    reader, records = read_all(tmp_path)
    assert records == [] and reader.end_seq == 0 and reader.torn is None
    assert reader.config == WalConfig("none", 1 << 20, 1 << 53)


def test_read_write_roundtrip(tmp_path):
    chunks = batches(300, 100)
    write_log(tmp_path, chunks)
    reader, records = read_all(tmp_path)
    assert [(r.first_seq, r.rows) for r in records] == [(0, 100), (100, 100), (200, 100)]
    for record, chunk in zip(records, chunks):
        columns = decode_payload(record.payload)
        for name, values in chunk.items():
            np.testing.assert_array_equal(getattr(columns, name), values)
    assert reader.end_seq == 300


WORKED_EXAMPLE_LOG_ID = bytes.fromhex("00112233445566778899aabbccddeeff")


def test_worked_example_bytes_match_the_spec(tmp_path):
    writer = WalWriter(tmp_path, WalConfig("none", 1 << 20, 1 << 53), WORKED_EXAMPLE_LOG_ID, 0)
    writer.append_order((1, 7, 0, nbengine.BUY, nbengine.LIMIT, nbengine.GTC, 100, 5, 0), 0)
    writer.close()
    data = (tmp_path / "00000000000000000000.wal").read_bytes()
    assert len(data) == 696
    assert data[:16].hex(" ") == "4e 42 45 4e 47 57 41 4c 02 00 00 00 00 00 00 00"
    assert data[32:64].hex(" ") == (
        "00 00 00 00 00 00 00 00 00 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff 00 00 00 00 79 5c bc 5a"
    )
    assert data[64:80].hex(" ") == "fd de f2 e4 cf 85 05 2c 58 02 00 00 01 00 00 00"
    with nbengine.Engine(wal_dir=tmp_path / "engine") as engine:
        engine.submit_one(1, 7, nbengine.BUY, nbengine.LIMIT, 100, 5)
    logged = (tmp_path / "engine" / "00000000000000000000.wal").read_bytes()
    assert len(logged) == 696 and logged[96:] == data[96:] and logged[40:56] != WORKED_EXAMPLE_LOG_ID


def test_rotation_preserves_sequence(tmp_path):
    write_log(tmp_path, batches(2000, 100), wal_options={"segment_bytes": 12_000})
    segments = list_segments(tmp_path)
    assert len(segments) >= 5
    reader, records = read_all(tmp_path)
    assert [r.first_seq for r in records] == list(range(0, 2000, 100))
    for path in segments:
        first = int(os.path.basename(path).split(".")[0])
        _, in_segment, _, _ = scan_segment(path, newest=False)
        assert in_segment[0].first_seq == first


def test_truncated_trailing_record_is_ignored_at_every_offset(tmp_path):
    source = tmp_path / "log"
    write_log(source, batches(60, 20))
    segment = list_segments(source)[0]
    data = open(segment, "rb").read()
    last = frame_offsets(segment)[-1]
    cut_dir = tmp_path / "cut"
    cut_dir.mkdir()
    cut_path = cut_dir / os.path.basename(segment)
    for cut in range(last + 1, len(data)):
        cut_path.write_bytes(data[:cut])
        reader, records = read_all(cut_dir)
        assert [r.first_seq for r in records] == [0, 20], cut
        assert reader.torn is not None and reader.torn.offset == last, cut
        assert reader.end_seq == 40


def test_zero_filled_tail_is_torn(tmp_path):
    write_log(tmp_path, batches(40, 20))
    segment = list_segments(tmp_path)[0]
    with open(segment, "ab") as f:
        f.write(bytes(5000))
    reader, records = read_all(tmp_path)
    assert len(records) == 2 and reader.torn.offset == os.path.getsize(segment) - 5000


def test_every_bit_flip_is_detected(tmp_path):
    source = tmp_path / "log"
    with nbengine.Engine(wal_dir=source) as engine:
        engine.submit_one(1, 7, nbengine.BUY, nbengine.LIMIT, 100, 5)
        engine.submit_one(2, 8, nbengine.SELL, nbengine.LIMIT, 101, 3, account=4)
    segment = list_segments(source)[0]
    data = bytearray(open(segment, "rb").read())
    frames = frame_offsets(segment)
    flipped = tmp_path / "flip"
    flipped.mkdir()
    path = flipped / os.path.basename(segment)
    silently_accepted = []
    for byte in range(len(data)):
        expected_offset = 0 if byte < SEGMENT_HEADER.size else max(o for o in frames if o <= byte)
        for bit in range(8):
            data[byte] ^= 1 << bit
            path.write_bytes(data)
            header, records, torn, corruption = scan_segment(str(path), newest=True)
            if corruption is None or corruption.offset != expected_offset or torn is not None:
                silently_accepted.append((byte, bit))
            data[byte] ^= 1 << bit
    assert silently_accepted == [], f"{len(silently_accepted)} flips not reported as corruption: {silently_accepted[:5]}"


def test_checksum_mismatch_mid_segment_is_corruption(tmp_path):
    write_log(tmp_path, batches(60, 20))
    segment = list_segments(tmp_path)[0]
    second = frame_offsets(segment)[1]
    with open(segment, "r+b") as f:
        f.seek(second + FRAME_HEADER.size + 100)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0x10]))
    with pytest.raises(WalCorruptionError) as info:
        read_all(tmp_path)
    assert info.value.segment == segment and info.value.offset == second
    assert f"{segment} at byte {second}" in str(info.value)
    reader, records = read_all(tmp_path, salvage=True)
    assert [r.first_seq for r in records] == [0] and reader.corruption.offset == second


def test_corrupt_last_frame_is_not_taken_for_a_torn_tail(tmp_path):
    write_log(tmp_path, batches(60, 20))
    segment = list_segments(tmp_path)[0]
    last = frame_offsets(segment)[-1]
    with open(segment, "r+b") as f:
        f.seek(last + 8)  # the length field: a flip could make it run past the end
        f.write(b"\xff\xff\x00\x00")
    with pytest.raises(WalCorruptionError, match=f"at byte {last}: frame header checksum"):
        read_all(tmp_path)


def test_truncated_segment_header(tmp_path):
    write_log(tmp_path, batches(400, 100), wal_options={"segment_bytes": 5_000})
    segments = list_segments(tmp_path)
    assert len(segments) >= 3
    newest_name = os.path.basename(segments[-1])
    # newest: a crash while it was being created; it holds no frame, a clean end
    with open(segments[-1], "r+b") as f:
        f.truncate(20)
    reader, records = read_all(tmp_path)
    assert reader.torn.segment == segments[-1] and reader.torn.offset is None
    assert reader.end_seq == int(newest_name.split(".")[0])
    # any other: corruption at offset 0
    with open(segments[1], "r+b") as f:
        f.truncate(20)
    with pytest.raises(WalCorruptionError, match="at byte 0: bad segment header"):
        read_all(tmp_path)


def test_empty_segment(tmp_path):
    write_log(tmp_path, batches(200, 100), wal_options={"segment_bytes": 1000})
    segments = list_segments(tmp_path)
    open(segments[-1], "wb").close()
    reader, records = read_all(tmp_path)
    assert reader.torn.offset is None and [r.first_seq for r in records] == [0]
    open(segments[0], "wb").close()
    with pytest.raises(WalCorruptionError, match=f"{segments[0]} at byte 0"):
        read_all(tmp_path)


def test_header_only_segment_in_the_middle_is_corruption(tmp_path):
    write_log(tmp_path, batches(300, 100), wal_options={"segment_bytes": 1000})
    segments = list_segments(tmp_path)
    with open(segments[1], "r+b") as f:
        f.truncate(SEGMENT_HEADER.size)
    with pytest.raises(WalCorruptionError, match="holds no frame"):
        read_all(tmp_path)


def test_missing_middle_segment_is_corruption(tmp_path):
    write_log(tmp_path, batches(400, 100), wal_options={"segment_bytes": 1000})
    segments = list_segments(tmp_path)
    os.remove(segments[1])
    with pytest.raises(WalCorruptionError, match=f"{segments[2]} at byte 0: segment starts at seq 200, expected 100"):
        read_all(tmp_path)
    reader, records = read_all(tmp_path, salvage=True)
    assert [r.first_seq for r in records] == [0]


def test_missing_first_segment_is_corruption(tmp_path):
    write_log(tmp_path, batches(200, 100), wal_options={"segment_bytes": 1000})
    os.remove(list_segments(tmp_path)[0])
    with pytest.raises(WalCorruptionError, match="the log starts at seq 100"):
        read_all(tmp_path)


def test_segment_named_unlike_its_header_is_corruption(tmp_path):
    write_log(tmp_path, batches(100, 100))
    segment = list_segments(tmp_path)[0]
    shutil.move(segment, os.path.join(tmp_path, "00000000000000000005.wal"))
    with pytest.raises(WalCorruptionError, match="the file name says 5"):
        read_all(tmp_path)


def write_version_1_log(directory, chunks):
    """A log of format version 1 (48-byte segment header, no log id), as the release before wrote it."""
    os.makedirs(directory)
    fields = (b"NBENGWAL", 1, 0, 1 << 20, 1 << 53, 0, 0)
    body = struct.pack("<8sIIqqqI", *fields)
    data = body + struct.pack("<I", crc32c(body))
    seq = 0
    for chunk in chunks:
        payload = encode_payload(nbengine.prepare(chunk)).to_pybytes()
        data += encode_frame_header(payload, seq, len(chunk["ts"]), 0) + payload  # version 1: unseeded CRC32C
        seq += len(chunk["ts"])
    with open(os.path.join(directory, "00000000000000000000.wal"), "wb") as f:
        f.write(data)


def test_a_version_1_log_is_refused_by_name(tmp_path):
    write_version_1_log(tmp_path / "old", batches(200, 100))
    message = "00000000000000000000.wal: WAL format version 1, this nbengine reads version 2 only"
    with pytest.raises(WalConfigError, match=message):
        read_all(tmp_path / "old")
    with pytest.raises(WalConfigError, match=message):
        nbengine.Engine.recover(tmp_path / "old")
    assert sorted(os.listdir(tmp_path / "old")) == ["00000000000000000000.wal", "LOCK"]


def test_a_later_format_version_is_refused(tmp_path):
    write_log(tmp_path, batches(100, 100))
    segment = list_segments(tmp_path)[0]
    header = bytearray(open(segment, "rb").read(SEGMENT_HEADER.size))
    header[8] = 3
    header[60:64] = crc32c(bytes(header[:60])).to_bytes(4, "little")
    with open(segment, "r+b") as f:
        f.write(header)
    with pytest.raises(WalConfigError, match="format version 3, this nbengine reads version 2 only"):
        read_all(tmp_path)


def test_a_frame_copied_from_another_log_is_corruption(tmp_path):
    chunks, others = batches(300, 100, seed=1), batches(300, 100, seed=2)
    write_log(tmp_path / "log", chunks)
    write_log(tmp_path / "other", others)  # same settings, same seqs and sizes
    segment, foreign = list_segments(tmp_path / "log")[0], list_segments(tmp_path / "other")[0]
    last, foreign_last = frame_offsets(segment)[-1], frame_offsets(foreign)[-1]
    data = open(segment, "rb").read()[:last] + open(foreign, "rb").read()[foreign_last:]
    with open(segment, "wb") as f:
        f.write(data)
    with pytest.raises(WalCorruptionError, match=f"{segment} at byte {last}: frame header checksum mismatch"):
        read_all(tmp_path / "log")


def test_a_segment_copied_from_another_log_is_corruption(tmp_path):
    options = {"wal_options": {"segment_bytes": 1000}}
    write_log(tmp_path / "log", batches(300, 100, seed=1), **options)
    write_log(tmp_path / "other", batches(300, 100, seed=2), **options)
    segments, foreign = list_segments(tmp_path / "log"), list_segments(tmp_path / "other")
    assert [os.path.basename(p) for p in segments] == [os.path.basename(p) for p in foreign]
    shutil.copyfile(foreign[1], segments[1])
    with pytest.raises(WalCorruptionError, match=f"{segments[1]} at byte 0: segment of another log"):
        read_all(tmp_path / "log")
    with pytest.raises(WalCorruptionError, match="segment of another log"):
        nbengine.Engine.recover(tmp_path / "log")


def test_a_log_keeps_its_identity_across_recovery_and_snapshots(tmp_path):
    chunks = batches(300, 100)
    write_log(tmp_path, chunks[:1], wal_options={"segment_bytes": 1000})
    log_id = scan_segment(list_segments(tmp_path)[0], newest=True)[0].log_id
    with nbengine.Engine.recover(tmp_path, wal_options={"segment_bytes": 1000}) as engine:
        engine.submit(chunks[1])
        engine.snapshot()
        engine.submit(chunks[2])
    assert {scan_segment(p, newest=True)[0].log_id for p in list_segments(tmp_path)} == {log_id}
    recovered = nbengine.Engine.recover(tmp_path)
    assert recovered.recovery.log_id == log_id and recovered.next_seq == 300
    recovered.close()


def test_segments_with_different_settings_are_corruption(tmp_path):
    write_log(tmp_path, batches(200, 100), wal_options={"segment_bytes": 1000})
    segments = list_segments(tmp_path)
    log_id = scan_segment(segments[0], newest=False)[0].log_id
    with open(segments[1], "r+b") as f:
        f.write(encode_segment_header(WalConfig("cancel-both", 1 << 20, 1 << 53), 100, log_id))
    with pytest.raises(WalCorruptionError, match="differ from earlier segments"):
        read_all(tmp_path)


_ORDER_ROW = st.tuples(
    st.integers(-(2**63), 2**63 - 1),
    st.integers(-(2**63), 2**63 - 1),
    st.integers(-(2**31), 2**31 - 1),
    *[st.integers(-128, 127)] * 3,
    *[st.integers(-(2**63), 2**63 - 1)] * 3,
)


@given(st.lists(_ORDER_ROW, min_size=1, max_size=MAX_ROWS_PER_FRAME))
def test_orders_payload_equals_the_arrow_message_of_their_columns(rows):
    columns = OrderColumns(*(np.array(values, dtype=dtype) for values, dtype in zip(zip(*rows), ORDER_DTYPES.values())))
    assert encode_rows_payload(rows) == encode_payload(columns).to_pybytes()


def test_a_row_out_of_its_dtypes_range_is_refused():
    check_row((1, 2, 0, 127, 0, 0, 100, 5, 0))
    with pytest.raises(OverflowError, match="does not fit"):
        check_row((1, 2, 0, 300, 0, 0, 100, 5, 0))
