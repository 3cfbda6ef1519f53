"""The by-symbol result writer: the layout of pyarrow's dataset writer, rows in order, bounded buffers, errors."""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from nbengine.backtest import symbol_dataset
from nbengine.backtest.run import WRITER_OPTIONS
from nbengine.schema import EVENTS_SCHEMA
from nbengine.backtest.symbol_dataset import SYMBOL_PARTITIONING, SymbolDataset

OPTIONS = {**WRITER_OPTIONS, "compression": "snappy"}


def _events(rows, symbols, seed, first_seq=0):
    """An events table of ``rows`` rows over ``symbols`` symbols, in ``seq`` order."""
    rng = np.random.default_rng(seed)
    columns = {
        "seq": np.arange(first_seq, first_seq + rows, dtype=np.int64),
        "ts": np.sort(rng.integers(0, 1 << 40, rows)),
        "symbol": rng.integers(0, symbols, rows).astype(np.int32),
        "order_id": rng.integers(0, 1 << 30, rows),
        "event": rng.integers(0, 5, rows).astype(np.int8),
        "reason": rng.integers(0, 9, rows).astype(np.int16),
        "price": rng.integers(90, 110, rows),
        "leaves_qty": rng.integers(0, 100, rows),
    }
    return pa.Table.from_pydict(columns, schema=EVENTS_SCHEMA)


def _tables(count, rows, symbols, seed=0):
    return [_events(rows, symbols, seed + i, first_seq=i * rows) for i in range(count)]


def _symbol_files(directory):
    """Symbol -> its files' rows, files in the order they were written (``part-0``, ``part-1``, ...)."""
    found = {}
    for folder in directory.iterdir():
        files = sorted(folder.glob("part-*.parquet"), key=lambda path: int(path.stem.split("-")[1]))
        found[int(folder.name.split("=")[1])] = pa.concat_tables([pq.read_table(path) for path in files])
    return found


def _assert_rows_in_processing_order(directory, tables):
    whole = pa.concat_tables(tables)
    written = _symbol_files(directory)
    assert sorted(written) == sorted(set(whole.column("symbol").to_pylist()))
    for symbol, rows in written.items():
        want = whole.filter(pc.equal(whole.column("symbol"), symbol)).drop_columns(["symbol"])
        assert rows.equals(want), symbol


def test_files_equal_pyarrows_dataset_writer(tmp_path):
    tables = _tables(12, 9_000, symbols=7)
    with SymbolDataset(tmp_path / "new", EVENTS_SCHEMA, OPTIONS) as sink:
        for table in tables:
            sink.write_table(table)
    ds.write_dataset(
        pa.concat_tables(tables), tmp_path / "old", format="parquet", partitioning=SYMBOL_PARTITIONING,
        basename_template="part-{i}.parquet", preserve_order=True,
        file_options=ds.ParquetFileFormat().make_write_options(**OPTIONS),
        min_rows_per_group=symbol_dataset.ROWS_PER_GROUP,
    )
    new = sorted(path.relative_to(tmp_path / "new") for path in (tmp_path / "new").rglob("*.parquet"))
    old = sorted(path.relative_to(tmp_path / "old") for path in (tmp_path / "old").rglob("*.parquet"))
    assert new == old
    for path in new:
        written, expected = pq.read_table(tmp_path / "new" / path), pq.read_table(tmp_path / "old" / path)
        assert written.schema.equals(expected.schema, check_metadata=True)
        assert written.equals(expected)
    read_new = ds.dataset(tmp_path / "new", partitioning="hive").to_table().sort_by("seq")
    read_old = ds.dataset(tmp_path / "old", partitioning="hive").to_table().sort_by("seq")
    assert read_new.equals(read_old)
    _assert_rows_in_processing_order(tmp_path / "new", tables)


def test_full_buffers_become_row_groups_of_rows_per_group(tmp_path, monkeypatch):
    monkeypatch.setattr(symbol_dataset, "ROWS_PER_GROUP", 1000)
    tables = _tables(10, 1_500, symbols=3)
    with SymbolDataset(tmp_path / "out", EVENTS_SCHEMA, OPTIONS) as sink:
        for table in tables:
            sink.write_table(table)
    for folder in (tmp_path / "out").iterdir():
        metadata = pq.ParquetFile(folder / "part-0.parquet").metadata
        groups = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
        assert all(rows >= 1000 for rows in groups[:-1]) and groups[-1] > 0
    _assert_rows_in_processing_order(tmp_path / "out", tables)


