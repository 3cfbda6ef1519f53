"""Output rows (one record per row, int64) split into typed columns in one pass.

Reading the row block once and writing every column is several times faster than one
strided ``astype`` per column, which reads the whole block again for each column.
"""

from .._jit import kernel

__all__ = [
    "trade_columns",
    "event_columns",
]



@kernel
def trade_columns(rows, seq, ts, symbol, price, qty, taker_order_id, maker_order_id, taker_side,
                  taker_account, maker_account):
    """Fill the ``schema.TRADES_SCHEMA`` columns (length n) from ``rows[:n]`` (``state.T_*``)."""
    for r in range(seq.shape[0]):
        seq[r] = rows[r, 0]
        ts[r] = rows[r, 1]
        symbol[r] = rows[r, 2]
        price[r] = rows[r, 3]
        qty[r] = rows[r, 4]
        taker_order_id[r] = rows[r, 5]
        maker_order_id[r] = rows[r, 6]
        taker_side[r] = rows[r, 7]
        taker_account[r] = rows[r, 8]
        maker_account[r] = rows[r, 9]


@kernel
def event_columns(rows, seq, ts, symbol, order_id, event, reason, price, leaves_qty):
    """Fill the ``schema.EVENTS_SCHEMA`` columns (length n) from ``rows[:n]`` (``state.E_*``)."""
    for r in range(seq.shape[0]):
        seq[r] = rows[r, 0]
        ts[r] = rows[r, 1]
        symbol[r] = rows[r, 2]
        order_id[r] = rows[r, 3]
        event[r] = rows[r, 4]
        reason[r] = rows[r, 5]
        price[r] = rows[r, 6]
        leaves_qty[r] = rows[r, 7]
