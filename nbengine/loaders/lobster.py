"""LOBSTER message and orderbook files, and their conversion to the order schema.

LOBSTER (lobsterdata.com) rebuilds NASDAQ TotalView-ITCH into two CSV files per day and
depth ``L``: a *message* file (one event a row) and an *orderbook* file (row ``i`` is the
visible top-``L`` book after message ``i``). Neither has a header; either may be gzipped.

Conversion (`to_orders`), by message type:

====  ==========================  =================================================
type  LOBSTER meaning             order rows
====  ==========================  =================================================
1     new limit order             LIMIT GTC, the message's id, side, price and size
2     partial cancel (Size gone)  MODIFY, same price, ``qty`` = the order's remaining
                                  size after the cancel (keeps time priority); CANCEL
                                  when nothing remains
3     full delete                 CANCEL of the id
4     visible execution           LIMIT IOC of the *opposite* side at the execution
                                  price for the executed size, with a synthetic id
                                  ``EXECUTION_ID_BASE + row``
5     hidden execution            none: kept in ``LobsterOrders.skipped``
6     cross trade (auction)       none: kept in ``LobsterOrders.skipped``
7     trading halt indicator      none: kept in ``LobsterOrders.skipped``
====  ==========================  =================================================

A type 2 needs the order's remaining size, which the message does not carry: it is the
type-1 size less every earlier type-2 and type-4 size of that id, computed for all rows
at once. When the id was never added in the file (an order resting before the file
begins, or one that rested below the top ``L`` levels when it was added) the remaining
size is unknown: the row becomes a MODIFY with ``qty`` = the size removed, and the engine
rejects it with ``UNKNOWN_ID`` because such an id is never live. CANCEL and executions of
those ids behave the same way (a CANCEL is rejected, an IOC takes whatever rests first).

Prices are LOBSTER's integer dollars x 10000. ``price_unit`` LOBSTER units make one
tick; the default 100 is one cent, NASDAQ's tick above $1, so a $250 stock sits near
25,000 ticks and a day's range spans a few thousand. A price that is not a multiple of
``price_unit`` becomes ``codes.PRICE_OFF_TICK`` and the engine rejects it (``OFF_TICK``);
nothing is rounded. Times are parsed from the text (seconds after midnight, up to nine
decimals) to exact integer nanoseconds, never through a float.
"""

import warnings
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from ..codes import CANCEL, GTC, IOC, LIMIT, MODIFY, PRICE_OFF_TICK
from ..schema import ORDER_DTYPES, order_columns

__all__ = [
    "DEFAULT_PRICE_UNIT",
    "EXECUTION_ID_BASE",
    "LobsterOrders",
    "MESSAGE_SCHEMA",
    "OPENING_ID_BASE",
    "SubNanosecondTimeWarning",
    "TIME_ZONE",
    "faithful",
    "file_context",
    "load",
    "messages_table",
    "opening_book",
    "parse_times",
    "price_ticks",
    "read_messages",
    "read_orderbook",
    "remaining_before",
    "to_orders",
]

ADD, PARTIAL_CANCEL, DELETE, EXECUTE, EXECUTE_HIDDEN, CROSS_TRADE, HALT = 1, 2, 3, 4, 5, 6, 7
"""LOBSTER message types."""

EXECUTION_ID_BASE = 1 << 40
"""Synthetic order id of the IOC made from message row ``r`` is ``EXECUTION_ID_BASE + r``."""

OPENING_ID_BASE = 1 << 41
"""Synthetic order id of the ``k``-th opening-book placeholder is ``OPENING_ID_BASE + k``."""

DEFAULT_PRICE_UNIT = 100
"""LOBSTER price units (dollars x 10000) per tick: 100 is one cent."""

MESSAGE_SCHEMA = pa.schema(
    [
        pa.field("ts", pa.int64(), nullable=False),
        pa.field("type", pa.int8(), nullable=False),
        pa.field("order_id", pa.int64(), nullable=False),
        pa.field("size", pa.int64(), nullable=False),
        pa.field("price", pa.int64(), nullable=False),
        pa.field("direction", pa.int8(), nullable=False),
    ]
)
"""A message file as read: ``ts`` in ns after midnight, ``price`` in LOBSTER units."""

