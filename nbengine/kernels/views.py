"""Read-only walks of one book: resting orders in priority order, and depth by level."""

from .._jit import kernel
from ..codes import BUY, SELL
from ..state import (
    B_BASE,
    B_BEST_ASK,
    B_BEST_BID,
    B_LEVEL_OFF,
    B_SYMBOL,
    L_COUNT,
    L_HEAD,
    L_QTY,
    P_ACCOUNT,
    P_ID,
    P_NEXT,
    P_QTY,
    P_TS,
)
from .match import _next_opposite


@kernel
def resting_orders(st, book, out, row):
    """Write ``book``'s resting orders from ``out[:, row]`` on; return the next row.

    ``out`` is int64[7, n] with rows symbol, side, price, order_id, qty, account, ts
    (``schema.RESTING_SCHEMA``); bids best first, then asks best first, FIFO per level.
    """
    books, levels, pool = st.books, st.levels, st.pool
    for side, best_field in ((BUY, B_BEST_BID), (SELL, B_BEST_ASK)):
        idx = books[best_field, book]
        while idx >= 0:
            slot = levels[L_HEAD, books[B_LEVEL_OFF, book] + idx]
            while slot >= 0:
                out[0, row] = books[B_SYMBOL, book]
                out[1, row] = side
                out[2, row] = books[B_BASE, book] + idx
                out[3, row] = pool[P_ID, slot]
                out[4, row] = pool[P_QTY, slot]
                out[5, row] = pool[P_ACCOUNT, slot]
                out[6, row] = pool[P_TS, slot]
                row += 1
                slot = pool[P_NEXT, slot]
            idx = _next_opposite(st, book, -side, idx)
    return row


@kernel
def book_depth(st, book, max_levels, out):
    """Write up to ``max_levels`` levels per side into ``out`` (int64[5, 2 * max_levels]).

    Rows side, level, price, qty, orders (``schema.DEPTH_SCHEMA``); bids best first, then
    asks best first. Returns the number of rows written.
    """
    books, levels = st.books, st.levels
    row = 0
    for side, best_field in ((BUY, B_BEST_BID), (SELL, B_BEST_ASK)):
        idx = books[best_field, book]
        level = 0
        while idx >= 0 and level < max_levels:
            col = books[B_LEVEL_OFF, book] + idx
            out[0, row] = side
            out[1, row] = level
            out[2, row] = books[B_BASE, book] + idx
            out[3, row] = levels[L_QTY, col]
            out[4, row] = levels[L_COUNT, col]
            row += 1
            level += 1
            idx = _next_opposite(st, book, -side, idx)
    return row
