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

__all__ = [
    "resting_orders",
    "book_depth",
]



@kernel
def resting_orders(st, book, out, row):
    """Write ``book``'s resting orders from ``out[row]`` on; return the next row.

    ``out`` is int64[n, 7] with columns symbol, side, price, order_id, qty, account, ts
    (``schema.RESTING_SCHEMA``); bids best first, then asks best first, FIFO per level.
    """
    books, levels, pool = st.books, st.levels, st.pool
    for side, best_field in ((BUY, B_BEST_BID), (SELL, B_BEST_ASK)):
        idx = books[book, best_field]
        while idx >= 0:
            slot = levels[books[book, B_LEVEL_OFF] + idx, L_HEAD]
            while slot >= 0:
                out[row, 0] = books[book, B_SYMBOL]
                out[row, 1] = side
                out[row, 2] = books[book, B_BASE] + idx
                out[row, 3] = pool[slot, P_ID]
                out[row, 4] = pool[slot, P_QTY]
                out[row, 5] = pool[slot, P_ACCOUNT]
                out[row, 6] = pool[slot, P_TS]
                row += 1
                slot = pool[slot, P_NEXT]
            idx = _next_opposite(st, book, -side, idx)
    return row


@kernel
def book_depth(st, book, max_levels, out):
    """Write up to ``max_levels`` levels per side into ``out`` (int64[2 * max_levels, 5]).

    Columns side, level, price, qty, orders (``schema.DEPTH_SCHEMA``); bids best first, then
    asks best first. Returns the number of rows written.
    """
    books, levels = st.books, st.levels
    row = 0
    for side, best_field in ((BUY, B_BEST_BID), (SELL, B_BEST_ASK)):
        idx = books[book, best_field]
        level = 0
        while idx >= 0 and level < max_levels:
            col = books[book, B_LEVEL_OFF] + idx
            out[row, 0] = side
            out[row, 1] = level
            out[row, 2] = books[book, B_BASE] + idx
            out[row, 3] = levels[col, L_QTY]
            out[row, 4] = levels[col, L_COUNT]
            row += 1
            level += 1
            idx = _next_opposite(st, book, -side, idx)
    return row