SKIP_REASONS = {
    EXECUTE_HIDDEN: "hidden execution: trades against liquidity that is not in the visible book",
    CROSS_TRADE: "cross trade (auction): not an order against the continuous book",
    HALT: "trading halt indicator: carries no order",
}
"""Why rows of these types produce no order (``LobsterOrders.skipped``)."""

OPENING_ROW_REASON = "reflected in the opening book (orderbook row 0 is the book after message 0)"

_TIME_PATTERN = r"^(?P<seconds>[0-9]{1,12})(?:\.(?P<fraction>[0-9]{1,9})(?P<sub_ns>[0-9]*))?$"
_TEXT_NAMES = ["time", "type", "order_id", "size", "price", "direction"]


TIME_ZONE = "America/New_York"
"""LOBSTER times are NASDAQ's: seconds after midnight, New York time."""

_FILE_NAME = r"(?P<ticker>[A-Za-z0-9.\-]+)_(?P<date>\d{4}-\d{2}-\d{2})_"


def file_context(path):
    """``(ticker, midnight_ns)`` from a LOBSTER file name such as ``AMZN_2012-06-21_34200000_57600000_message_5.csv``.

    ``midnight_ns`` is midnight of the file's date in New York, in ns since the Unix
    epoch: the time a message's ``ts`` (ns after midnight) counts from. Either is None
    when the name does not tell.

    Examples
    --------
    >>> file_context("data/AMZN_2012-06-21_34200000_57600000_message_5.csv")
    ('AMZN', 1340251200000000000)
    >>> file_context("messages.csv")
    (None, None)
    """
    import datetime as dt
    import os
    import re
    import zoneinfo

    found = re.match(_FILE_NAME, os.path.basename(str(path)))
    if found is None:
        return None, None
    try:
        day = dt.date.fromisoformat(found.group("date"))
    except ValueError:
        return found.group("ticker"), None
    midnight = dt.datetime(day.year, day.month, day.day, tzinfo=zoneinfo.ZoneInfo(TIME_ZONE))
    return found.group("ticker"), int(midnight.timestamp()) * 10**9


class SubNanosecondTimeWarning(UserWarning):
    """A ``Time`` value had digits below one nanosecond; they were dropped."""


class LobsterOrders(NamedTuple):
    """A message file converted to orders.

    Attributes
    ----------
    orders : dict of str to numpy.ndarray
        The order columns (``state.ORDER_DTYPES`` names and dtypes), opening-book
        placeholders first, then one row per converted message in file order.
    source_row : numpy.ndarray of int64
        For each order row, the message row it came from (-1 for placeholders).
    skipped : pyarrow.Table
        Message rows that produced no order: their ``row``, the ``MESSAGE_SCHEMA``
        columns, and ``reason`` (text).
    """

    orders: dict
    source_row: np.ndarray
    skipped: pa.Table


def parse_times(text):
    """Parse LOBSTER ``Time`` strings to integer nanoseconds after midnight, exactly.

    Parameters
    ----------
    text : pyarrow.Array or ChunkedArray of string, or a list of str
        Seconds after midnight with up to 9 decimals (trailing zeros may be dropped).

    Returns
    -------
    numpy.ndarray of int64

    Raises
    ------
    ValueError
        Naming the first row that is not of that form.

    Warns
    -----
    SubNanosecondTimeWarning
        When a value has more than 9 decimals (the AMZN 2012-06-21 files hold one,
        ``43002.632812672004``, a float printed with 17 digits): digits past the ninth are
        dropped, and the warning names the count and the first row.

    Examples
    --------
    >>> parse_times(["34200.18960767", "34200", "57599.959359650"]).tolist()
    [34200189607670, 34200000000000, 57599959359650]
    """
    text = pa.chunked_array([pa.array(text, pa.string())]) if isinstance(text, list) else text
    parts = pc.extract_regex(text, _TIME_PATTERN)
    if parts.null_count:
        bad = pc.index(pc.is_null(parts), True).as_py()
        raise ValueError(f"Time: expected seconds with up to 9 decimals, got {text[bad].as_py()!r} at row {bad}")
    sub_ns = pc.not_equal(pc.utf8_length(pc.struct_field(parts, "sub_ns")), 0)
    if pc.any(sub_ns).as_py():
        rows = np.flatnonzero(sub_ns.to_numpy(zero_copy_only=False))
        warnings.warn(
            f"Time: {rows.size} value(s) with more than 9 decimals truncated to whole ns, first "
            f"{text[int(rows[0])].as_py()!r} at row {rows[0]}",
            SubNanosecondTimeWarning,
            stacklevel=2,
        )
    seconds = pc.cast(pc.struct_field(parts, "seconds"), pa.int64()).to_numpy()
    fraction = pc.utf8_rpad(pc.struct_field(parts, "fraction"), 9, "0")
    return seconds * 1_000_000_000 + pc.cast(fraction, pa.int64()).to_numpy()


