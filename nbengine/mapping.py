"""Map a real file's columns onto the order contract (DESIGN §2, §8): one helper for every input.

A `Mapping` holds the options a user gives once (``columns`` renames, ``values`` maps,
``constants``, ``tick_size``, ``ignore_columns``, a `SymbolTable`); its plan for an
input schema is checked once, reporting every problem of that schema at once, one line
each, in the words of Arrow types and contract names. Applying it to a batch renames,
maps values, fills constants, turns ticker strings into symbol ids and currency prices
into ticks; the result is what ``schema.prepare`` takes. `map_orders` is the same for one
table (before ``Engine.submit``); ``nbengine.backtest`` uses it for every batch.
"""

import difflib
import json
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .codes import BUY, CANCEL, FOK, GTC, IOC, LIMIT, MARKET, MODIFY, POST_ONLY, SELL
from .schema import ORDER_DTYPES, REQUIRED_COLUMNS, SchemaError, order_columns, to_ticks

__all__ = ["CONSTANT_NAMES", "Mapping", "MappingError", "SymbolTable", "map_orders", "order_columns", "suggest"]

CONSTANT_NAMES = {
    "side": {"BUY": BUY, "SELL": SELL},
    "kind": {"LIMIT": LIMIT, "MARKET": MARKET, "CANCEL": CANCEL, "MODIFY": MODIFY},
    "tif": {"GTC": GTC, "IOC": IOC, "FOK": FOK, "POST_ONLY": POST_ONLY},
}
"""Names accepted for the codes of these columns: as ``values`` targets, as ``constants``, and
as the values of a string column (``"BUY"``, ``"buy"``)."""

_ALIASES = {
    "sym": "symbol", "ticker": "symbol", "instrument": "symbol", "stock": "symbol",
    "time": "ts", "timestamp": "ts", "datetime": "ts", "date_time": "ts", "t": "ts",
    "id": "order_id", "oid": "order_id", "orderid": "order_id", "order": "order_id",
    "px": "price", "prc": "price", "limit_price": "price",
    "size": "qty", "quantity": "qty", "volume": "qty", "shares": "qty", "sz": "qty", "amount": "qty",
    "direction": "side", "buy_sell": "side", "bs": "side",
    "type": "kind", "order_type": "kind", "action": "kind",
    "time_in_force": "tif", "timeinforce": "tif",
    "trader": "account", "owner": "account", "user": "account",
}


_PANDAS_INDEX = re.compile(r"__index_level_\d+__")
"""A pandas index written into a Parquet file: ignored like ``ignore_columns``."""


def _contract_type(name):
    return pa.from_numpy_dtype(ORDER_DTYPES[name])


class MappingError(SchemaError, ValueError):
    """Input that does not map onto the order contract: every problem found, one line each.

    Attributes
    ----------
    problems : list of str
        One line per problem (``column 'sym': not an order column; ...``).
    """

    plan = None

    def __init__(self, problems, where=""):
        self.problems = list(problems)
        self.where = where
        prefix = f"{where}: " if where else ""
        if len(self.problems) == 1:
            text = prefix + self.problems[0]
        else:
            text = f"{prefix}{len(self.problems)} problems:\n" + "\n".join(f"  {p}" for p in self.problems)
        super().__init__(text)


def suggest(name):
    """The contract column a column name probably means, or None (``Symbol`` → ``symbol``)."""
    lowered = name.strip().lower()
    if lowered in ORDER_DTYPES:
        return lowered
    if lowered in _ALIASES:
        return _ALIASES[lowered]
    close = difflib.get_close_matches(lowered, list(ORDER_DTYPES) + list(_ALIASES), n=1, cutoff=0.75)
    return None if not close else _ALIASES.get(close[0], close[0])


def _type_name(typ):
    """An Arrow type as users read it (``string``, ``double``, ``timestamp[ns, tz=UTC]``)."""
    if pa.types.is_large_string(typ):
        return "large_string"
    return str(typ)


