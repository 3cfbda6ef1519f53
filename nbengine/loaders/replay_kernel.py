"""The fast path of the faithful LOBSTER replay: replay messages and compare books inside one kernel.

`replay_until_exception` applies LOBSTER messages to an engine's state through the
engine's own scalar kernel (``kernels.match.match_one``), reads the book after each with
``kernels.views.book_depth`` and compares it with the exchange's orderbook row. It runs
until a row needs Python (see the ``STOP_*`` codes): an id the engine does not hold, an
execution whose named order is not first in its queue, a row that differs, or a full
flow log. Python handles that row (``loaders.replay``) and calls it again. Every order it
submits is appended to the flow log (``F_*`` columns), which becomes the faithful order
flow. The kernels here take ``(state, outputs, ...)`` and return a status first: they run
through ``Engine.run_kernel``, which grows the engine's buffers and calls again.

Rows submitted here carry the message row number as ``ts``, so a resting order's ``ts``
is the row that added it; the replay derives certainty from that.
"""

from .._jit import kernel
from ..codes import CANCEL, GTC, IOC, LIMIT, MODIFY
from ..kernels.hashindex import find_order
from ..kernels.match import match_one
from ..kernels.views import book_depth
from ..state import (
    B_BASE,
    B_BEST_ASK,
    B_BEST_BID,
    B_LEN,
    B_LEVEL_OFF,
    L_HEAD,
    OK,
    P_ID,
    P_NEXT,
    P_PRICE,
    P_QTY,
    P_TS,
    T_MAKER_ID,
    T_PRICE,
    T_QTY,
)

__all__ = ["depth", "level_orders", "replay_until_exception", "row_equal", "side_equal"]

STOP_END = 0
"""Every row up to ``stop`` was applied and found equal."""
STOP_APPLY = 1
"""Row ``row`` was not applied: Python must apply it, then compare it."""
STOP_COMPARE = 2
"""Row ``row`` was applied but its book differs from the exchange's: Python compares it."""
STOP_MAKER = 3
"""Row ``row`` (an execution) was applied but did not trade with the named maker as expected."""
STOP_LOG_FULL = 4
"""Row ``row`` was not applied because the flow log is full: grow it and call again."""

# counts[]
C_COMPARED = 0
C_EQUAL = 1
C_NAMED = 2
C_NEXT_ROW = 3
"""The cursor: the next row to replay (the kernel resumes there after the engine grows)."""
C_LOGGED = 4
"""Rows written to the flow log so far."""
C_FIELDS = 5

# The flow log: one int64 row per order submitted to the engine, in order.
F_ROW = 0
"""The message row the order belongs to."""
F_ID = 1
F_SIDE = 2
F_KIND = 3
F_TIF = 4
F_PRICE = 5
F_QTY = 6
F_ORIGIN = 7
"""Why the replay submitted it (``ORIGIN_*`` of ``loaders.replay``)."""
F_FIELDS = 8

ORIGIN_MESSAGE = 1
"""Log origin of the rows this kernel submits: each is its message's own order."""


@kernel
def _submit(st, out, log, counts, ts, order_id, side, kind, tif, price, qty):
    """Submit one order through ``match_one``; on ``OK`` append it to the flow ``log``."""
    status, n_trades, _, _ = match_one(st.meta, st.books, st.book_index, st.levels, st.bits, st.pool,
                                       st.order_index, out.trades, out.events, ts, order_id, 0, side, kind, tif,
                                       price, qty, 0)
    if status == OK:
        n = counts[C_LOGGED]
        log[n, F_ROW] = ts
        log[n, F_ID] = order_id
        log[n, F_SIDE] = side
        log[n, F_KIND] = kind
        log[n, F_TIF] = tif
        log[n, F_PRICE] = price
        log[n, F_QTY] = qty
        log[n, F_ORIGIN] = ORIGIN_MESSAGE
        counts[C_LOGGED] = n + 1
    return status, n_trades


@kernel
def side_equal(depth, first, n, prices, qtys, row):
    """Whether the engine's levels ``depth[first:first + n]`` equal one side of orderbook ``row``.

    ``prices[row]`` / ``qtys[row]`` hold the side's levels best first (qty 0 = absent).
    When the row shows every level, engine levels deeper than its last one are outside
    the window and not compared; otherwise the engine must hold exactly the row's levels.
    """
    levels = prices.shape[1]
    shown = 0
    while shown < levels and qtys[row, shown] > 0:
        shown += 1
    if n < shown:
        return False
    for k in range(shown):
        if depth[first + k, 2] != prices[row, k] or depth[first + k, 3] != qtys[row, k]:
            return False
    return shown == levels or n == shown


@kernel
def row_equal(st, book, depth, max_levels, ask_px, ask_qty, bid_px, bid_qty, row):
    """Whether ``book`` equals orderbook ``row`` on both sides (see `side_equal`).

    ``max_levels`` (more than the file's levels) bounds the engine levels read per side.
    """
    n = book_depth(st, book, max_levels, depth)
    n_bids = 0
    while n_bids < n and depth[n_bids, 0] == 1:
        n_bids += 1
    return side_equal(depth, 0, n_bids, bid_px, bid_qty, row) and side_equal(
        depth, n_bids, n - n_bids, ask_px, ask_qty, row
    )