def read_messages(path):
    """Read a LOBSTER message file (CSV, no header, ``.gz`` allowed).

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    pyarrow.Table
        ``MESSAGE_SCHEMA``: ``ts`` exact ns after midnight, ``price`` in LOBSTER units.

    Raises
    ------
    ValueError
        On a malformed time, an unknown type or a direction other than 1 / -1 (naming the row).
    """
    types = {"time": pa.string(), "type": pa.int8(), "order_id": pa.int64(), "size": pa.int64(),
             "price": pa.int64(), "direction": pa.int8()}
    table = pcsv.read_csv(
        path,
        read_options=pcsv.ReadOptions(column_names=_TEXT_NAMES),
        convert_options=pcsv.ConvertOptions(column_types=types),
    )
    return messages_table(table)


def messages_table(table):
    """Validate message columns read as text time + integers; return a ``MESSAGE_SCHEMA`` table."""
    for name in _TEXT_NAMES:
        if table.column(name).null_count:
            row = pc.index(pc.is_null(table.column(name)), True).as_py()
            raise ValueError(f"{name}: expected a value, got an empty field at row {row}")
    ts = parse_times(table.column("time"))
    kind = table.column("type").to_numpy()
    direction = table.column("direction").to_numpy()
    for name, values, allowed in (("type", kind, np.arange(ADD, HALT + 1)), ("direction", direction, [1, -1])):
        bad = np.flatnonzero(~np.isin(values, allowed))
        if bad.size:
            raise ValueError(f"{name}: expected one of {list(allowed)}, got {values[bad[0]]} at row {bad[0]}")
    columns = [ts, kind] + [table.column(name).to_numpy() for name in ("order_id", "size", "price")] + [direction]
    return pa.Table.from_arrays([pa.array(c, f.type) for c, f in zip(columns, MESSAGE_SCHEMA)], schema=MESSAGE_SCHEMA)


