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

from .mapping import Mapping, MappingError, SymbolTable
from .readable import Context
from .schema import SchemaError, prepare, to_ticks

__all__ = [
    "ParquetSource",
    "symbol_names",
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
    """The value of the innermost ``key=<value>`` directory above ``path``: an int, a name, or None.

    A name (``symbol=AAPL``) is a ticker: the mapping gives it a symbol id, as it does to
    ticker strings in a column.

    Examples
    --------
    >>> hive_value(Path("orders/symbol=7/part-0.parquet"), "symbol")
    7
    >>> hive_value(Path("orders/symbol=AAPL/part-0.parquet"), "symbol")
    'AAPL'
    >>> hive_value(Path("orders/part-0.parquet"), "symbol") is None
    True
    """
    from urllib.parse import unquote

    for part in reversed(Path(path).parent.parts):
        found = re.fullmatch(rf"{re.escape(key)}=(.*)", part)
        if found:
            value = unquote(found.group(1))
            return int(value) if re.fullmatch(r"-?\d+", value) else value
    return None


def symbol_source_column(columns=None):
    """The input column read as ``symbol`` under the column map ``columns`` (see `map_columns`)."""
    return next((source for source, target in (columns or {}).items() if target == "symbol"), "symbol")


def map_columns(batch, columns=None, tick_size=None):
    """Rename ``batch``'s columns onto the order schema and convert prices to ticks.

    `nbengine.mapping.Mapping` with ``columns`` and ``tick_size`` only, other columns
    passed through (kept for callers of the earlier interface; backtests use the whole
    mapping).

    Examples
    --------
    >>> b = pa.record_batch({"px": [100.25, 100.26], "size": [1, 2]})
    >>> map_columns(b, {"px": "price", "size": "qty"}, tick_size=0.05).column("price").to_pylist()[0]
    2005
    """
    columns = columns or {}
    mapping = Mapping(columns=columns, strict=False)
    names = batch.schema.names
    problems = [f"column map {s}={t}: no column {s!r}; the input has {names}" for s, t in columns.items()
                if s not in names]
    mapped = [columns.get(name, name) for name in names]
    twice = sorted({name for name in mapped if mapped.count(name) > 1})
    if twice:
        problems.append(f"column map {columns}: more than one column would be named {twice} (input has {names})")
    if problems:
        raise MappingError(problems)
    del mapping
    batch = pa.RecordBatch.from_arrays(batch.columns, names=mapped)
    if tick_size is not None and "price" in mapped:
        prices = batch.column("price").to_numpy(zero_copy_only=False)
        arrays = list(batch.columns)
        arrays[mapped.index("price")] = pa.array(to_ticks(prices, tick_size))
        batch = pa.RecordBatch.from_arrays(arrays, names=mapped)
    return batch


def _with_hive_symbol(batch, column, symbol):
    """``batch`` with a ``column`` of ``symbol`` added when it has none (a hive-partitioned file)."""
    if symbol is None or column in batch.schema.names:
        return batch
    if isinstance(symbol, str):
        values = pa.DictionaryArray.from_arrays(pa.array(np.zeros(batch.num_rows, dtype=np.int32)), pa.array([symbol]))
    else:
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


def _prepared(path, batch, mapping):
    """``prepare(mapping.apply(batch))`` of one file's batch; an error names the file."""
    try:
        return prepare(mapping.apply(batch, where=str(path)))
    except MappingError:
        raise
    except SchemaError as exc:
        raise SchemaError(f"{path}: {exc}") from None


def count_rows_by_symbol(paths, columns=None, symbol_table=None):
    """Rows per symbol of Parquet input: from the metadata of hive-partitioned files, else
    by reading only the symbol column.

    Parameters
    ----------
    paths : list of str or Path
    columns : dict, optional
        The column map (which source column is ``symbol``).
    symbol_table : nbengine.SymbolTable, optional
        Ids of ticker names (required when the symbols are names).

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

    def add(symbol, n):
        if isinstance(symbol, str):
            if symbol_table is None:
                raise ValueError(f"symbol {symbol!r}: ticker names need a symbol table to count by id")
            symbol = symbol_table.id(symbol)
        counts[symbol] = counts.get(symbol, 0) + n

    for path in parquet_files(paths):
        parquet = pq.ParquetFile(path, pre_buffer=False)
        symbol = hive_value(path, column)
        if column not in parquet.schema_arrow.names:
            if symbol is None:
                raise ValueError(
                    f"{path}: no column {column!r} and no {column}=<s> directory; it has {parquet.schema_arrow.names}"
                )
            add(symbol, parquet.metadata.num_rows)
            continue
        for batch in parquet.iter_batches(batch_size=1 << 20, columns=[column]):
            values = pc.value_counts(batch.column(0))
            for value, n in zip(values.field("values").to_pylist(), values.field("counts").to_pylist()):
                add(value, n)
    return dict(sorted(counts.items()))


def symbol_names(paths, columns=None):
    """The ticker names of Parquet input (string symbol columns, ``symbol=<name>/`` directories), sorted.

    Reads only the symbol column of files whose symbol column is text; an input of
    integer symbols gives an empty list.
    """
    column = symbol_source_column(columns)
    names = set()
    for path in parquet_files(paths):
        hive = hive_value(path, column)
        if hive is not None:  # the directory names the symbol (files are not opened here)
            if isinstance(hive, str):
                names.add(hive)
            continue
        schema = _metadata(path).schema.to_arrow_schema()
        if column in schema.names:
            typ = schema.field(column).type
            typ = typ.value_type if pa.types.is_dictionary(typ) else typ
            if pa.types.is_string(typ) or pa.types.is_large_string(typ):
                parquet = pq.ParquetFile(path, pre_buffer=False)
                for batch in parquet.iter_batches(batch_size=1 << 20, columns=[column]):
                    names.update(pc.unique(batch.column(0).cast(pa.string())).drop_null().to_pylist())
    return sorted(names)


class ParquetSource:
    """Parquet input mapped onto the order contract: batches, and what makes results readable.

    Parameters
    ----------
    paths : list of str or Path
        Files or directories (searched recursively, files in sorted path order).
    columns, values, constants, tick_size, ignore_columns, symbol_table
        See `nbengine.mapping.map_orders`. Ticker names (a text symbol column, or
        ``symbol=<name>/`` directories) are read first, so every name has its id (in
        sorted order after those of ``symbol_table``) before the first batch: ids do not
        depend on batches, partitions or the order files are read in.
    """

    def __init__(self, paths, *, columns=None, values=None, constants=None, tick_size=None, ignore_columns=None,
                 symbol_table=None):
        self.files = parquet_files(paths)
        self.column = symbol_source_column(columns)
        table = SymbolTable(symbol_table) if symbol_table is not None else SymbolTable()
        names = symbol_names(self.files, columns)
        table.add(names)
        self.mapping = Mapping(columns=columns, values=values, constants=constants, tick_size=tick_size,
                               ignore_columns=ignore_columns, symbol_table=table)
        self.named = bool(len(table))
        self.schema = None

    def _check_schemas(self, files):
        """Check the schema of every file to read now: every problem before any matching."""
        problems, seen = [], {}
        for path in files:
            schema = _metadata(path).schema.to_arrow_schema()
            hive = hive_value(path, self.column)
            if hive is not None and self.column not in schema.names:
                typ = pa.dictionary(pa.int32(), pa.string()) if isinstance(hive, str) else pa.int32()
                schema = schema.append(pa.field(self.column, typ))
            if schema in seen:
                continue
            seen[schema] = path
            try:
                self.mapping.plan(schema.remove_metadata(), where=str(path))
            except MappingError as exc:
                problems.extend((path, p) for p in exc.problems)
            problems.extend((path, p) for p in self.mapping.check_values(
                schema.remove_metadata(), lambda source: _whole_column(path, source, self.column)))
        if problems:
            paths = {path for path, _ in problems}
            if len(paths) == 1:
                raise MappingError([p for _, p in problems], where=str(paths.pop()))
            raise MappingError([f"{path}: {p}" for path, p in problems])
        self.schema = next(iter(seen), None)

    def context(self):
        """The `nbengine.readable.Context` of results of this input (after `batches`)."""
        tz = None
        if self.schema is not None:
            tz = self.mapping.time_zone(self.schema.remove_metadata())
        return Context(tz=tz, tick_size=self.mapping.tick_size,
                       symbols=tuple(self.mapping.symbol_table.names) if self.named else None)

    def batches(self, batch_rows, symbols=None, use_threads=True):
        """``(total rows or None, iterator of OrderColumns)``; see `parquet_batches`."""
        mapping = self.mapping
        if symbols is not None:
            wanted = sorted(mapping.symbol_table.id(s) if isinstance(s, str) else int(s) for s in symbols)
            table = mapping.symbol_table
            self._check_schemas([path for path in self.files if _hive_id(path, self.column, table) in (None, *wanted)])
            return None, _symbol_batches(self.files, batch_rows, mapping, self.column, wanted, use_threads)
        total = sum(_metadata(path).num_rows for path in self.files)
        self._check_schemas(self.files)
        column = self.column

        def batches():
            for path in self.files:
                for batch in _file_batches(path, batch_rows, column, use_threads=use_threads):
                    yield _prepared(path, batch, mapping)

        return total, batches()


def _whole_column(path, source, symbol_column):
    """Column ``source`` of the file ``path`` (only that column is read)."""
    if source == symbol_column and source not in _metadata(path).schema.to_arrow_schema().names:
        return pa.array([hive_value(path, symbol_column)])
    parquet = pq.ParquetFile(path, pre_buffer=False)
    return pa.chunked_array([b.column(0) for b in parquet.iter_batches(batch_size=1 << 20, columns=[source])],
                            parquet.schema_arrow.field(source).type).combine_chunks()


def parquet_batches(paths, batch_rows, columns=None, tick_size=None, symbols=None, use_threads=True, **mapping):
    """Prepared order batches of Parquet input, one record batch in memory at a time.

    Parameters
    ----------
    paths : list of str or Path
        Files or directories (searched recursively, files in sorted path order).
    batch_rows : int
        Rows per batch read.
    columns, tick_size, **mapping
        See `nbengine.mapping.map_orders` (``values``, ``constants``, ``ignore_columns``,
        ``symbol_table``).
    symbols : collection of int or str, optional
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
    source = ParquetSource(paths, columns=columns, tick_size=tick_size, **mapping)
    return source.batches(batch_rows, symbols, use_threads)


def _hive_id(path, column, table):
    """The symbol id of ``path``'s ``column=<s>`` directory (names through ``table``), or None."""
    hive = hive_value(path, column)
    return table.id(hive) if isinstance(hive, str) else hive


def _symbol_batches(files, batch_rows, mapping, column, wanted, use_threads):
    table = mapping.symbol_table
    names = [table.names[i] for i in wanted if 0 <= i < len(table)]

    def joined(pending):
        try:
            joined_table = pa.Table.from_batches(pending)
        except pa.ArrowInvalid:
            raise SchemaError(f"{path}: its columns differ from those of the files read before it") from None
        return _prepared(path, joined_table.combine_chunks().to_batches()[0], mapping)

    pending, rows = [], 0
    for path in files:
        hive = _hive_id(path, column, table)
        if hive is not None and hive not in wanted:
            continue
        schema = _metadata(path).schema.to_arrow_schema()
        text = column in schema.names and not pa.types.is_integer(schema.field(column).type)
        groups = list(range(_metadata(path).num_row_groups)) if text else _row_groups_with(_metadata(path), column, wanted)
        value_set = pa.array(names if text else wanted)
        for batch in _file_batches(path, batch_rows, column, groups, use_threads) if groups else ():
            if column not in batch.schema.names:
                raise ValueError(f"{path}: no column {column!r} to select symbols {wanted} by")
            if hive is None:
                values = batch.column(column)
                values = values.cast(pa.string()) if text else values
                batch = batch.filter(pc.is_in(values, value_set=value_set))
            if batch.num_rows:
                pending.append(batch)
                rows += batch.num_rows
            if rows >= batch_rows:
                yield joined(pending)
                pending, rows = [], 0
    if rows:
        yield joined(pending)
