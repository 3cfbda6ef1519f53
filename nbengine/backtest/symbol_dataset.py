"""Write result tables as a hive-partitioned Parquet dataset, one directory per symbol.

Each table's rows are ordered by symbol (``pyarrow.compute.array_sort_indices``, a stable
sort, then one ``take``), so every symbol's rows are one contiguous slice. A slice is
copied behind its symbol's buffer, and a buffer that reaches ``ROWS_PER_GROUP`` rows is
written as one row group of ``symbol=<s>/part-<i>.parquet`` (a
``pyarrow.parquet.ParquetWriter`` per symbol; the ``symbol`` column is the directory
name, as ``pyarrow.dataset.write_dataset`` writes hive partitions); a slice that alone
fills a row group is written as it is. The buffers together hold at most
``max_buffered_bytes``: beyond it the largest are written early, as smaller row groups,
so memory does not grow with the input. Everything runs in the caller's thread, so
errors are raised where they happen.
"""

import collections
import urllib.parse
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

SYMBOL_PARTITIONING = ds.partitioning(pa.schema([("symbol", pa.int32())]), flavor="hive")
"""How result directories are named and read back (``symbol=<s>/``)."""

ROWS_PER_GROUP = 1 << 15
"""Rows a symbol's buffer gathers before it is written as a row group (fewer at the end,
or when the buffers outgrow their bound)."""

MAX_BUFFERED_BYTES = 128 << 20
"""Default bound on the bytes the symbols' buffers of one dataset hold together."""

MAX_OPEN_FILES = 512
"""Files open at once; writing to one more closes the least recently written, and that
symbol's next rows go to a new ``part-<i+1>.parquet``."""


class _SymbolBuffer:
    """One symbol's rows not yet written: an array per column, filled up to ``rows``.

    The arrays are kept after a full buffer is written (the symbol fills them again)
    and dropped when the buffer is written to make room for others.
    """

    def __init__(self, symbol):
        self.symbol = symbol
        self.columns = None
        self.rows = 0
        self.files = 0

    def capacity(self):
        return 0 if self.columns is None else self.columns[0].shape[0]