def _is_text(typ):
    return (pa.types.is_string(typ) or pa.types.is_large_string(typ)
            or (pa.types.is_dictionary(typ) and (pa.types.is_string(typ.value_type)
                                                  or pa.types.is_large_string(typ.value_type))))


def _code(column, value):
    """``value`` (an int, or a constant's name) as the int code of ``column``; ValueError otherwise."""
    if isinstance(value, str):
        names = CONSTANT_NAMES.get(column, {})
        if value.upper() in names:
            return names[value.upper()]
        try:
            return int(value)
        except ValueError:
            hint = f" (one of {', '.join(names)})" if names else ""
            raise ValueError(f"{value!r} is not a code of {column!r}{hint}") from None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{value!r} is not an integer code of {column!r}")
    return int(value)


class SymbolTable:
    """Symbol names and their ids (``names[i]`` is symbol ``i``), kept with the results.

    A backtest over ticker strings builds one (the sorted names of the input) and stores
    it in ``summary.json`` and the result files' metadata; give it back as
    ``symbol_table=`` to keep the same ids in another run. New names get the next ids,
    in sorted order.

    Parameters
    ----------
    names : iterable of str, dict of str to int, str or Path, optional
        Names in id order; or ``{name: id}`` with ids ``0..n-1``; or a ``summary.json``,
        a results directory holding one, or a result Parquet file.

    Examples
    --------
    >>> table = SymbolTable(["AAPL", "MSFT"])
    >>> table.ids(pa.array(["MSFT", "TSLA", "AAPL"])).to_pylist(), table.names
    ([1, 2, 0], ['AAPL', 'MSFT', 'TSLA'])
    """

    def __init__(self, names=()):
        if isinstance(names, SymbolTable):
            names = names.names
        elif isinstance(names, (str, Path)):
            names = _stored_names(Path(names))
        elif isinstance(names, dict):
            by_id = sorted((int(i), str(n)) for n, i in names.items())
            if [i for i, _ in by_id] != list(range(len(by_id))):
                raise ValueError(f"symbol_table: expected ids 0..{len(by_id) - 1}, got {sorted(names.values())}")
            names = [n for _, n in by_id]
        self.names = [str(name) for name in names]
        if len(set(self.names)) != len(self.names):
            raise ValueError("symbol_table: a name appears twice")
        self._values = None

    def add(self, names):
        """Give the names not known yet the next ids, in sorted order."""
        known = set(self.names)
        new = sorted({str(n) for n in names if n is not None} - known)
        if new:
            self.names.extend(new)
            self._values = None
        return self

    def id(self, name):
        """The id of ``name`` (added if new)."""
        self.add([name])
        return self.names.index(str(name))

    def ids(self, names):
        """An Arrow array of names as int32 ids (new names added first)."""
        names = names.cast(pa.string()) if not pa.types.is_string(names.type) else names
        if isinstance(names, pa.ChunkedArray):
            names = names.combine_chunks()
        unique = pc.unique(names)
        if self._values is None or pc.any(pc.invert(pc.is_in(unique, value_set=self._values))).as_py():
            self.add(unique.drop_null().to_pylist())
            self._values = pa.array(self.names, pa.string())
        return pc.index_in(names, value_set=self._values).cast(pa.int32())

    def as_dict(self):
        return {name: i for i, name in enumerate(self.names)}

    def __len__(self):
        return len(self.names)

    def __repr__(self):
        return f"SymbolTable({self.names!r})"


def _stored_names(path):
    """Symbol names stored by a backtest: its ``summary.json`` (or directory) or a result file."""
    if path.is_dir():
        path = path / "summary.json"
    if not path.exists():
        raise ValueError(f"symbol_table: no such file {path}")
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        stored = (pq.read_schema(path).metadata or {}).get(b"nbengine.symbols")
        if stored is None:
            raise ValueError(f"symbol_table: {path} holds no symbol names (nbengine.symbols metadata)")
        return json.loads(stored)
    symbols = json.loads(path.read_text()).get("symbols")
    if not symbols:
        raise ValueError(f"symbol_table: {path} holds no symbol names (its 'symbols' entry is empty)")
    by_id = sorted((i, n) for n, i in symbols.items())
    return [n for _, n in by_id]