def test_many_symbols_with_few_open_files(tmp_path, monkeypatch):
    monkeypatch.setattr(symbol_dataset, "MAX_OPEN_FILES", 5)
    monkeypatch.setattr(symbol_dataset, "ROWS_PER_GROUP", 64)
    tables = _tables(6, 20_000, symbols=300)
    with SymbolDataset(tmp_path / "out", EVENTS_SCHEMA, OPTIONS) as sink:
        for table in tables:
            sink.write_table(table)
    assert any((tmp_path / "out" / "symbol=0").glob("part-1.parquet"))
    _assert_rows_in_processing_order(tmp_path / "out", tables)
    read = ds.dataset(tmp_path / "out", partitioning="hive").to_table()
    assert read.num_rows == sum(table.num_rows for table in tables)


def test_empty_tables_write_nothing(tmp_path):
    with SymbolDataset(tmp_path / "out", EVENTS_SCHEMA, OPTIONS) as sink:
        sink.write_table(EVENTS_SCHEMA.empty_table())
    assert (tmp_path / "out").is_dir() and not any((tmp_path / "out").iterdir())
    tables = [EVENTS_SCHEMA.empty_table(), _events(500, 4, seed=1), EVENTS_SCHEMA.empty_table()]
    with SymbolDataset(tmp_path / "mixed", EVENTS_SCHEMA, OPTIONS) as sink:
        for table in tables:
            sink.write_table(table)
    _assert_rows_in_processing_order(tmp_path / "mixed", tables)


@pytest.mark.parametrize("bound_rows", [1, 2_000, 20_000])
def test_buffers_never_hold_more_than_the_bound(tmp_path, monkeypatch, bound_rows):
    row_bytes = sum(np.dtype(field.type.to_pandas_dtype()).itemsize for field in EVENTS_SCHEMA if field.name != "symbol")
    bound = bound_rows * row_bytes
    held = []
    grow = SymbolDataset._grow

    def watched_grow(self, buffer, capacity):
        grow(self, buffer, capacity)
        held.append(self.buffered_bytes)

    monkeypatch.setattr(SymbolDataset, "_grow", watched_grow)
    tables = _tables(8, 3_000, symbols=11) + [_events(5_000, 1, seed=99, first_seq=24_000)]
    with SymbolDataset(tmp_path / "out", EVENTS_SCHEMA, OPTIONS, max_buffered_bytes=bound) as sink:
        for table in tables:
            sink.write_table(table)
            assert sink.buffered_bytes <= bound
    assert all(bytes_held <= bound for bytes_held in held) and (held or bound_rows == 1)
    _assert_rows_in_processing_order(tmp_path / "out", tables)


def test_a_directory_with_files_is_refused(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "symbol=1").mkdir()
    with pytest.raises(FileExistsError, match="already holds files"):
        SymbolDataset(tmp_path / "out", EVENTS_SCHEMA, OPTIONS)


def test_an_error_in_writing_is_raised(tmp_path):
    sink = SymbolDataset(tmp_path / "out", EVENTS_SCHEMA, OPTIONS)
    (tmp_path / "out" / "symbol=2").write_text("in the way")
    sink.write_table(_events(300, 4, seed=3))
    with pytest.raises(OSError):
        sink.close()


def test_an_error_leaves_the_context_with_the_files_closed(tmp_path):
    with pytest.raises(ValueError, match="schema differs"):
        with SymbolDataset(tmp_path / "out", EVENTS_SCHEMA, OPTIONS) as sink:
            sink.write_table(_events(symbol_dataset.ROWS_PER_GROUP + 10, 1, seed=5))
            sink.write_table(_events(10, 1, seed=6).drop_columns(["reason"]))
    assert pq.read_table(tmp_path / "out" / "symbol=0" / "part-0.parquet").num_rows == symbol_dataset.ROWS_PER_GROUP + 10