def read_orderbook(path):
    """Read a LOBSTER orderbook file (CSV, no header, ``.gz`` allowed).

    Returns
    -------
    numpy.ndarray of int64, shape (rows, levels, 4)
        ``[row, level]`` holds ask price, ask size, bid price, bid size (LOBSTER units and
        shares); empty levels hold LOBSTER's sentinels (ask 9999999999, bid -9999999999, size 0).
    """
    table = pcsv.read_csv(path, read_options=pcsv.ReadOptions(autogenerate_column_names=True))
    if table.num_columns % 4:
        raise ValueError(f"orderbook: expected 4 columns per level, got {table.num_columns} columns")
    block = np.column_stack([pc.cast(c, pa.int64()).to_numpy() for c in table.columns])
    return block.reshape(table.num_rows, table.num_columns // 4, 4)


def price_ticks(lobster_prices, price_unit=DEFAULT_PRICE_UNIT):
    """LOBSTER prices (dollars x 10000) to ticks of ``price_unit`` units; off-grid → ``PRICE_OFF_TICK``.

    Examples
    --------
    >>> price_ticks(np.array([2238200, 2238250])).tolist() == [22382, PRICE_OFF_TICK]
    True
    """
    prices = np.asarray(lobster_prices, dtype=np.int64)
    ticks = prices // price_unit
    return np.where(prices % price_unit == 0, ticks, PRICE_OFF_TICK)


def remaining_before(kind, order_id, size):
    """Each row's order remaining size before the row, from the file alone.

    Returns
    -------
    remaining : numpy.ndarray of int64
        Sizes added (type 1) less sizes removed (types 2 and 4) by earlier rows of the id.
    added : numpy.ndarray of bool
        Whether a type 1 of the id came earlier (otherwise ``remaining`` means nothing).
    """
    signed = np.where(kind == ADD, size, np.where((kind == PARTIAL_CANCEL) | (kind == EXECUTE), -size, 0))
    by_id = np.argsort(order_id, kind="stable")
    ids = order_id[by_id]
    starts = np.ones(ids.size, dtype=bool)
    starts[1:] = ids[1:] != ids[:-1]
    group = np.cumsum(starts) - 1
    start_rows = np.flatnonzero(starts)

    def exclusive_running_sum(values):
        running = np.cumsum(values[by_id])
        before = running - values[by_id]
        out = np.empty_like(running)
        out[by_id] = before - (running - values[by_id])[start_rows][group]
        return out

    return exclusive_running_sum(signed), exclusive_running_sum((kind == ADD).astype(np.int64)) > 0


def opening_book(orderbook_row, *, price_unit=DEFAULT_PRICE_UNIT, ts=0):
    """Placeholder orders for the visible book of one orderbook row, one per level.

    Parameters
    ----------
    orderbook_row : numpy.ndarray, shape (levels, 4)
        A row of `read_orderbook`.
    price_unit : int
        LOBSTER units per tick.
    ts : int
        Timestamp given to every placeholder.

    Returns
    -------
    dict of str to numpy.ndarray
        LIMIT GTC orders with ids ``OPENING_ID_BASE + k``: bids best first, then asks.
        Their queue makeup is unknown, so each level is one order of the level's size.
    """
    bids = orderbook_row[orderbook_row[:, 3] > 0][:, 2:4]
    asks = orderbook_row[orderbook_row[:, 1] > 0][:, 0:2]
    price = np.concatenate([bids[:, 0], asks[:, 0]])
    side = np.concatenate([np.ones(len(bids)), -np.ones(len(asks))])
    n = price.size
    return _orders(
        ts=np.full(n, ts), order_id=OPENING_ID_BASE + np.arange(n), side=side, kind=np.full(n, LIMIT),
        tif=np.full(n, GTC), price=price_ticks(price, price_unit), qty=np.concatenate([bids[:, 1], asks[:, 1]]),
    )


def to_orders(messages, *, orderbook=None, price_unit=DEFAULT_PRICE_UNIT, symbol=0):
    """Convert a message table to orders (see the module docstring for the mapping).

    Parameters
    ----------
    messages : pyarrow.Table
        ``MESSAGE_SCHEMA`` (from `read_messages`).
    orderbook : numpy.ndarray, optional
        From `read_orderbook`. When given, its row 0 becomes the opening book
        (`opening_book`, timestamped like message 0) and message 0, which row 0 already
        reflects, goes to ``skipped``.
    price_unit : int
        LOBSTER units per tick (default one cent).
    symbol : int
        The book every order goes to.

    Returns
    -------
    LobsterOrders

    Examples
    --------
    >>> msgs = messages_table(pa.table({"time": ["1.5", "2", "2.000000001"], "type": [1, 2, 4],
    ...     "order_id": [7, 7, 7], "size": [10, 3, 5], "price": [1000000, 1000000, 1000000],
    ...     "direction": [1, 1, 1]}))
    >>> out = to_orders(msgs)
    >>> out.orders["kind"].tolist(), out.orders["qty"].tolist(), out.orders["side"].tolist()
    ([0, 3, 0], [10, 7, 5], [1, 1, -1])
    """
    kind = messages.column("type").to_numpy()
    order_id = messages.column("order_id").to_numpy()
    size = messages.column("size").to_numpy()
    direction = messages.column("direction").to_numpy()
    ts = messages.column("ts").to_numpy()
    if order_id.size and order_id.max() >= EXECUTION_ID_BASE:
        raise ValueError(f"order_id: expected < {EXECUTION_ID_BASE} (synthetic ids start there), got {order_id.max()}")
    rows = np.arange(kind.size)
    remaining, added = remaining_before(kind, order_id, size)
    partial = kind == PARTIAL_CANCEL
    executed = kind == EXECUTE
    qty = size.copy()
    qty[partial & added] = (remaining - size)[partial & added]
    # A type 2 of the whole remaining size leaves nothing: the order is gone (a MODIFY to 0 would be rejected).
    emptied = partial & added & (qty <= 0)
    qty[emptied] = size[emptied]
    converted = kind <= EXECUTE
    skip_reason = np.array([SKIP_REASONS.get(int(k), "") for k in range(HALT + 1)], dtype=object)[kind]
    if orderbook is not None and kind.size:
        converted[0] = False
        skip_reason[0] = OPENING_ROW_REASON
    message_orders = _orders(
        ts=ts,
        order_id=np.where(executed, EXECUTION_ID_BASE + rows, order_id),
        side=np.where(executed, -direction, direction),
        kind=np.select([kind == ADD, partial & ~emptied, (kind == DELETE) | emptied], [LIMIT, MODIFY, CANCEL], LIMIT),
        tif=np.where(executed, IOC, GTC),
        price=price_ticks(messages.column("price").to_numpy(), price_unit),
        qty=qty,
    )
    parts = [{name: column[converted] for name, column in message_orders.items()}]
    source = [rows[converted]]
    if orderbook is not None:
        parts.insert(0, opening_book(orderbook[0], price_unit=price_unit, ts=ts[0] if ts.size else 0))
        source.insert(0, np.full(parts[0]["ts"].size, -1))
    orders = {name: np.concatenate([p[name] for p in parts]) for name in ORDER_DTYPES}
    orders["symbol"][:] = symbol
    skipped = messages.filter(pa.array(~converted)).add_column(0, "row", pa.array(rows[~converted]))
    skipped = skipped.append_column("reason", pa.array(skip_reason[~converted].tolist(), pa.string()))
    return LobsterOrders(orders, np.concatenate(source).astype(np.int64), skipped)


def load(messages_path, orderbook_path=None, *, price_unit=DEFAULT_PRICE_UNIT, symbol=0):
    """Read a message file (and optionally its orderbook file for the opening book) as orders.

    Returns
    -------
    LobsterOrders
        See `to_orders`.
    """
    orderbook = None if orderbook_path is None else read_orderbook(orderbook_path)
    return to_orders(read_messages(messages_path), orderbook=orderbook, price_unit=price_unit, symbol=symbol)


def _orders(**columns):
    return order_columns(columns)


def faithful(messages_path, orderbook_path, *, price_unit=DEFAULT_PRICE_UNIT, rows=None, symbol=0, progress=None):
    """The faithful order flow of a LOBSTER day: without a strategy it trades the file's executions.

    The replay of ``lobster-check`` (``loaders.replay``), logged: every order it submits to
    its engine, opening placeholders, messages and every sync or rebuild, each stamped with
    the time of the message row it belongs to. See ``loaders.replay.faithful`` for the
    parameters and ``loaders.replay.Faithful`` for what it returns (``orders`` in the
    contract dtypes with ``ts`` in ns after midnight, ``source_row``, ``origin``, ``counts``
    and ``report``).

    Examples
    --------
    On the AMZN level-5 sample (``tests/test_lobster_faithful.py`` runs this)::

        day = faithful("AMZN_..._message_5.csv.gz", "AMZN_..._orderbook_5.csv.gz")
        nbengine.Engine().submit(day.orders).trades.num_rows   # 8974, one per type-4 message
    """
    from .replay import faithful as replay_faithful  # replay imports this module: import it when called

    return replay_faithful(messages_path, orderbook_path, price_unit=price_unit, rows=rows, symbol=symbol,
                           progress=progress)
