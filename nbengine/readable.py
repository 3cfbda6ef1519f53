"""Result tables as a researcher reads them (DESIGN §8): times, names and currency, no joins.

`readable` turns a table of the numeric contract (DESIGN §3: ``Engine.submit``'s trades and
events, the strategy files, quotes) into one that reads as it is in pandas or polars:

- ``ts`` and every ``*_ts`` column: ``timestamp[ns]`` with the input's time zone;
- ``symbol``: dictionary-encoded names when the names are known (the symbol id is the
  name's position in ``symbols``);
- ``side`` / ``taker_side`` (``BUY`` / ``SELL``), ``event`` (``ACCEPTED``, ...), ``reason``
  (``NONE``, ``OFF_TICK``, ...), ``liquidity`` and ``request``: dictionary-encoded names;
- ``price`` (and ``bid`` / ``ask``): null where the price was off the tick grid
  (``codes.PRICE_OFF_TICK``), and when a tick size is known ``px`` (``bid_px`` /
  ``ask_px``), float64 currency, beside it;
- the tick size, the symbol names and the time zone in the schema metadata
  (``nbengine.tick_size``, ``nbengine.symbols`` as JSON, ``nbengine.time_zone``).

Code columns become dictionaries whose indices are the codes themselves (``event``,
``reason``, ``symbol``) or the side plus one, so the conversion copies no column but
``side`` and a price with an off-tick row. `numeric` is the inverse.

A backtest writes its files through `Readable`; ``Engine.submit`` keeps the numeric
tables for speed.
"""

import json
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .codes import BUY, EVENT_NAMES, PRICE_OFF_TICK, REASON_NAMES, SELL

__all__ = ["Readable", "Context", "readable", "numeric", "context_of", "SIDE_NAMES", "DICTIONARY_COLUMNS"]

SIDE_NAMES = {SELL: "SELL", 0: "NONE", BUY: "BUY"}
"""Names of the sides (``NONE``: no side, e.g. a cancel)."""

_SIDES = pa.array([SIDE_NAMES[code] for code in (SELL, 0, BUY)])  # index = side + 1
_EVENTS = pa.array([EVENT_NAMES.get(code, "NONE") for code in range(max(EVENT_NAMES) + 1)])  # index = code
_REASONS = pa.array([REASON_NAMES.get(code, str(code)) for code in range(max(REASON_NAMES) + 1)])
_PRICES = ("price", "bid", "ask")

DICTIONARY_COLUMNS = ("symbol", "side", "taker_side", "event", "reason", "liquidity", "request")
"""Columns that are dictionary-encoded in readable tables (``symbol`` only when names are known)."""

_META_TICK = b"nbengine.tick_size"
_META_SYMBOLS = b"nbengine.symbols"
_META_TZ = b"nbengine.time_zone"
_META_OFFSET = b"nbengine.ts_offset"


class Context(NamedTuple):
    """What makes results readable, beyond the tables themselves.

    Attributes
    ----------
    tz : str or None
        Time zone of the input's ``ts`` (None: naive timestamps, i.e. UTC wall time).
    tick_size : float or None
        Currency per tick; None writes no ``px``.
    symbols : tuple of str or None
        Symbol names by id (``symbols[i]`` is symbol ``i``); None keeps ``symbol`` int32.
    ts_offset : int
        ns added to every time (LOBSTER: midnight of the file's date, as times are ns after it).
    """

    tz: object = None
    tick_size: object = None
    symbols: object = None
    ts_offset: int = 0

    def metadata(self):
        """The schema metadata entries (bytes to bytes) that record this context."""
        meta = {}
        if self.tick_size is not None:
            meta[_META_TICK] = repr(float(self.tick_size)).encode()
        if self.symbols is not None:
            meta[_META_SYMBOLS] = json.dumps(list(self.symbols)).encode()
        if self.tz is not None:
            meta[_META_TZ] = str(self.tz).encode()
        if self.ts_offset:
            meta[_META_OFFSET] = str(int(self.ts_offset)).encode()
        return meta

    def summary(self):
        """The context as ``summary.json`` entries."""
        return {
            "tick_size": None if self.tick_size is None else float(self.tick_size),
            "symbols": None if self.symbols is None else {name: i for i, name in enumerate(self.symbols)},
            "time_zone": None if self.tz is None else str(self.tz),
        }