class SymbolDataset:
    """A sink like ``pyarrow.parquet.ParquetWriter`` (``write_table``, ``close``) writing ``directory/symbol=<s>/``.

    Parameters
    ----------
    directory : str or Path
        Created; must be new or empty (``FileExistsError`` otherwise).
    schema : pyarrow.Schema
        Of every table written: fixed-width numeric columns, one of them ``symbol``
        (int32), which becomes the directory name.
    parquet_options : dict
        ``pyarrow.parquet.ParquetWriter`` options (compression, statistics, ...).
    max_buffered_bytes : int
        Bytes the symbols' buffers hold at most together (`buffered_bytes`).
    convert : callable, optional
        Made with the file schema (``schema`` without ``symbol``); returns a converter of
        each row group before it is written, with a ``schema_out`` attribute
        (``nbengine.readable.Readable``: readable result files).
    names : sequence of str, optional
        Directory names by symbol id (``symbol=AAPL/``); default the id.
    """

    def __init__(self, directory, schema, parquet_options, max_buffered_bytes=MAX_BUFFERED_BYTES, *,
                 convert=None, names=None):
        self._directory = Path(directory)
        if self._directory.exists() and any(self._directory.iterdir()):
            raise FileExistsError(f"{self._directory} already holds files")
        self._directory.mkdir(parents=True, exist_ok=True)
        self._schema = schema
        self._file_schema = schema.remove(schema.get_field_index("symbol"))
        self._dtypes = [np.dtype(field.type.to_pandas_dtype()) for field in self._file_schema]
        self._row_bytes = sum(dtype.itemsize for dtype in self._dtypes)
        self._options = parquet_options
        self._convert = None if convert is None else convert(self._file_schema)
        self._names = names
        self._max_buffered_bytes = max_buffered_bytes
        self._max_buffered_rows = max_buffered_bytes // self._row_bytes
        self._buffers = {}
        self._writers = collections.OrderedDict()
        self.buffered_bytes = 0
        """Bytes the buffers' arrays hold now."""

    def write_table(self, table):
        """Buffer ``table``'s rows by symbol and write the buffers that are full.

        Every row of a symbol keeps its order, within the table and after earlier tables.
        """
        if not table.schema.equals(self._schema):
            raise ValueError(f"table schema differs from the dataset's:\n{table.schema}\nexpected\n{self._schema}")
        if table.num_rows == 0:
            return
        order = pc.array_sort_indices(table.column("symbol"))
        rows = table.select(["symbol", *self._file_schema.names]).take(order).combine_chunks()
        symbols, *columns = (column.chunk(0).to_numpy() for column in rows.columns)
        starts = np.flatnonzero(np.diff(symbols)) + 1
        for start, end in zip([0, *starts.tolist()], [*starts.tolist(), symbols.shape[0]]):
            self._append(self._buffer(int(symbols[start])), [column[start:end] for column in columns])

    def _buffer(self, symbol):
        buffer = self._buffers.get(symbol)
        if buffer is None:
            buffer = self._buffers[symbol] = _SymbolBuffer(symbol)
        return buffer

    def _append(self, buffer, pieces):
        """Copy ``pieces`` (one slice per column) behind ``buffer``'s rows; write what is full."""
        more = pieces[0].shape[0]
        if buffer.rows == 0 and more >= ROWS_PER_GROUP:
            self._write(buffer.symbol, pieces)
            return
        if buffer.rows + more > buffer.capacity() and not self._reserve(buffer, more):
            self._write(buffer.symbol, pieces)
            return
        end = buffer.rows + more
        for piece, target in zip(pieces, buffer.columns):
            target[buffer.rows : end] = piece
        buffer.rows = end
        if buffer.rows >= ROWS_PER_GROUP:
            self._write(buffer.symbol, [column[: buffer.rows] for column in buffer.columns])
            buffer.rows = 0

    def _reserve(self, buffer, more):
        """Grow ``buffer`` to take ``more`` rows, first emptying the largest buffers (``buffer``
        too) until that fits the bound; False (``buffer`` written) when ``more`` rows alone do not fit.

        A buffer is first made for its share of the bound among the symbols seen so far (at
        most ``ROWS_PER_GROUP`` rows) and doubles from there.
        """
        if more > self._max_buffered_rows:
            self._empty(buffer)
            return False
        while True:
            fair_share = self._max_buffered_rows // len(self._buffers)
            wanted = min(max(2 * buffer.capacity(), fair_share), ROWS_PER_GROUP, self._max_buffered_rows)
            capacity = max(buffer.rows + more, wanted)
            if self.buffered_bytes + (capacity - buffer.capacity()) * self._row_bytes <= self._max_buffered_bytes:
                self._grow(buffer, capacity)
                return True
            held = [other for other in self._buffers.values() if other.columns is not None]
            self._empty(max(held, key=lambda other: (other.capacity(), other.rows)))

    def _grow(self, buffer, capacity):
        grown = [np.empty(capacity, dtype=dtype) for dtype in self._dtypes]
        for old, new in zip(buffer.columns or (), grown):
            new[: buffer.rows] = old[: buffer.rows]
        self.buffered_bytes += (capacity - buffer.capacity()) * self._row_bytes
        buffer.columns = grown

    def _empty(self, buffer):
        """Write ``buffer``'s rows (if any) and drop its arrays."""
        if buffer.rows:
            self._write(buffer.symbol, [column[: buffer.rows] for column in buffer.columns])
        self.buffered_bytes -= buffer.capacity() * self._row_bytes
        buffer.columns = None
        buffer.rows = 0

    def _write(self, symbol, columns):
        """Write ``columns`` (numpy arrays) as one row group of ``symbol``'s current file."""
        table = pa.Table.from_arrays(columns, schema=self._file_schema)
        if self._convert is not None:
            table = self._convert(table)
        self._writer(symbol).write_table(table, row_group_size=table.num_rows)

    def _writer(self, symbol):
        """``symbol``'s open file, opened (and the least recently written one closed) if need be."""
        writer = self._writers.get(symbol)
        if writer is not None:
            self._writers.move_to_end(symbol)
            return writer
        if len(self._writers) >= MAX_OPEN_FILES:
            self._writers.popitem(last=False)[1].close()
        buffer = self._buffers[symbol]
        name = symbol if self._names is None else urllib.parse.quote(self._names[symbol], safe="")
        directory = self._directory / f"symbol={name}"
        directory.mkdir(exist_ok=True)
        schema = self._file_schema if self._convert is None else self._convert.schema_out
        writer = pq.ParquetWriter(directory / f"part-{buffer.files}.parquet", schema, **self._options)
        buffer.files += 1
        self._writers[symbol] = writer
        return writer

    def close(self):
        """Write every buffered row and the files' footers (the files are closed even if that fails)."""
        try:
            for buffer in self._buffers.values():
                self._empty(buffer)
        finally:
            self._close_files()

    def _close_files(self):
        while self._writers:
            self._writers.popitem(last=False)[1].close()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, traceback):
        if exc_type is None:
            self.close()
        else:
            self._close_files()


__all__ = ["MAX_BUFFERED_BYTES", "MAX_OPEN_FILES", "ROWS_PER_GROUP", "SYMBOL_PARTITIONING", "SymbolDataset"]
