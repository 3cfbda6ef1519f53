"""Arrow schemas of orders, trades and events, and validation at the boundary.

The only module besides the engine's table building that touches pyarrow on the input
path. ``prepare`` turns any accepted input into ``state.OrderColumns``: read-only,
contiguous numpy arrays in the contract dtypes, zero-copy where the input allows.
"""

import struct

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .codes import LIMIT, MARKET, MODIFY, PRICE_OFF_TICK
from .state import ORDER_DTYPES, OrderColumns

__all__ = [
    "SCHEMA_VERSION",
    "REQUIRED_COLUMNS",
    "ORDERS_SCHEMA",
    "TRADES_SCHEMA",
    "EVENTS_SCHEMA",
    "RESTING_SCHEMA",
    "DEPTH_SCHEMA",
    "SchemaError",
    "ValueRangeError",
    "check_scalars",
    "message_columns",
    "numpy_dtypes",
    "order_columns",
    "prepare",
    "single_row",
    "small_message",
    "to_ticks",
]


SCHEMA_VERSION = "1"
_METADATA = {b"nbengine.schema_version": SCHEMA_VERSION.encode()}

REQUIRED_COLUMNS = ("ts", "order_id", "kind")
_NEEDED_BY_KIND = {
    "side": (LIMIT, MARKET),
    "price": (LIMIT, MODIFY),
    "qty": (LIMIT, MARKET, MODIFY),
}


# ORDER_DTYPES (imported from state, where the kernels see it) is the one definition of the
# order columns' names, order and dtypes: ORDERS_SCHEMA, the WAL's record layout, the
# generators and loaders all derive from it.


def order_columns(columns):
    """A dict of order columns as contiguous numpy arrays in the contract dtypes, in contract order.

    The one helper that turns a dict into order columns (generators, loaders, the WAL,
    strategies): names and dtypes come from ``ORDER_DTYPES``. Absent ``symbol``, ``tif``
    and ``account`` are zeros; any other absent column raises ``KeyError``. Arrays already
    contiguous in their dtype are not copied.

    Examples
    --------
    >>> cols = order_columns({"ts": [1], "order_id": [2], "side": [1], "kind": [0], "price": [5], "qty": [1]})
    >>> list(cols) == list(ORDER_DTYPES), cols["symbol"].dtype
    (True, dtype('int32'))
    """
    n = len(columns["ts"])
    out = {}
    for name, dtype in ORDER_DTYPES.items():
        if name in columns:
            out[name] = np.ascontiguousarray(columns[name], dtype=dtype)
        elif name in ("symbol", "tif", "account"):
            out[name] = np.zeros(n, dtype=dtype)
        else:
            raise KeyError(f"column {name!r}: required, missing")
    return out


def numpy_dtypes(schema):
    """The numpy dtypes of a schema's fixed-width columns, in order (result tables are built from them)."""
    return [np.dtype(field.type.to_pandas_dtype()) for field in schema]


def _schema(fields):
    return pa.schema([pa.field(name, typ, nullable=False) for name, typ in fields], metadata=_METADATA)


_ARROW_TYPES = {name: pa.from_numpy_dtype(dtype) for name, dtype in ORDER_DTYPES.items()}

ORDERS_SCHEMA = _schema(_ARROW_TYPES.items())

TRADES_SCHEMA = _schema(
    [
        ("seq", pa.int64()),
        ("ts", pa.int64()),
        ("symbol", pa.int32()),
        ("price", pa.int64()),
        ("qty", pa.int64()),
        ("taker_order_id", pa.int64()),
        ("maker_order_id", pa.int64()),
        ("taker_side", pa.int8()),
        ("taker_account", pa.int64()),
        ("maker_account", pa.int64()),
    ]
)

EVENTS_SCHEMA = _schema(
    [
        ("seq", pa.int64()),
        ("ts", pa.int64()),
        ("symbol", pa.int32()),
        ("order_id", pa.int64()),
        ("event", pa.int8()),
        ("reason", pa.int16()),
        ("price", pa.int64()),
        ("leaves_qty", pa.int64()),
    ]
)

RESTING_SCHEMA = _schema(
    [
        ("symbol", pa.int32()),
        ("side", pa.int8()),
        ("price", pa.int64()),
        ("order_id", pa.int64()),
        ("qty", pa.int64()),
        ("account", pa.int64()),
        ("ts", pa.int64()),
    ]
)