def context_of(schema):
    """The `Context` recorded in a readable table's schema metadata (or an empty one)."""
    meta = schema.metadata or {}
    tick = meta.get(_META_TICK)
    names = meta.get(_META_SYMBOLS)
    tz = meta.get(_META_TZ)
    return Context(
        tz=None if tz is None else tz.decode(),
        tick_size=None if tick is None else float(tick),
        symbols=None if names is None else tuple(json.loads(names)),
        ts_offset=int(meta.get(_META_OFFSET, b"0")),
    )


def _is_time(name):
    return name == "ts" or name.endswith("_ts")


class Readable:
    """Converts tables of one numeric schema to one readable schema, batch after batch.

    Every table converted has ``schema`` (or fewer rows of it), so every output has
    `schema_out`: a Parquet writer made with it takes them all, and the result does not
    depend on how the rows were split into tables.

    Parameters
    ----------
    schema : pyarrow.Schema
        The numeric schema (``schema.TRADES_SCHEMA``, ``EVENTS_SCHEMA``, the strategy
        files' schemas, ...).
    context : Context
    """

    def __init__(self, schema, context=Context()):
        self.context = context
        self._symbols = None if context.symbols is None else pa.array(list(context.symbols), pa.string())
        fields, self._steps = [], []
        for field in schema:
            name, typ = field.name, field.type
            if _is_time(name) and pa.types.is_integer(typ):
                out = pa.timestamp("ns", context.tz)
                self._steps.append((name, self._time, out))
                fields.append(pa.field(name, out, nullable=field.nullable))
            elif name == "symbol" and self._symbols is not None and pa.types.is_integer(typ):
                out = pa.dictionary(pa.int32(), pa.string())
                self._steps.append((name, self._symbol, out))
                fields.append(pa.field(name, out, nullable=False))
            elif name in ("side", "taker_side") and pa.types.is_integer(typ):
                out = pa.dictionary(pa.int8(), pa.string())
                self._steps.append((name, self._side, out))
                fields.append(pa.field(name, out, nullable=field.nullable))
            elif name in ("event", "reason") and pa.types.is_integer(typ):
                out = pa.dictionary(typ, pa.string())
                self._steps.append((name, self._event if name == "event" else self._reason, out))
                fields.append(pa.field(name, out, nullable=field.nullable))
            elif name in ("liquidity", "request") and pa.types.is_string(typ):
                out = pa.dictionary(pa.int32(), pa.string())
                self._steps.append((name, self._encoded, out))
                fields.append(pa.field(name, out, nullable=field.nullable))
            elif name in _PRICES and pa.types.is_integer(typ):
                self._steps.append((name, self._price, typ))
                fields.append(pa.field(name, typ, nullable=True))
                if context.tick_size is not None:
                    px = "px" if name == "price" else f"{name}_px"
                    self._steps.append((px, self._px, pa.float64()))
                    fields.append(pa.field(px, pa.float64(), nullable=True))
            else:
                self._steps.append((name, None, typ))
                fields.append(field)
        metadata = {**(schema.metadata or {}), **context.metadata()}
        self.schema_out = pa.schema(fields, metadata=metadata)
        self.dictionary_columns = [f.name for f in fields if pa.types.is_dictionary(f.type)]
        """Columns to write with Parquet dictionary encoding (``use_dictionary=``)."""

    # -- one column each ------------------------------------------------------------------

    def _time(self, table, name):
        column = _one_chunk(table.column(name))
        if self.context.ts_offset:
            column = pc.add(column, self.context.ts_offset)
        return column.view(pa.timestamp("ns", self.context.tz)) if column.null_count == 0 else column.cast(
            pa.timestamp("ns", self.context.tz))

    def _symbol(self, table, name):
        column = _one_chunk(table.column(name)).cast(pa.int32())
        if len(column):
            low, high = pc.min_max(column).values()
            if low.as_py() < 0 or high.as_py() >= len(self._symbols):
                raise ValueError(
                    f"column 'symbol': ids {low.as_py()}..{high.as_py()}, but names are known for 0.."
                    f"{len(self._symbols) - 1} only"
                )
        return pa.DictionaryArray.from_arrays(column, self._symbols, safe=False)

    def _side(self, table, name):
        column = _one_chunk(table.column(name))
        values = column.to_numpy(zero_copy_only=False)
        indices = pa.array(values.astype(np.int8) + np.int8(1), mask=None if column.null_count == 0 else
                           column.is_null().to_numpy(zero_copy_only=False))
        return pa.DictionaryArray.from_arrays(indices, _SIDES, safe=False)

    def _event(self, table, name):
        return pa.DictionaryArray.from_arrays(_one_chunk(table.column(name)), _EVENTS, safe=False)

    def _reason(self, table, name):
        return pa.DictionaryArray.from_arrays(_one_chunk(table.column(name)), _REASONS, safe=False)

    def _encoded(self, table, name):
        return _one_chunk(table.column(name)).dictionary_encode()

    def _price(self, table, name):
        column = _one_chunk(table.column(name))
        values = column.to_numpy(zero_copy_only=False) if column.null_count else column.to_numpy()
        off = values == PRICE_OFF_TICK
        if column.null_count == 0 and not off.any():
            return column
        missing = off | column.is_null().to_numpy(zero_copy_only=False)
        return pa.array(np.where(missing, 0, values).astype(np.int64), mask=missing)

    def _px(self, table, name):
        prices = self._price(table, "price" if name == "px" else name[: -len("_px")])
        values = prices.to_numpy(zero_copy_only=False)
        scaled = values.astype(np.float64) * float(self.context.tick_size)
        if prices.null_count == 0:
            return pa.array(scaled)
        return pa.array(scaled, mask=prices.is_null().to_numpy(zero_copy_only=False))

    # -- the table ----------------------------------------------------------------------

    def __call__(self, table):
        """``table`` (of the numeric schema) as a table of `schema_out`."""
        if isinstance(table, pa.RecordBatch):
            table = pa.Table.from_batches([table])
        arrays = [table.column(name) if step is None else step(table, name) for name, step, _ in self._steps]
        return pa.Table.from_arrays(arrays, schema=self.schema_out)


