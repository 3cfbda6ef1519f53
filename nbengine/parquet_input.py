"""Order batches from Parquet: files, directories, hive-partitioned datasets, symbol subsets.

Files are read one record batch at a time with pyarrow's ``ParquetFile.iter_batches`` and
``pre_buffer=False`` (its default keeps every column chunk read so far until the file is
closed: memory grew by the file's decoded size, 167 MB for 10M orders). A file under a
``symbol=<s>/`` directory whose rows have no symbol column gets one (hive partitioning),
and a selection of symbols skips such files, and row groups whose statistics exclude
every wanted symbol, without decoding them.
"""

import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .schema import ORDER_DTYPES, SchemaError, prepare, to_ticks

__all__ = [
    "parquet_files",
    "hive_value",
    "symbol_source_column",
    "map_columns",
    "ParquetReadError",
    "count_rows_by_symbol",
    "parquet_batches",
]



def parquet_files(paths):
    """The ``.parquet`` files of ``paths`` (files, or directories searched recursively), in order.

    Raises
    ------
    FileNotFoundError
        When a path does not exist or no file is found.
    """
    files = []
    for path in map(Path, paths):
        if path.is_dir():
            files.extend(sorted(path.rglob("*.parquet")))
        elif path.exists():
            files.append(path)
        else:
            raise FileNotFoundError(f"no such file or directory: {path}")
    if not files:
        raise FileNotFoundError(f"no .parquet files under {', '.join(map(str, paths))}")
    return files


def hive_value(path, key):
    """The integer of the innermost ``key=<value>`` directory above ``path``, or None.

    Raises
    ------
    ValueError
        When that value is not an integer (``symbol=AAPL``): symbols are int32, and the
        rows must not silently fall into symbol 0.

    Examples
    --------
    >>> hive_value(Path("orders/symbol=7/part-0.parquet"), "symbol")
    7
    >>> hive_value(Path("orders/part-0.parquet"), "symbol") is None
    True
    """
    for part in reversed(Path(path).parent.parts):
        found = re.fullmatch(rf"{re.escape(key)}=(.*)", part)
        if found:
            value = found.group(1)
            if not re.fullmatch(r"-?\d+", value):
                raise ValueError(
                    f"{path}: partition {part!r}: {key} must be an integer, got {value!r} "
                    f"(give the files a {key} column of int32, or map names to integers)"
                )
            return int(value)
    return None


def symbol_source_column(columns=None):
    """The input column read as ``symbol`` under the column map ``columns`` (see `map_columns`)."""
    return next((source for source, target in (columns or {}).items() if target == "symbol"), "symbol")


def map_columns(batch, columns=None, tick_size=None):
    """Rename ``batch``'s columns onto the order schema and convert float prices to ticks.

    Parameters
    ----------
    batch : pyarrow.RecordBatch
    columns : dict of str to str, optional
        Source column name → order-schema name (e.g. ``{"px": "price", "size": "qty"}``).
        Columns not named keep their names.
    tick_size : float, optional
        When given, ``price`` is an amount of currency, converted with ``nbengine.to_ticks``:
        a price off the tick grid becomes ``PRICE_OFF_TICK`` and the engine rejects that
        row with ``OFF_TICK`` (nothing is rounded).

    Returns
    -------
    pyarrow.RecordBatch

    Raises
    ------
    ValueError
        When a mapped column is missing, a target is not an order-schema column, or two
        columns would end up with the same name.

    Examples
    --------
    >>> b = pa.record_batch({"px": [100.25, 100.26], "size": [1, 2]})
    >>> map_columns(b, {"px": "price", "size": "qty"}, tick_size=0.05).column("price").to_pylist()[0]
    2005
    """
    columns = columns or {}
    names = batch.schema.names
    for source, target in columns.items():
        if source not in names:
            raise ValueError(f"column map {source}={target}: no column {source!r}; the input has {names}")
        if target not in ORDER_DTYPES:
            raise ValueError(f"column map {source}={target}: {target!r} is not an order column {list(ORDER_DTYPES)}")
    mapped = [columns.get(name, name) for name in names]
    twice = sorted({name for name in mapped if mapped.count(name) > 1})
    if twice:
        raise ValueError(f"column map {columns}: more than one column would be named {twice} (input has {names})")
    names = mapped
    batch = pa.RecordBatch.from_arrays(batch.columns, names=names)
    if tick_size is not None and "price" in names:
        prices = batch.column("price").to_numpy(zero_copy_only=False)
        arrays = list(batch.columns)
        arrays[names.index("price")] = pa.array(to_ticks(prices, tick_size))
        batch = pa.RecordBatch.from_arrays(arrays, names=names)
    return batch


def _with_hive_symbol(batch, column, symbol):
    """``batch`` with a ``column`` of ``symbol`` added when it has none (a hive-partitioned file)."""
    if symbol is None or column in batch.schema.names:
        return batch
    values = pa.array(np.full(batch.num_rows, symbol, dtype=np.int32))
    return pa.RecordBatch.from_arrays([*batch.columns, values], names=[*batch.schema.names, column])