def _as_arrow(orders):
    if isinstance(orders, (pa.Table, pa.RecordBatch)):
        return orders
    if isinstance(orders, dict):
        arrays = {}
        for name, values in orders.items():
            values = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else np.asarray(values)
            arrays[str(name)] = values if not isinstance(values, np.ndarray) or values.dtype != object else \
                pa.array(values.tolist())
        return pa.table(arrays)
    if hasattr(orders, "__arrow_c_stream__") or hasattr(orders, "__arrow_c_array__"):
        return pa.table(orders)
    if type(orders).__module__.startswith("pandas"):
        return pa.Table.from_pandas(orders, preserve_index=False)
    raise SchemaError(
        "orders: expected a pyarrow Table/RecordBatch, an object with __arrow_c_stream__, "
        f"a pandas DataFrame or a dict of arrays, got {type(orders).__name__}"
    )


class _Plan:
    """What to do to each column of one input schema (built and checked by `Mapping.plan`)."""

    def __init__(self, names, steps, identity, tz):
        self.names = names  # output column names, contract order
        self.steps = steps  # (output name, source name or None, action, argument)
        self.identity = identity  # the input needs nothing done
        self.tz = tz


class Mapping:
    """Options that map an input onto the order contract; see `map_orders` for each.

    Parameters
    ----------
    columns : dict of str to str, optional
        Source column → contract column.
    values : dict of str to dict, optional
        Contract (or source) column → ``{value in the file: code or constant name}``.
    constants : dict of str to int or str, optional
        Contract column → the value of every row, for a column the input lacks.
    tick_size : float, optional
        ``price`` holds currency: converted to ticks of this size (off-grid → ``OFF_TICK``).
    ignore_columns : iterable of str, optional
        Input columns to drop; any other column that is not in the contract is an error.
    symbol_table : SymbolTable, list, dict, str or Path, optional
        Ids of ticker names (a new table when None: ids in sorted order of the names met).
    strict : bool
        Refuse columns that are neither mapped, in the contract nor ignored.

    Raises
    ------
    MappingError
        Every problem of the options themselves, at once.
    """

    def __init__(self, *, columns=None, values=None, constants=None, tick_size=None, ignore_columns=None,
                 symbol_table=None, strict=True):
        problems = []
        self.columns = dict(columns or {})
        for source, target in self.columns.items():
            if target not in ORDER_DTYPES:
                close = suggest(target)
                hint = f"; did you mean {close!r}?" if close else ""
                problems.append(f"columns: {source}={target}: {target!r} is not an order column "
                                f"{list(ORDER_DTYPES)}{hint}")
        self.constants = {}
        for name, value in (constants or {}).items():
            if name not in ORDER_DTYPES:
                close = suggest(name)
                problems.append(f"constants: {name!r} is not an order column"
                                + (f"; did you mean {close!r}?" if close else ""))
                continue
            try:
                self.constants[name] = _code(name, value)
            except ValueError as exc:
                problems.append(f"constants: column {name!r}: {exc}")
        self.values = {}
        for name, table in (values or {}).items():
            target = self.columns.get(name, name)
            if target not in ORDER_DTYPES:
                close = suggest(target)
                problems.append(f"values: {name!r} is not an order column"
                                + (f"; did you mean {close!r}?" if close else ""))
                continue
            if not isinstance(table, dict):
                problems.append(f"values: column {name!r}: expected a dict of value → code, got {type(table).__name__}")
                continue
            mapped = {}
            for key, value in table.items():
                try:
                    mapped[key] = _code(target, value)
                except ValueError as exc:
                    problems.append(f"values: column {name!r}: {exc}")
            self.values[target] = mapped
        if tick_size is not None:
            try:
                ok = float(tick_size) > 0
            except (TypeError, ValueError):
                ok = False
            if not ok:
                problems.append(f"tick_size: expected a number > 0, got {tick_size!r}")
        self.tick_size = None if tick_size is None else float(tick_size)
        self.ignore = set(ignore_columns or ())
        self.symbol_table = symbol_table if isinstance(symbol_table, SymbolTable) else (
            SymbolTable(symbol_table) if symbol_table is not None else SymbolTable())
        self.names_known = symbol_table is not None
        self.strict = strict
        if problems:
            raise MappingError(problems)
        self._plans = {}

    # -- one schema ---------------------------------------------------------------------

    def plan(self, schema, where=""):
        """The checked plan for inputs of ``schema``; `MappingError` with every problem otherwise."""
        plan = self._plans.get(schema)
        if plan is None:
            plan = self._plans[schema] = self._make_plan(schema, where)
        return plan

    def _make_plan(self, schema, where):
        problems = []
        names = schema.names
        for source, target in self.columns.items():
            if source not in names:
                problems.append(f"columns: {source}={target}: no column {source!r}; the input has {names}")
        sources = {}  # contract name -> source name
        suggested = set()
        for name in names:
            if (name in self.ignore or _PANDAS_INDEX.fullmatch(name)) and name not in self.columns:
                continue
            target = self.columns.get(name, name)
            if target in ORDER_DTYPES:
                if target in sources:
                    problems.append(f"columns: more than one column would be named [{target!r}]: "
                                    f"{sources[target]!r} and {name!r} (input has {names})")
                    continue
                sources[target] = name
            elif self.strict and name not in self.columns:
                close = suggest(name)
                if close is not None and close not in sources and close not in self.columns.values():
                    suggested.add(close)
                    hint = (f"; did you mean {close!r}? (rename it with columns={{{name!r}: {close!r}}}, "
                            f"--map {name}={close})")
                else:
                    hint = f" (map it with columns=, or drop it with ignore_columns=[{name!r}], --ignore {name})"
                problems.append(f"column {name!r}: not an order column{hint}")
        for name, value in self.constants.items():
            if name in sources:
                problems.append(f"constants: column {name!r} is in the input (from {sources[name]!r}); "
                                f"map its values with values= instead")
        for name in self.values:
            if name not in sources:
                problems.append(f"values: no column {name!r} in the input to map; the input has {names}")
        steps, tz, identity = [], None, not self.constants and self.tick_size is None
        for name in ORDER_DTYPES:
            if name in self.constants:
                steps.append((name, None, "constant", self.constants[name]))
                identity = False
                continue
            source = sources.get(name)
            if source is None:
                if name in REQUIRED_COLUMNS and name not in suggested:
                    hint = ""
                    if name == "kind":
                        hint = "; fill it with constants={'kind': 'LIMIT'} (--set kind=LIMIT)"
                    problems.append(f"column {name!r}: required ({_contract_type(name)}), missing{hint}")
                continue
            typ = schema.field(source).type
            label = f"column {name!r}" + (f" (from {source!r})" if source != name else "")
            action, argument = "keep", None
            if source != name:
                identity = False
            if name in self.values:
                action, argument = "values", self.values[name]
            elif name == "ts":
                if pa.types.is_timestamp(typ):
                    tz = typ.tz
                elif not pa.types.is_integer(typ):
                    problems.append(f"{label}: expected int64 ns or timestamp, got {_type_name(typ)}")
            elif name == "symbol" and _is_text(typ):
                action = "symbols"
            elif name in CONSTANT_NAMES and _is_text(typ):
                action, argument = "values", _name_map(name)
            elif name == "price" and self.tick_size is not None:
                if pa.types.is_floating(typ) or pa.types.is_integer(typ) or pa.types.is_decimal(typ):
                    action = "ticks"
                else:
                    problems.append(f"{label}: expected a number (currency, with tick_size), got {_type_name(typ)}")
            elif not pa.types.is_integer(typ):
                if name == "price" and (pa.types.is_floating(typ) or pa.types.is_decimal(typ)):
                    detail = "; convert float prices to ticks with tick_size= (--tick-size)"
                elif name in CONSTANT_NAMES:
                    detail = (f"; map its values with values={{{name!r}: {{...: "
                              f"{'/'.join(repr(k) for k in CONSTANT_NAMES[name])}}}}} (--value {name}:FROM=TO,...)")
                elif name == "symbol":
                    detail = "; ticker names (string) map to ids by themselves"
                else:
                    detail = ""
                problems.append(f"{label}: expected {_contract_type(name)}, got {_type_name(typ)}{detail}")
            if action != "keep":
                identity = False
            steps.append((name, source, action, argument))
        plan = _Plan([step[0] for step in steps], steps, identity, tz)
        if problems:
            error = MappingError(problems, where)
            error.plan = plan  # what could be planned: its value maps are still checked
            raise error
        return plan

    # -- one batch ----------------------------------------------------------------------

    def apply(self, batch, where=""):
        """``batch`` (a RecordBatch or Table) as contract columns; `MappingError` for bad values."""
        plan = self.plan(batch.schema, where)
        if plan.identity:
            return batch
        arrays, problems = [], []
        n = batch.num_rows
        for name, source, action, argument in plan.steps:
            if action == "constant":
                arrays.append(pa.array(np.full(n, argument, dtype=ORDER_DTYPES[name])))
                continue
            column = batch.column(source)
            if isinstance(column, pa.ChunkedArray):
                column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
            if action == "symbols":
                if column.null_count:
                    first = pc.index(pc.is_null(column), True).as_py()
                    problems.append(f"column 'symbol' (from {source!r}): expected no nulls, got a null at row {first}")
                    continue
                column = self.symbol_table.ids(column)
            elif action == "values":
                column = _map_values(name, source, column, argument, problems)
            elif action == "ticks":
                prices = column.cast(pa.float64()) if pa.types.is_decimal(column.type) else column
                column = pa.array(to_ticks(prices.to_numpy(zero_copy_only=False), self.tick_size))
            arrays.append(column)
        if problems:
            raise MappingError(problems, where)
        return pa.RecordBatch.from_arrays(arrays, names=plan.names)

    def check_values(self, schema, read_column, where=""):
        """Problems of the values of ``schema``'s value-mapped text columns (one line each).

        ``read_column(source)`` returns the whole column (an Arrow array); called only
        for columns whose values are mapped, so that a file's unmapped values are
        reported with its other problems, before anything is matched.
        """
        problems = []
        try:
            plan = self.plan(schema, where)
        except MappingError as exc:
            plan = exc.plan
        for name, source, action, argument in plan.steps:
            if action == "values":
                _map_values(name, source, read_column(source), argument, problems)
        return problems

    def time_zone(self, schema):
        """The time zone of ``ts`` in inputs of ``schema`` (None: none or not a timestamp)."""
        return self.plan(schema).tz