DEPTH_SCHEMA = _schema(
    [
        ("side", pa.int8()),
        ("level", pa.int32()),
        ("price", pa.int64()),
        ("qty", pa.int64()),
        ("orders", pa.int64()),
    ]
)


class SchemaError(TypeError):
    """An order input whose columns do not fit the contract. Names column, expected and actual."""


class ValueRangeError(SchemaError, OverflowError):
    """An order value outside its column's dtype (e.g. a symbol beyond int32): never wrapped.

    Raised the same way by ``submit``, ``submit_one`` and ``submit_rows``; it is both a
    ``SchemaError`` and an ``OverflowError``.
    """


_RANGES = {name: (int(np.iinfo(dtype).min), int(np.iinfo(dtype).max)) for name, dtype in ORDER_DTYPES.items()}


def check_scalars(row):
    """Refuse a single order whose values do not fit their columns' dtypes.

    ``row`` holds Python ints in ``OrderColumns`` order. Raises ``ValueRangeError`` naming
    the first such column and its value, as ``prepare`` does for a batch.
    """
    ts, order_id, symbol, side, kind, tif, price, qty, account = row
    if (
        -128 <= side <= 127 and -128 <= kind <= 127 and -128 <= tif <= 127
        and -(2**31) <= symbol < 2**31
        and -(2**63) <= min(ts, order_id, price, qty, account)
        and max(ts, order_id, price, qty, account) < 2**63
    ):
        return
    for (name, (low, high)), value in zip(_RANGES.items(), row):
        if not low <= value <= high:
            raise ValueRangeError(f"column {name!r}: expected {ORDER_DTYPES[name]}, got {value} (out of {ORDER_DTYPES[name]} range)")


def _readonly(array, dtype):
    """A read-only contiguous view (kernels see one array kind, so compile once)."""
    out = np.ascontiguousarray(array, dtype=dtype).view()
    out.flags.writeable = False
    return out


def _fail(name, actual, detail="", error=SchemaError):
    expected = ORDER_DTYPES[name]
    hint = "int64 or timestamp" if name == "ts" else str(expected)
    raise error(f"column {name!r}: expected {hint}, got {actual}{detail}")


def _integers_from_objects(name, values):
    """An object array (Python ints beyond int64, None) as int64, or a one-line ``SchemaError``."""
    for row, value in enumerate(values):
        if value is None or (isinstance(value, float) and value != value):
            raise SchemaError(f"column {name!r}: expected no nulls, got a null at row {row}")
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
            _fail(name, f"{type(value).__name__} {value!r} at row {row}")
        low, high = _RANGES[name]
        if not low <= value <= high:
            _fail(name, "object", f" (row {row} holds {value}, out of {ORDER_DTYPES[name]} range)", ValueRangeError)
    return values.astype(ORDER_DTYPES[name])


_NS_PER_UNIT = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}


def _refuse_out_of_ns_range(counts, unit, typ):
    """Raise for the first of ``counts`` (int64 in ``unit``) that int64 nanoseconds cannot hold."""
    factor = _NS_PER_UNIT.get(unit)
    if factor is None:
        raise SchemaError(f"column 'ts': expected int64 or timestamp, got {typ} (unit {unit!r} unsupported)")
    limit = (2**63 - 1) // factor
    bad = np.flatnonzero((counts > limit) | (counts < -limit))
    if bad.size:
        raise ValueRangeError(
            f"column 'ts': expected timestamps within the int64 nanosecond range (1677-09-21 to 2262-04-11), "
            f"got {typ} {counts[bad[0]]} at row {bad[0]}"
        )


def _datetimes_as_ns(values):
    """A numpy datetime64 array as int64 ns, refusing values that would wrap (never silently)."""
    unit, step = np.datetime_data(values.dtype)
    counts = values.view(np.int64)
    if step != 1:
        raise SchemaError(f"column 'ts': expected int64 or timestamp, got {values.dtype} (multiples of a unit)")
    _refuse_out_of_ns_range(counts, unit, values.dtype)
    return counts * _NS_PER_UNIT[unit]


