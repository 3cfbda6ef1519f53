"""Write result tables as a hive-partitioned Parquet dataset, one directory per symbol.

pyarrow's dataset writer splits rows by symbol, keeps per-symbol row groups large and
writes ``symbol=<s>/part-<i>.parquet``; it pulls record batches, so a thread runs it
over a bounded queue that ``write_table`` fills.
"""

import queue
import threading

import pyarrow as pa
import pyarrow.dataset as ds

SYMBOL_PARTITIONING = ds.partitioning(pa.schema([("symbol", pa.int32())]), flavor="hive")
"""How result directories are named and read back (``symbol=<s>/``)."""

ROWS_PER_GROUP = 1 << 15
"""Rows a symbol's file gathers before it writes a row group (fewer at the end)."""

_DONE = object()


class SymbolDataset:
    """A sink like ``pyarrow.parquet.ParquetWriter`` (``write_table``, ``close``) writing ``directory/symbol=<s>/``.

    Parameters
    ----------
    directory : str or Path
        Created; must not hold files of the same names.
    schema : pyarrow.Schema
        Of every table written; its ``symbol`` column becomes the directory name.
    parquet_options : dict
        ``pyarrow.parquet.ParquetWriter`` options (compression, statistics, ...).
    depth : int
        Record batches queued for the writer thread at most; ``write_table`` waits beyond.
    """

    def __init__(self, directory, schema, parquet_options, depth=8):
        self._schema = schema
        self._ready = queue.Queue(maxsize=depth)
        self._error = None
        options = ds.ParquetFileFormat().make_write_options(**parquet_options)
        self._thread = threading.Thread(
            target=self._write_all, args=(str(directory), options), name="nbengine-symbol-dataset", daemon=True
        )
        self._thread.start()

    def _batches(self):
        while True:
            batch = self._ready.get()
            if batch is _DONE:
                return
            yield batch

    def _write_all(self, directory, options):
        try:
            ds.write_dataset(
                self._batches(),
                directory,
                schema=self._schema,
                format="parquet",
                partitioning=SYMBOL_PARTITIONING,
                basename_template="part-{i}.parquet",
                file_options=options,
                preserve_order=True,
                min_rows_per_group=ROWS_PER_GROUP,
                max_partitions=1 << 20,
                existing_data_behavior="error",
            )
        except BaseException as error:  # raised in the caller by write_table / close
            self._error = error

    def _put(self, item):
        while True:
            if self._error is not None:
                raise self._error
            try:
                self._ready.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def write_table(self, table):
        """Queue ``table``'s rows (every row of a symbol keeps its order)."""
        for batch in table.to_batches():
            self._put(batch)

    def close(self):
        """Write what is queued and the files' footers; raise the writer's error, if any."""
        self._put(_DONE)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