def _name_map(name):
    names = CONSTANT_NAMES[name]
    return {**names, **{key.lower(): code for key, code in names.items()}}


def _map_values(name, source, column, table, problems):
    """``column``'s values through ``table`` as the contract type of ``name``; unmapped ones are problems."""
    label = f"column {name!r}" + (f" (from {source!r})" if source != name else "")
    typ = column.type.value_type if pa.types.is_dictionary(column.type) else column.type
    if pa.types.is_dictionary(column.type):
        column = column.cast(typ)
    keys = list(table)
    try:
        if _is_text(typ):
            key_array = pa.array([str(k) for k in keys], typ)
        elif pa.types.is_integer(typ) or pa.types.is_floating(typ):
            key_array = pa.array([float(k) if pa.types.is_floating(typ) else int(k) for k in keys], typ)
        else:
            key_array = pa.array(keys).cast(typ)
    except (ValueError, TypeError, pa.ArrowException):
        problems.append(f"{label}: value map keys {keys} do not fit its type {_type_name(typ)}")
        return column
    index = pc.index_in(column, value_set=key_array)
    if index.null_count:
        unmapped = pc.value_counts(column.filter(pc.is_null(index)))
        seen = [f"{v.as_py()!r} ({c.as_py()} rows)" for v, c in zip(unmapped.field("values"), unmapped.field("counts"))]
        more = f" and {len(seen) - 5} more" if len(seen) > 5 else ""
        known = ", ".join(repr(k) for k in keys[:8]) or "nothing"
        problems.append(f"{label}: values {', '.join(seen[:5])}{more} are not mapped (the map has {known}; "
                        f"add them with values={{{name!r}: {{...}}}}, --value {name}:FROM=TO)")
        return column
    codes = pa.array(list(table.values()), _contract_type(name))
    return pc.take(codes, index)


