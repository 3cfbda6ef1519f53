"""Output rows (one record per row, int64) split into typed columns in one pass.

Reading the row block once and writing every column is several times faster than one
strided ``astype`` per column, which reads the whole block again for each column.
``rows_into_body`` writes the columns straight into an Arrow IPC message instead (small
result tables, ``results._IpcLayout``).
"""

import numpy as np

from .._jit import kernel

__all__ = [
    "trade_columns",
    "event_columns",
    "rows_into_bodies",
    "rows_into_body",
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


@kernel
def rows_into_body(rows, message, layout):
    """Write ``rows`` (int64[n, k]) column by column into an Arrow IPC message body, narrowing each value.

    ``message`` is the whole message as uint8, its length a multiple of 8 and its data
    8-byte aligned; ``layout`` is int64[k, 2]: column ``c``'s values start at byte
    ``layout[c, 0]`` (a multiple of its width) and are ``layout[c, 1]`` bytes wide (1, 2,
    4 or 8; narrower values keep their low bytes, as numpy's ``astype`` does). Padding
    bytes are left as they are.
    """
    wide = message.view(np.int64)
    word = message.view(np.int32)
    half = message.view(np.int16)
    byte = message.view(np.int8)
    for c in range(layout.shape[0]):
        width = layout[c, 1]
        first = layout[c, 0] // width
        if width == 8:
            for r in range(rows.shape[0]):
                wide[first + r] = rows[r, c]
        elif width == 4:
            for r in range(rows.shape[0]):
                word[first + r] = rows[r, c]
        elif width == 2:
            for r in range(rows.shape[0]):
                half[first + r] = rows[r, c]
        else:
            for r in range(rows.shape[0]):
                byte[first + r] = rows[r, c]


@kernel
def rows_into_bodies(trades, trades_message, trades_layout, events, events_message, events_layout):
    """``rows_into_body`` of a result's trade rows and of its event rows, in one call (one dispatch, not two).

    Each triple is as ``rows_into_body`` takes it: int64 rows, the uint8 message and its layout.
    """
    rows_into_body(trades, trades_message, trades_layout)
    rows_into_body(events, events_message, events_layout)
