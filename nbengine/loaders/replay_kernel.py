"""The fast path of ``lobster-check``: replay messages and compare books inside one kernel.

`replay_until_exception` applies LOBSTER messages to an engine's state through the
engine's own scalar kernel (``kernels.match.match_one``), reads the book after each with
``kernels.views.book_depth`` and compares it with the exchange's orderbook row. It runs
until a row needs Python (see the ``STOP_*`` codes): an id the engine does not hold, an
execution whose named order is not first in its queue, a row that differs, or a full
buffer. Python handles that row (``loaders.lobster_check``) and calls it again.

Rows submitted here carry the message row number as ``ts``, so a resting order's ``ts``
is the row that added it; the checker derives certainty from that.
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

STOP_END = 0
"""Every row up to ``stop`` was applied and found equal."""
STOP_APPLY = 1
"""Row ``row`` was not applied: Python must apply it, then compare it."""
STOP_COMPARE = 2
"""Row ``row`` was applied but its book differs from the exchange's: Python compares it."""
STOP_MAKER = 3
"""Row ``row`` (an execution) was applied but did not trade with the named maker as expected."""
STOP_GROW = 4
"""Row ``row`` was not applied because the engine needs more room (``status`` says which)."""

# counts[]
C_COMPARED = 0
C_EQUAL = 1
C_NAMED = 2
C_FIELDS = 3


@kernel
def _submit(st, out, ts, order_id, side, kind, tif, price, qty):
    return match_one(st.meta, st.books, st.book_index, st.levels, st.bits, st.pool, st.order_index,
                     out.trades, out.events, ts, order_id, 0, side, kind, tif, price, qty, 0)


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
def replay_until_exception(st, out, book, start, stop, execution_id_base, msg_type, msg_id, msg_size, msg_price,
                           msg_side, ask_px, ask_qty, bid_px, bid_qty, depth, counts):
    """Apply and compare rows ``start .. stop - 1`` until one needs Python.

    Parameters
    ----------
    st, out : state.BookState, state.Outputs
        The engine's state and output buffers (changed in place).
    book : int
        The book's number in ``st``.
    start, stop : int
        Rows to replay.
    execution_id_base : int
        An execution of row ``r`` is an IOC with id ``execution_id_base + r``.
    msg_type, msg_id, msg_size, msg_price, msg_side : int64[n]
        Message columns; prices in ticks.
    ask_px, ask_qty, bid_px, bid_qty : int64[n, levels]
        The orderbook file in ticks and shares, best level first (qty 0 = no level).
    depth : int64[2 * max_levels, 5]
        Scratch for ``book_depth``.
    counts : int64[C_FIELDS]
        Running counters: rows compared, rows equal, executions as named.

    Returns
    -------
    (code, row, status)
        A ``STOP_*`` code, the row it concerns, and the kernel status for ``STOP_GROW``.
    """
    max_levels = depth.shape[0] // 2
    pool = st.pool
    for row in range(start, stop):
        kind = msg_type[row]
        order_id = msg_id[row]
        price = msg_price[row]
        size = msg_size[row]
        status = OK
        if kind == 1:
            status, n_trades, _, _ = _submit(st, out, row, order_id, msg_side[row], LIMIT, GTC, price, size)
        elif kind == 2 or kind == 3 or kind == 4:
            slot = find_order(st.order_index, pool, book, order_id)
            if slot < 0 or pool[slot, P_PRICE] != price or pool[slot, P_QTY] < size:
                return STOP_APPLY, row, OK
            if kind == 2:
                if pool[slot, P_QTY] == size:
                    return STOP_APPLY, row, OK
                status, n_trades, _, _ = _submit(st, out, row, order_id, 0, MODIFY, GTC, price, pool[slot, P_QTY] - size)
            elif kind == 3:
                if pool[slot, P_QTY] != size:
                    return STOP_APPLY, row, OK
                status, n_trades, _, _ = _submit(st, out, row, order_id, 0, CANCEL, GTC, price, 0)
            else:
                best = st.books[book, B_BEST_BID] if msg_side[row] == 1 else st.books[book, B_BEST_ASK]
                if best != price - st.books[book, B_BASE]:
                    return STOP_APPLY, row, OK
                if st.levels[st.books[book, B_LEVEL_OFF] + best, L_HEAD] != slot:
                    return STOP_APPLY, row, OK
                status, n_trades, _, _ = _submit(st, out, row, execution_id_base + row, -msg_side[row], LIMIT, IOC,
                                              price, size)
                if status == OK:
                    trades = out.trades
                    if n_trades != 1 or trades[0, T_MAKER_ID] != order_id or trades[0, T_QTY] != size or (
                        trades[0, T_PRICE] != price
                    ):
                        return STOP_MAKER, row, OK
                    counts[C_NAMED] += 1
        if status != OK:
            return STOP_GROW, row, status
        counts[C_COMPARED] += 1
        if not row_equal(st, book, depth, max_levels, ask_px, ask_qty, bid_px, bid_qty, row):
            counts[C_COMPARED] -= 1
            return STOP_COMPARE, row, OK
        counts[C_EQUAL] += 1
    return STOP_END, stop, OK


@kernel
def level_orders(st, book, price, out):
    """Write the orders resting at ``price`` in ``book`` into ``out``, FIFO; return how many.

    ``out`` is int64[capacity, 3]: order id, remaining qty, ``ts`` (the add row). Returns -1
    when ``out`` is too small (call again with a larger one).
    """
    books, pool = st.books, st.pool
    idx = price - books[book, B_BASE]
    if idx < 0 or idx >= books[book, B_LEN]:
        return 0
    slot = st.levels[books[book, B_LEVEL_OFF] + idx, L_HEAD]
    n = 0
    while slot >= 0:
        if n == out.shape[0]:
            return -1
        out[n, 0] = pool[slot, P_ID]
        out[n, 1] = pool[slot, P_QTY]
        out[n, 2] = pool[slot, P_TS]
        n += 1
        slot = pool[slot, P_NEXT]
    return n