def map_orders(orders, *, columns=None, values=None, constants=None, tick_size=None, ignore_columns=None,
               symbol_table=None):
    """Map a table of orders in its own columns, names and units onto the order contract.

    The options of ``nbengine.backtest``, for input to ``Engine.submit``: the same
    checks and the same wording. Every problem is reported at once.

    Parameters
    ----------
    orders : pyarrow.Table / RecordBatch, pandas or polars DataFrame, or dict of arrays
    columns : dict of str to str, optional
        Renames: source column → contract column (``{"sym": "symbol", "px": "price"}``).
    values : dict of str to dict, optional
        Value maps of a column (``{"side": {"B": "BUY", "S": "SELL"}}``); targets are codes
        or the names of the contract's constants (``BUY``, ``LIMIT``, ``IOC``, ...). A text
        ``side`` / ``kind`` / ``tif`` column holding those names maps by itself.
    constants : dict of str to int or str, optional
        A column the input lacks, one value for every row (``{"kind": "LIMIT"}``).
    tick_size : float, optional
        ``price`` is currency (float32, float64, decimal, integer): converted with
        ``nbengine.to_ticks`` (off-grid prices are rejected ``OFF_TICK``, never rounded).
    ignore_columns : iterable of str, optional
        Columns to drop. Any other column outside the contract is an error naming it and
        the contract column it probably means (``Symbol`` → ``symbol``).
    symbol_table : SymbolTable, list of str, dict or path, optional
        Ids of ticker strings in ``symbol``; a `SymbolTable` passed in grows with new
        names, so pass the same one to every call to keep ids stable.

    Returns
    -------
    pyarrow.RecordBatch
        The contract columns (``ts`` keeps its timestamp type and time zone).

    Raises
    ------
    MappingError
        A ``SchemaError`` and ``ValueError`` whose ``problems`` lists every problem.

    Examples
    --------
    >>> import nbengine
    >>> table = SymbolTable()
    >>> batch = map_orders({"time": [1, 2], "sym": ["MSFT", "AAPL"], "side": ["B", "S"], "px": [1.5, 1.25],
    ...                     "size": [10, 5], "oid": [1, 2]},
    ...                    columns={"time": "ts", "sym": "symbol", "px": "price", "size": "qty", "oid": "order_id"},
    ...                    values={"side": {"B": "BUY", "S": "SELL"}}, constants={"kind": "LIMIT"},
    ...                    tick_size=0.25, symbol_table=table)
    >>> batch.to_pydict()["symbol"], batch.to_pydict()["price"], table.names
    ([1, 0], [6, 5], ['AAPL', 'MSFT'])
    >>> map_orders({"ts": [1], "order_id": [1], "kind": [0], "Symbol": ["A"]})
    Traceback (most recent call last):
    ...
    nbengine.mapping.MappingError: column 'Symbol': not an order column; did you mean 'symbol'? (rename it with columns={'Symbol': 'symbol'}, --map Symbol=symbol)
    """
    mapping = Mapping(columns=columns, values=values, constants=constants, tick_size=tick_size,
                      ignore_columns=ignore_columns, symbol_table=symbol_table)
    table = _as_arrow(orders)
    return mapping.apply(table if isinstance(table, pa.RecordBatch) else table.combine_chunks().to_batches()[0]
                         if table.num_rows else pa.RecordBatch.from_pylist([], schema=table.schema))