def _one_chunk(column):
    if isinstance(column, pa.ChunkedArray):
        if column.num_chunks == 1:
            return column.chunk(0)
        return column.combine_chunks() if column.num_chunks else pa.array([], column.type)
    return column


def readable(table, *, tz=None, tick_size=None, symbols=None, ts_offset=0):
    """A result table of the numeric contract as a table that reads without joins (DESIGN §8).

    Parameters
    ----------
    table : pyarrow.Table or pyarrow.RecordBatch
        Trades or events of ``Engine.submit`` (``schema.TRADES_SCHEMA`` / ``EVENTS_SCHEMA``),
        or any table with such columns (``ts``, ``*_ts``, ``symbol``, ``side``,
        ``taker_side``, ``event``, ``reason``, ``price``, ...); other columns pass through.
    tz : str, optional
        Time zone of the times (``"America/New_York"``); None gives naive timestamps.
    tick_size : float, optional
        Currency per tick: adds ``px`` (float64) beside ``price``.
    symbols : sequence of str, or nbengine.SymbolTable, optional
        Names by symbol id: ``symbol`` becomes dictionary-encoded names.
    ts_offset : int
        ns added to every time.

    Returns
    -------
    pyarrow.Table
        ``ts`` as ``timestamp[ns, tz]``; ``symbol``, ``side``, ``taker_side``, ``event``,
        ``reason`` as dictionary-encoded names; ``price`` null where the input price was
        off the tick grid; the context in the schema metadata (see `context_of`).

    Examples
    --------
    >>> import nbengine
    >>> eng = nbengine.Engine()
    >>> res = eng.submit({"ts": [1, 2], "order_id": [1, 2], "kind": [0, 1], "side": [-1, 1],
    ...                   "price": [101, 0], "qty": [5, 2]})
    >>> t = nbengine.readable(res.trades, tz="UTC", tick_size=0.01, symbols=["AAPL"])
    >>> t.select(["symbol", "taker_side", "price", "px"]).to_pylist()
    [{'symbol': 'AAPL', 'taker_side': 'BUY', 'price': 101, 'px': 1.01}]
    >>> nbengine.readable(res.events).column("event").to_pylist()
    ['ACCEPTED', 'ACCEPTED', 'FILLED']
    """
    names = getattr(symbols, "names", symbols)
    context = Context(tz=tz, tick_size=tick_size, symbols=None if names is None else tuple(names),
                      ts_offset=int(ts_offset))
    return Readable(table.schema, context)(table)