@kernel
def replay_until_exception(st, out, book, stop, execution_id_base, msg_type, msg_id, msg_size, msg_price, msg_side,
                           ask_px, ask_qty, bid_px, bid_qty, depth, counts, log):
    """Apply and compare rows ``counts[C_NEXT_ROW] .. stop - 1`` until one needs Python.

    Run it through ``Engine.run_kernel``: on a ``NEED_*`` status nothing of the row was
    applied and the cursor ``counts[C_NEXT_ROW]`` still names it, so the engine grows and
    calls again with the same arguments.

    Parameters
    ----------
    st, out : state.BookState, state.Outputs
        The engine's state and output buffers (changed in place).
    book : int
        The book's number in ``st``.
    stop : int
        Rows to replay end before ``stop``.
    execution_id_base : int
        An execution of row ``r`` is an IOC with id ``execution_id_base + r``.
    msg_type, msg_id, msg_size, msg_price, msg_side : int64[n]
        Message columns; prices in ticks.
    ask_px, ask_qty, bid_px, bid_qty : int64[n, levels]
        The orderbook file in ticks and shares, best level first (qty 0 = no level).
    depth : int64[2 * max_levels, 5]
        Scratch for ``book_depth``.
    counts : int64[C_FIELDS]
        Rows compared, rows equal, executions as named, the cursor, rows logged.
    log : int64[capacity, F_FIELDS]
        The flow log: every order submitted is appended (``F_*`` columns), ``ts`` = its row.

    Returns
    -------
    (status, code, row)
        The engine status (``OK`` or ``NEED_*``), a ``STOP_*`` code and the row it
        concerns. ``counts[C_NEXT_ROW]`` is ``row`` (``stop`` for ``STOP_END``).
    """
    max_levels = depth.shape[0] // 2
    pool = st.pool
    for row in range(counts[C_NEXT_ROW], stop):
        counts[C_NEXT_ROW] = row
        if counts[C_LOGGED] >= log.shape[0]:
            return OK, STOP_LOG_FULL, row
        kind = msg_type[row]
        order_id = msg_id[row]
        price = msg_price[row]
        size = msg_size[row]
        status = OK
        if kind == 1:
            status, n_trades = _submit(st, out, log, counts, row, order_id, msg_side[row], LIMIT, GTC, price, size)
        elif kind == 2 or kind == 3 or kind == 4:
            slot = find_order(st.order_index, pool, book, order_id)
            if slot < 0 or pool[slot, P_PRICE] != price or pool[slot, P_QTY] < size:
                return OK, STOP_APPLY, row
            if kind == 2 and pool[slot, P_QTY] > size:
                status, n_trades = _submit(st, out, log, counts, row, order_id, 0, MODIFY, GTC, price,
                                           pool[slot, P_QTY] - size)
            elif kind == 2 or kind == 3:
                # A partial cancel of the whole remaining size removes the order, as a delete does.
                if kind == 3 and pool[slot, P_QTY] != size:
                    return OK, STOP_APPLY, row
                status, n_trades = _submit(st, out, log, counts, row, order_id, 0, CANCEL, GTC, 0, 0)
            else:
                best = st.books[book, B_BEST_BID] if msg_side[row] == 1 else st.books[book, B_BEST_ASK]
                if best != price - st.books[book, B_BASE]:
                    return OK, STOP_APPLY, row
                if st.levels[st.books[book, B_LEVEL_OFF] + best, L_HEAD] != slot:
                    return OK, STOP_APPLY, row
                status, n_trades = _submit(st, out, log, counts, row, execution_id_base + row, -msg_side[row], LIMIT,
                                           IOC, price, size)
                if status == OK:
                    trades = out.trades
                    if n_trades != 1 or trades[0, T_MAKER_ID] != order_id or trades[0, T_QTY] != size or (
                        trades[0, T_PRICE] != price
                    ):
                        return OK, STOP_MAKER, row
                    counts[C_NAMED] += 1
        if status != OK:
            return status, STOP_END, row
        counts[C_COMPARED] += 1
        if not row_equal(st, book, depth, max_levels, ask_px, ask_qty, bid_px, bid_qty, row):
            counts[C_COMPARED] -= 1
            return OK, STOP_COMPARE, row
        counts[C_EQUAL] += 1
    counts[C_NEXT_ROW] = stop
    return OK, STOP_END, stop


@kernel
def level_orders(st, outputs, book, price, out):
    """Write the orders resting at ``price`` in ``book`` into ``out``, FIFO (``Engine.run_kernel``).

    ``out`` is int64[capacity, 3]: order id, remaining qty, ``ts`` (the add row). Returns
    ``(OK, n)``; ``n`` is -1 when ``out`` is too small (call again with a larger one).
    """
    books, pool = st.books, st.pool
    idx = price - books[book, B_BASE]
    if idx < 0 or idx >= books[book, B_LEN]:
        return OK, 0
    slot = st.levels[books[book, B_LEVEL_OFF] + idx, L_HEAD]
    n = 0
    while slot >= 0:
        if n == out.shape[0]:
            return OK, -1
        out[n, 0] = pool[slot, P_ID]
        out[n, 1] = pool[slot, P_QTY]
        out[n, 2] = pool[slot, P_TS]
        n += 1
        slot = pool[slot, P_NEXT]
    return OK, n


@kernel
def depth(st, outputs, book, max_levels, out):
    """``kernels.views.book_depth`` through ``Engine.run_kernel``: returns ``(OK, rows written)``."""
    return OK, book_depth(st, book, max_levels, out)