def _arrow_name(dtype):
    """A numpy dtype in the words of Arrow types (``<U1`` → ``string``), as errors speak."""
    if dtype.kind in "US":
        return "string" if dtype.kind == "U" else "binary"
    try:
        return str(pa.from_numpy_dtype(dtype))
    except (pa.ArrowNotImplementedError, TypeError):
        return str(dtype)


def _text_hint(name):
    return f"; map names to codes with nbengine.map_orders(orders, values={{{name!r}: {{...}}}})"


def _column_from_numpy(name, values):
    values = np.asarray(values)
    dtype = ORDER_DTYPES[name]
    if values.ndim != 1:
        raise SchemaError(f"column {name!r}: expected a 1-D array, got shape {values.shape}")
    if values.dtype == object:
        return _readonly(_integers_from_objects(name, values), dtype)
    if name == "ts" and values.dtype.kind == "M":
        values = _datetimes_as_ns(values)
    if values.dtype == dtype:
        return _readonly(values, dtype)
    if values.dtype.kind not in "iu":
        if values.dtype.kind == "f" and np.isnan(values).any():
            raise SchemaError(f"column {name!r}: expected no nulls, got a null at row {np.flatnonzero(np.isnan(values))[0]} (NaN)")
        detail = "; convert float prices with nbengine.to_ticks(prices, tick_size)" if name == "price" else ""
        if values.dtype.kind in "US":
            detail = _text_hint(name)
        _fail(name, _arrow_name(values.dtype), detail)
    if values.size and not np.can_cast(values.dtype, dtype):
        info = np.iinfo(dtype)
        bad = np.flatnonzero((values < info.min) | (values > info.max))
        if bad.size:
            _fail(name, _arrow_name(values.dtype), f" (row {bad[0]} holds {values[bad[0]]}, out of {dtype} range)",
                  ValueRangeError)
    return _readonly(values.astype(dtype), dtype)


def _column_from_arrow(name, column):
    if column.null_count:
        first = pc.index(pc.is_null(column), True).as_py()
        raise SchemaError(f"column {name!r}: expected no nulls, got a null at row {first}")
    target = _ARROW_TYPES[name]
    typ = column.type
    if typ != target:
        if name == "ts" and pa.types.is_timestamp(typ):
            column = column.cast(target)
            if typ.unit != "ns":
                counts = column.to_numpy()
                _refuse_out_of_ns_range(counts, typ.unit, typ)
                column = pa.array(counts * _NS_PER_UNIT[typ.unit], target)
        elif not pa.types.is_integer(typ):
            detail = "; convert float prices with nbengine.to_ticks(prices, tick_size)" if name == "price" else ""
            if pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_dictionary(typ):
                detail = _text_hint(name)
            _fail(name, typ, detail)
        else:
            try:
                column = column.cast(target)
            except pa.ArrowInvalid as exc:
                _fail(name, typ, f" ({exc})", ValueRangeError)
    if isinstance(column, pa.ChunkedArray):
        column = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    values = column.to_numpy(zero_copy_only=True)
    if values.flags.writeable:
        return _readonly(values, values.dtype)
    return values


def _refuse_duplicate_names(names):
    """Raise when a contract column appears more than once (which one would be meant?)."""
    for name in ORDER_DTYPES:
        if names.count(name) > 1:
            raise SchemaError(f"column {name!r}: expected once, got {names.count(name)} columns of that name")


def _as_arrow(orders):
    if isinstance(orders, (pa.Table, pa.RecordBatch)):
        return orders
    if type(orders).__module__.startswith("pandas"):
        _refuse_duplicate_names(list(map(str, orders.columns)))
    if hasattr(orders, "__arrow_c_stream__") or hasattr(orders, "__arrow_c_array__"):
        return pa.table(orders)
    module = type(orders).__module__
    if module.startswith("pandas"):
        return pa.Table.from_pandas(orders, preserve_index=False)
    raise SchemaError(
        "orders: expected a pyarrow Table/RecordBatch, an object with __arrow_c_stream__, "
        f"a pandas DataFrame or a dict of arrays, got {type(orders).__name__}"
    )


class _ZeroColumns:
    """Read-only zero arrays for absent optional columns, reused across batches."""

    def __init__(self):
        self._buffers = {}

    def get(self, dtype, n):
        buffer = self._buffers.get(dtype)
        if buffer is None or buffer.shape[0] < n:
            buffer = np.zeros(max(n, 1024), dtype=dtype)
            buffer.flags.writeable = False
            self._buffers[dtype] = buffer
        return buffer[:n]