_CODES = {
    "side": ({name: code for code, name in SIDE_NAMES.items()}, pa.int8()),
    "taker_side": ({name: code for code, name in SIDE_NAMES.items()}, pa.int8()),
    "event": ({name: code for code, name in EVENT_NAMES.items()}, pa.int8()),
    "reason": ({name: code for code, name in REASON_NAMES.items()}, pa.int16()),
}


def numeric(table):
    """The numeric contract of a readable table (the inverse of `readable`).

    Times become int64 ns (less the recorded ``ts_offset``), names codes (symbol names
    through the table's ``nbengine.symbols`` metadata), ``px`` columns are dropped and
    null prices become ``codes.PRICE_OFF_TICK``.

    Examples
    --------
    >>> import pyarrow as pa
    >>> t = readable(pa.table({"ts": [5], "event": pa.array([2], pa.int8())}), tz="UTC")
    >>> numeric(t).to_pylist()
    [{'ts': 5, 'event': 2}]
    """
    context = context_of(table.schema)
    arrays, fields = [], []
    for field in table.schema:
        name, typ = field.name, field.type
        column = _one_chunk(table.column(name))
        if name == "px" or (name.endswith("_px") and name[:-3] in _PRICES):
            continue
        if pa.types.is_timestamp(typ):
            column = column.cast(pa.timestamp("ns", typ.tz)).view(pa.int64()) if column.null_count == 0 else \
                column.cast(pa.timestamp("ns", typ.tz)).cast(pa.int64())
            if context.ts_offset:
                column = pc.subtract(column, context.ts_offset)
        elif name == "symbol" and not pa.types.is_integer(typ):
            names = pa.array(list(context.symbols or ()), pa.string())
            column = pc.index_in(column.cast(pa.string()), value_set=names).cast(pa.int32())
        elif name in _CODES and (pa.types.is_dictionary(typ) or pa.types.is_string(typ)):
            codes, out = _CODES[name]
            keys = pa.array(list(codes), pa.string())
            values = pa.array(list(codes.values()), out)
            column = pc.take(values, pc.index_in(column.cast(pa.string()), value_set=keys))
        elif pa.types.is_dictionary(typ):
            column = column.cast(typ.value_type)
        elif name in _PRICES and column.null_count:
            column = column.fill_null(PRICE_OFF_TICK)
        arrays.append(column)
        fields.append(pa.field(name, column.type, nullable=column.null_count > 0))
    metadata = {k: v for k, v in (table.schema.metadata or {}).items() if not k.startswith(b"nbengine.")
                or k == b"nbengine.schema_version"}
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields, metadata=metadata or None))