def _row_groups_with(metadata, column, symbols):
    """Indexes of the row groups whose min/max statistics of ``column`` admit one of ``symbols``."""
    index = metadata.schema.to_arrow_schema().get_field_index(column)
    chosen = []
    for group in range(metadata.num_row_groups):
        stats = metadata.row_group(group).column(index).statistics if index >= 0 else None
        if stats is None or not stats.has_min_max or any(stats.min <= symbol <= stats.max for symbol in symbols):
            chosen.append(group)
    return chosen


class ParquetReadError(ValueError):
    """A Parquet file that cannot be read (corrupt pages, not Parquet); names the file."""


def _file_batches(path, batch_rows, column, row_groups=None, use_threads=True):
    """Record batches of one file, each with ``column`` (from a ``symbol=<s>`` directory if need be)."""
    symbol = hive_value(path, column)
    try:
        parquet = pq.ParquetFile(path, pre_buffer=False)
        batches = parquet.iter_batches(batch_size=batch_rows, row_groups=row_groups, use_threads=use_threads)
        for batch in batches:
            yield _with_hive_symbol(batch, column, symbol)
    except (OSError, pa.ArrowException) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ParquetReadError(f"{path}: cannot read Parquet data: {reason}") from None


def _metadata(path):
    """The Parquet footer of ``path``; an unreadable one names the file."""
    try:
        return pq.ParquetFile(path).metadata
    except (OSError, pa.ArrowException) as exc:
        raise ParquetReadError(f"{path}: cannot read Parquet metadata: {str(exc).strip().splitlines()[0]}") from None


def _prepared(path, batch, columns, tick_size):
    """``prepare(map_columns(...))`` of one file's batch; a schema error names the file."""
    try:
        return prepare(map_columns(batch, columns, tick_size))
    except SchemaError as exc:
        raise SchemaError(f"{path}: {exc}") from None


def count_rows_by_symbol(paths, columns=None):
    """Rows per symbol of Parquet input: from the metadata of hive-partitioned files, else
    by reading only the symbol column.

    Returns
    -------
    dict of int to int
        Symbol → row count, in ascending symbol order.

    Raises
    ------
    ValueError
        When a file has no symbol column and is not under a ``symbol=<s>/`` directory.
    """
    column = symbol_source_column(columns)
    counts = {}
    for path in parquet_files(paths):
        parquet = pq.ParquetFile(path, pre_buffer=False)
        symbol = hive_value(path, column)
        if column not in parquet.schema_arrow.names:
            if symbol is None:
                raise ValueError(
                    f"{path}: no column {column!r} and no {column}=<s> directory; it has {parquet.schema_arrow.names}"
                )
            counts[symbol] = counts.get(symbol, 0) + parquet.metadata.num_rows
            continue
        for batch in parquet.iter_batches(batch_size=1 << 20, columns=[column]):
            values = pc.value_counts(batch.column(0))
            for value, n in zip(values.field("values").to_pylist(), values.field("counts").to_pylist()):
                counts[value] = counts.get(value, 0) + n
    return dict(sorted(counts.items()))


def parquet_batches(paths, batch_rows, columns=None, tick_size=None, symbols=None, use_threads=True):
    """Prepared order batches of Parquet input, one record batch in memory at a time.

    Parameters
    ----------
    paths : list of str or Path
        Files or directories (searched recursively, files in sorted path order).
    batch_rows : int
        Rows per batch read.
    columns, tick_size
        See `map_columns`.
    symbols : collection of int, optional
        Only the rows of these symbols: files of other ``symbol=<s>`` directories and row
        groups whose statistics exclude them are not read; the rest is filtered, and the
        filtered batches joined up to ``batch_rows`` rows.
    use_threads : bool
        Decode columns on pyarrow's thread pool; False decodes in the caller's thread.

    Returns
    -------
    (int or None, iterator of OrderColumns)
        The total rows (None with ``symbols``: not known before reading) and the batches.
    """
    files = parquet_files(paths)
    column = symbol_source_column(columns)
    if symbols is not None:
        return None, _symbol_batches(files, batch_rows, columns, tick_size, column, sorted(symbols), use_threads)
    total = sum(_metadata(path).num_rows for path in files)

    def batches():
        for path in files:
            for batch in _file_batches(path, batch_rows, column, use_threads=use_threads):
                yield _prepared(path, batch, columns, tick_size)

    return total, batches()


def _symbol_batches(files, batch_rows, columns, tick_size, column, wanted, use_threads):
    value_set = pa.array(wanted)

    def joined(pending):
        try:
            table = pa.Table.from_batches(pending)
        except pa.ArrowInvalid:
            raise SchemaError(f"{path}: its columns differ from those of the files read before it") from None
        return _prepared(path, table.combine_chunks().to_batches()[0], columns, tick_size)

    pending, rows = [], 0
    for path in files:
        hive = hive_value(path, column)
        if hive is not None and hive not in wanted:
            continue
        groups = _row_groups_with(_metadata(path), column, wanted)
        for batch in _file_batches(path, batch_rows, column, groups, use_threads) if groups else ():
            if column not in batch.schema.names:
                raise ValueError(f"{path}: no column {column!r} to select symbols {wanted} by")
            batch = batch.filter(pc.is_in(batch.column(column), value_set=value_set))
            if batch.num_rows:
                pending.append(batch)
                rows += batch.num_rows
            if rows >= batch_rows:
                yield joined(pending)
                pending, rows = [], 0
    if rows:
        yield joined(pending)