_ZEROS = _ZeroColumns()


_OPTIONAL = ("symbol", "tif", "account")
_COLUMN_DTYPES = tuple(ORDER_DTYPES.values())
_KNOWN_SCHEMAS = 8
"""Most schemas whose plans ``prepare`` remembers (the newest first)."""

_plans = ()
"""``(schema, plan)`` pairs of schemas seen by ``prepare``, newest first; replaced whole, never mutated."""


def _plan(schema):
    """Where each contract column is in ``schema`` (-1: absent optional), or None if the fast path cannot take it.

    The fast path takes a schema whose contract columns appear once each, with exactly the
    contract types; ``symbol``, ``tif`` and ``account`` may be absent; others may be extra.
    Anything else (casts, timestamps, missing side/price/qty) goes the general way.
    """
    names = schema.names
    plan = []
    for name, typ in _ARROW_TYPES.items():
        count = names.count(name)
        if count == 0 and name in _OPTIONAL:
            plan.append(-1)
            continue
        if count != 1:
            return None
        index = names.index(name)
        if schema.field(index).type != typ:
            return None
        plan.append(index)
    return tuple(plan)


def _known_plan(schema):
    """``_plan(schema)``, checked once per schema: later batches of an equal schema cost one ``equals``."""
    global _plans
    plans = _plans
    for known, plan in plans:
        if known is schema or known.equals(schema):
            return plan
    plan = _plan(schema)
    _plans = ((schema, plan),) + plans[: _KNOWN_SCHEMAS - 1]
    return plan


SMALL_BATCH = 4096
"""Largest batch ``prepare`` reads through one IPC serialization (``_prepare_small``) rather than column by column."""


def _small_layout(plan, n):
    """Where each contract column of a ``plan`` batch of ``n`` rows lies in its IPC message body.

    Returns ``(body_bytes, ((first, dtype), ...))`` in ``OrderColumns`` order, ``first``
    counted from the start of the body: the batch's columns in its own order, each padded
    to 8 bytes.
    """
    sizes = [(n * dtype.itemsize + 7) & ~7 for dtype in _COLUMN_DTYPES]
    starts = {}
    offset = 0
    for size, index in sorted(zip(sizes, plan), key=lambda pair: pair[1]):
        starts[index] = offset
        offset += size
    return offset, tuple((starts[index], dtype) for index, dtype in zip(plan, _COLUMN_DTYPES))


_small_layouts = {}

_METADATA_LENGTH = struct.Struct("<i")
"""The int32 after an IPC message's continuation marker: its metadata's length (padding included)."""


def _small_message(batch, plan):
    """``(message, layout)`` of a small RecordBatch whose schema is exactly the nine contract columns; None otherwise.

    ``RecordBatch.serialize`` copies every column into one message in one pyarrow call,
    padded to 8 bytes each and without validity bitmaps when there are no nulls. Per batch
    that costs less than reading nine pyarrow arrays (about 0.8 µs each), which dominates a
    batch of a few rows. ``message`` is that message as uint8 (a new buffer of its own, only
    read); ``layout`` is the int64[10] of ``kernels.match.match_message``: each column's
    first value in units of its width, in ``OrderColumns`` order, then the row count
    (shared and read-only). A message of another size than that layout (nulls, another
    alignment) returns None.
    """
    n = batch.num_rows
    key = (plan, n)
    layout = _small_layouts.get(key)
    if layout is None:
        if len(_small_layouts) >= 1024:
            _small_layouts.clear()
        layout = _small_layouts[key] = [*_small_layout(plan, n), {}]
    body, columns, by_start = layout
    message = batch.serialize()
    start = message.size - body
    offsets = by_start.get(start)
    if offsets is None:
        if start < 8 or start % 8 or _METADATA_LENGTH.unpack_from(message, 4)[0] + 8 != start:
            return None
        offsets = by_start[start] = np.array(
            [(start + first) // dtype.itemsize for first, dtype in columns] + [n], dtype=np.int64
        )
        offsets.flags.writeable = False
    elif _METADATA_LENGTH.unpack_from(message, 4)[0] + 8 != start:
        return None
    return np.frombuffer(message, np.uint8), offsets


def message_columns(message, layout):
    """``OrderColumns`` of a ``small_message`` pair: numpy views of the message, no copy (read-only if it is)."""
    n = int(layout[9])
    return OrderColumns(*[message.view(dtype)[first : first + n] for first, dtype in zip(layout.tolist(), _COLUMN_DTYPES)])


def _prepare_small(batch, plan):
    """``OrderColumns`` of a small RecordBatch of exactly the contract columns (``_small_message``); None otherwise."""
    small = _small_message(batch, plan)
    if small is None:
        return None
    message, layout = small
    message.flags.writeable = False  # the columns' views inherit it
    return message_columns(message, layout)


def small_message(orders):
    """A small ``pa.RecordBatch`` (or one-chunk ``pa.Table``) of exactly the contract's nine columns, as
    ``(message, layout)`` for ``kernels.match.match_message``; None for anything else.

    The columns may come in any order but must have the contract types and no nulls (a
    known-good schema, checked once per schema); up to ``SMALL_BATCH`` rows. Anything else
    returns None: ``prepare`` then takes the batch and returns or raises what it does.
    ``message_columns`` gives the same columns as ``prepare`` would.
    """
    if type(orders) is pa.Table:
        batches = orders.to_batches()
        if len(batches) != 1:
            return None
        orders = batches[0]
    elif type(orders) is not pa.RecordBatch:
        return None
    if not 0 < orders.num_rows <= SMALL_BATCH:
        return None
    plan = _known_plan(orders.schema)
    if plan is None or len(plan) != orders.num_columns or -1 in plan:
        return None
    return _small_message(orders, plan)


def _prepare_known(table, plan):
    """``OrderColumns`` of a RecordBatch or one-chunk Table of a known-good schema; None to go the general way.

    No type check (the schema was checked once). A small batch of exactly the contract's
    columns is read through one serialization (``_prepare_small``); otherwise the columns
    are zero-copy numpy views of the Arrow buffers, after the null count of each column
    (a column with nulls goes the general way, which names the first null row).
    """
    if isinstance(table, pa.Table):
        batches = table.to_batches()
        if len(batches) != 1:
            return None
        table = batches[0]
    n = table.num_rows
    if n <= SMALL_BATCH and len(plan) == table.num_columns and -1 not in plan:
        columns = _prepare_small(table, plan)
        if columns is not None:
            return columns
    array = table.to_struct_array()
    columns = []
    for index, dtype in zip(plan, _COLUMN_DTYPES):
        if index < 0:
            columns.append(_ZEROS.get(dtype, n))
            continue
        column = array.field(index)
        if column.null_count:
            return None
        values = column.to_numpy(zero_copy_only=True)
        if values.flags.writeable:
            values = _readonly(values, dtype)
        columns.append(values)
    return OrderColumns(*columns)


_IN_ORDER = tuple(range(len(ORDER_DTYPES)))
"""The plan of a batch whose columns are the contract's, in contract order."""


def single_row(orders):
    """The one order of a 1-row ``pa.RecordBatch`` or ``pa.Table`` of a known-good schema, as nine ints; None otherwise.

    The values come in ``OrderColumns`` order, as ``prepare`` would give them, for the
    scalar path (``Engine.submit`` without a WAL). Only a batch whose columns are exactly
    the contract's (in any order, with the contract types, ``symbol``/``tif``/``account``
    possibly absent: zeros) is taken: one ``to_tensor`` widens them all to int64 without
    loss, which costs less than reading nine arrays or serializing the batch. Anything
    else, nulls included (``to_tensor`` refuses them), returns None: ``prepare`` then
    takes the batch and raises what it raises.
    """
    if (type(orders) is not pa.RecordBatch and type(orders) is not pa.Table) or orders.num_rows != 1:
        return None
    if type(orders) is pa.Table:
        batches = orders.to_batches()  # Table.to_tensor costs about 9 us on a new table, a batch's 2.6
        if len(batches) != 1:
            return None
        orders = batches[0]
    plan = _known_plan(orders.schema)
    if plan is None or orders.num_columns != len(plan) - plan.count(-1):
        return None
    try:
        values = orders.to_tensor().to_numpy().tolist()[0]
    except pa.ArrowException:
        return None
    if plan == _IN_ORDER:
        return values
    return [0 if index < 0 else values[index] for index in plan]


def prepare(orders):
    """Validate an order batch and return it as ``OrderColumns``.

    Parameters
    ----------
    orders : pyarrow.Table, pyarrow.RecordBatch, object with ``__arrow_c_stream__``, pandas.DataFrame or dict
        Columns of DESIGN §2. Integer columns of other widths are cast when every value fits;
        ``ts`` may be a timestamp of any unit. Columns not in the contract are ignored.

    Returns
    -------
    OrderColumns
        Read-only contiguous arrays (zero-copy when the input already has the contract types).

    Raises
    ------
    SchemaError
        One message naming the column, the expected and the actual type (or the first null row).

    Examples
    --------
    >>> cols = prepare({"ts": [1], "order_id": [7], "kind": [0], "side": [1], "price": [100], "qty": [5]})
    >>> cols.symbol.dtype, int(cols.price[0])
    (dtype('int32'), 100)
    """
    if isinstance(orders, OrderColumns):
        return orders
    if isinstance(orders, dict):
        names = set(orders)

        def fetch(name):
            return _column_from_numpy(name, orders[name])

    else:
        table = _as_arrow(orders)
        plan = _known_plan(table.schema)
        if plan is not None:
            columns = _prepare_known(table, plan)
            if columns is not None:
                return columns
        _refuse_duplicate_names(table.schema.names)
        names = set(table.schema.names)

        def fetch(name):
            return _column_from_arrow(name, table.column(name))

    for name in REQUIRED_COLUMNS:
        if name not in names:
            raise SchemaError(f"column {name!r}: required ({ORDER_DTYPES[name]}), missing")
    kind = fetch("kind")
    n = kind.shape[0]
    columns = {"kind": kind}
    for name in ORDER_DTYPES:
        if name in columns:
            continue
        if name in names:
            columns[name] = fetch(name)
            if columns[name].shape[0] != n:
                raise SchemaError(f"column {name!r}: expected {n} rows like 'kind', got {columns[name].shape[0]}")
            continue
        needing = _NEEDED_BY_KIND.get(name)
        if needing is not None and np.isin(kind, needing).any():
            raise SchemaError(
                f"column {name!r}: required ({ORDER_DTYPES[name]}) when the batch has "
                f"kind {'/'.join(map(str, needing))} rows, missing"
            )
        columns[name] = _ZEROS.get(ORDER_DTYPES[name], n)
    return OrderColumns(**columns)


def to_ticks(prices, tick_size):
    """Convert float prices to integer ticks without silent rounding.

    Parameters
    ----------
    prices : array-like of float
        Any float dtype; the tolerance follows it: a price is on the grid when it is
        within one unit in the last place *of its own dtype* (plus 1e-9 relative) of a
        multiple of ``tick_size``, so float32 prices such as ``np.float32(100.01)`` map
        to their tick. Where the dtype cannot tell neighbouring ticks apart (an ulp of the
        price is half a tick or more) the price is off the grid: nothing is guessed.
    tick_size : float
        Price of one tick, > 0.

    Returns
    -------
    numpy.ndarray of int64
        ``prices / tick_size`` where that is an integer within the tolerance, and
        ``codes.PRICE_OFF_TICK`` where it is not (NaN included): such rows are rejected
        by the engine with reason ``OFF_TICK``.

    Examples
    --------
    >>> to_ticks([100.25, 100.26, 100.3], 0.05).tolist()[0]
    2005
    """
    if not tick_size > 0:
        raise ValueError(f"tick_size: expected > 0, got {tick_size}")
    native = np.asarray(prices)
    if native.dtype.kind != "f":
        native = native.astype(np.float64)
    scaled = native.astype(np.float64) / tick_size
    ticks = np.rint(scaled)
    ulp = np.abs(np.spacing(native)).astype(np.float64) / tick_size
    on_grid = np.abs(scaled - ticks) <= ulp + 1e-9 * np.maximum(1.0, np.abs(scaled))
    on_grid &= (ulp < 0.5) & (np.abs(ticks) < 2.0**62)
    out = np.full(scaled.shape, PRICE_OFF_TICK, dtype=np.int64)
    out[on_grid] = ticks[on_grid]
    return out
