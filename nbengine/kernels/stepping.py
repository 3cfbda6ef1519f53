"""Matching that stops where a strategy must act: a time bound, a best-price change, an own fill.

A strategy backtest replays order flow and wakes the strategy at market times. These
kernels match replayed rows exactly as ``match.match_batch`` does, but stop at the points
the backtest loop (``nbengine.backtest.loop``) needs, so that what the strategy sees never
depends on how the flow was cut into batches:

- before the first row whose ``ts`` is above ``ctl[C_BOUND]`` (the next own-order arrival,
  report or timer): every row at or below the bound is matched first;
- at a *group* boundary (a row whose ``ts`` is above the open group's) where the best bid
  or ask (price or quantity) of a watched book differs from before the group: the group's
  rows are all matched, the new row is not;
- after a replayed row that traded against an order of the strategy's account, or (with
  ``impact="none"``) that filled a *shadow* order: the strategy's resting orders kept
  outside the book (``shadow``, ``S_*`` fields), which never change the replayed market. A
  shadow order at price P fills from what a replayed aggressor trades behind it at P (the
  quantity ahead of it, ``S_AHEAD``, goes first) or beyond P; replayed cancels and
  modifies of orders ahead of it move it up. Its fills go to ``fills`` (``F_*`` fields).

Rows sharing one ``ts`` form one group: no wake-up falls inside it. The kernel may return in
the middle of one only after an own fill (to note its report, due at ``ts`` + the response
latency, never before the group ends) or at a bound equal to its ``ts`` (own orders arriving
at that time join the group).

``ctl`` is an int64[C_FIELDS] array of the ``C_*`` fields, kept across calls; ``touched``
an int64[n, 5] scratch of the watched symbols a group touched with their best prices before
it (symbol, bid price, bid qty, ask price, ask qty; -1 for an empty side's price); ``watched``
the sorted symbols a best-price change is reported for (``C_WATCH`` = ``WATCH_LISTED``);
``shadow`` int64[n, S_FIELDS] and ``fills`` int64[m, F_FIELDS] with m >= ``ctl[C_N_SHADOW]``
(empty when ``impact="full"``).
"""

import numpy as np

from .._jit import kernel
from ..codes import BUY, CANCEL, MODIFY, SELL
from ..state import (
    B_BASE,
    B_BEST_ASK,
    B_BEST_BID,
    B_LEN,
    B_LEVEL_OFF,
    L_HEAD,
    L_QTY,
    M_INPUT_SEQ,
    M_N_TRADES,
    OK,
    P_ACCOUNT,
    P_NEXT,
    P_PRICE,
    P_QTY,
    P_SIDE,
    P_TS,
    T_MAKER_ACCOUNT,
    T_PRICE,
    T_QTY,
    T_TAKER_SIDE,
)
from .hashindex import find_book, find_order
from .match import _next_opposite, process_order

# ctl[]
C_BOUND = 0
"""Rows with ``ts`` up to this are matched."""
C_GROUP_TS = 1
"""``ts`` of the open group, or ``NO_GROUP``."""
C_OWN_ACCOUNT = 2
"""The strategy's account: a replayed row that trades against it stops the kernel."""
C_WATCH = 3
"""``WATCH_NONE``, ``WATCH_LISTED`` or ``WATCH_ALL``."""
C_N_TOUCHED = 4
"""Rows of ``touched`` in use for the open group."""
C_WAKE_TS = 5
"""Time of the strategy's last wake-up: a best-price change at that time wakes it no more."""
C_STOP_TS = 6
"""After ``STOP_BBO``: the time of the group whose best prices changed."""
C_ROW = 7
"""The next row to match (kept here so a grown state resumes where it stopped)."""
C_REPLAYED = 8
"""1 when the rows are replayed flow (stop after own fills), 0 for the strategy's own rows."""
C_N_SHADOW = 9
"""Rows of ``shadow`` in use (``impact="none"``; 0 otherwise)."""
C_N_FILLS = 10
"""Rows of ``fills`` written since the caller last emptied it."""
C_TARGET = 11
"""Scratch: whether the row's CANCEL / MODIFY target rests (then its side, price, ts, qty follow)."""
C_TARGET_SIDE = 12
C_TARGET_PRICE = 13
C_TARGET_TS = 14
C_TARGET_QTY = 15
C_FIELDS = 16

# shadow[]: the strategy's resting orders with impact="none", kept outside the book
S_ID = 0
S_SYMBOL = 1
S_SIDE = 2
S_PRICE = 3
S_LEAVES = 4
S_ARRIVAL = 5
"""When it joined its level: replayed orders resting there with ``ts`` <= this are ahead of it."""
S_AHEAD = 6
"""Replayed quantity ahead of it in its level's queue."""
S_LIVE = 7
S_FIELDS = 8

# fills[]: shadow fills written by `match_until`
F_TS = 0
F_TAKER_ID = 1
F_SHADOW = 2
F_QTY = 3
F_FIELDS = 4

NO_GROUP = np.iinfo(np.int64).min
"""``ctl[C_GROUP_TS]`` when no group is open."""

WATCH_NONE = 0
WATCH_LISTED = 1
WATCH_ALL = 2

# return codes
STOP_INPUT = 0
"""Every row was matched."""
STOP_BOUND = 1
"""The next row's ``ts`` is above ``ctl[C_BOUND]``."""
STOP_BBO = 2
"""A group changed a watched best price; ``ctl[C_STOP_TS]`` is its time."""
STOP_OWN = 3
"""The row before ``ctl[C_ROW]`` traded against the strategy's account."""


def new_control(own_account, watch):
    """A fresh ``ctl`` array: no group open, no bound, nothing touched."""
    ctl = np.zeros(C_FIELDS, dtype=np.int64)
    ctl[C_BOUND] = np.iinfo(np.int64).max
    ctl[C_GROUP_TS] = NO_GROUP
    ctl[C_OWN_ACCOUNT] = own_account
    ctl[C_WATCH] = watch
    ctl[C_WAKE_TS] = NO_GROUP
    return ctl


@kernel
def _best(st, book, field):
    """(price, qty) of one side's best level of ``book``; (-1, 0) when that side is empty."""
    idx = st.books[book, field]
    if idx < 0:
        return -1, 0
    return st.books[book, B_BASE] + idx, st.levels[st.books[book, B_LEVEL_OFF] + idx, L_QTY]


@kernel
def _is_watched(ctl, watched, symbol):
    """Whether best-price changes of ``symbol`` wake the strategy (``ctl[C_WATCH]`` is not ``WATCH_NONE``)."""
    if ctl[C_WATCH] == WATCH_ALL:
        return True
    k = np.searchsorted(watched, symbol)
    return k < watched.shape[0] and watched[k] == symbol


@kernel
def _touch(st, ctl, touched, watched, symbol):
    """Remember ``symbol``'s best prices before the open group first changes its book."""
    if ctl[C_WATCH] == WATCH_NONE or not _is_watched(ctl, watched, symbol):
        return
    n = ctl[C_N_TOUCHED]
    for k in range(n):
        if touched[k, 0] == symbol:
            return
    if n == touched.shape[0]:
        return
    touched[n, 0] = symbol
    touched[n, 1], touched[n, 2], touched[n, 3], touched[n, 4] = _quote(st, symbol)
    ctl[C_N_TOUCHED] = n + 1


@kernel
def _quote(st, symbol):
    """Best bid price and qty, best ask price and qty of ``symbol`` ((-1, 0) for an empty side)."""
    book = find_book(st.book_index, st.books, symbol)
    if book < 0:
        return -1, 0, -1, 0
    bid, bid_qty = _best(st, book, B_BEST_BID)
    ask, ask_qty = _best(st, book, B_BEST_ASK)
    return bid, bid_qty, ask, ask_qty


@kernel
def _group_changed(st, ctl, touched):
    """Whether a book the open group touched shows other best prices than before it.

    A full ``touched`` (more watched books in one group than its rows) counts as changed.
    """
    n = ctl[C_N_TOUCHED]
    if n == touched.shape[0]:
        return True
    for k in range(n):
        bid, bid_qty, ask, ask_qty = _quote(st, touched[k, 0])
        if bid != touched[k, 1] or bid_qty != touched[k, 2] or ask != touched[k, 3] or ask_qty != touched[k, 4]:
            return True
    return False


@kernel
def close_group(st, out, ctl, touched):
    """Close the open group; return ``(OK, due)``, ``due`` whether it changed a watched best price.

    A change at ``ctl[C_WAKE_TS]`` (the strategy was already woken at that time) is not
    due. ``ctl[C_STOP_TS]`` is set to the group's time. ``out`` is unused (the
    ``Engine.run_kernel`` signature).
    """
    return OK, _close(st, ctl, touched)


@kernel
def _close(st, ctl, touched):
    group_ts = ctl[C_GROUP_TS]
    changed = group_ts != NO_GROUP and group_ts != ctl[C_WAKE_TS] and _group_changed(st, ctl, touched)
    ctl[C_STOP_TS] = group_ts
    ctl[C_GROUP_TS] = NO_GROUP
    ctl[C_N_TOUCHED] = 0
    return changed


@kernel
def _target_before(st, ctl, symbol, kind, order_id):
    """Note the resting target of a CANCEL / MODIFY row before it is applied (``C_TARGET*``)."""
    ctl[C_TARGET] = 0
    if kind != CANCEL and kind != MODIFY:
        return
    book = find_book(st.book_index, st.books, symbol)
    if book < 0:
        return
    slot = find_order(st.order_index, st.pool, book, order_id)
    if slot < 0:
        return
    pool = st.pool
    ctl[C_TARGET] = 1
    ctl[C_TARGET_SIDE] = pool[slot, P_SIDE]
    ctl[C_TARGET_PRICE] = pool[slot, P_PRICE]
    ctl[C_TARGET_TS] = pool[slot, P_TS]
    ctl[C_TARGET_QTY] = pool[slot, P_QTY]


@kernel
def _shadow_after_row(st, out, ctl, shadow, fills, symbol, order_id, ts, trades_before):
    """Move shadow orders up for what left the queue ahead of them; fill them from trades behind or beyond.

    Returns whether a shadow order filled (rows appended to ``fills``).
    """
    pool = st.pool
    if ctl[C_TARGET] == 1:
        removed = ctl[C_TARGET_QTY]
        book = find_book(st.book_index, st.books, symbol)
        slot = find_order(st.order_index, pool, book, order_id)
        if slot >= 0 and pool[slot, P_PRICE] == ctl[C_TARGET_PRICE] and pool[slot, P_TS] == ctl[C_TARGET_TS]:
            removed -= pool[slot, P_QTY]
        for k in range(ctl[C_N_SHADOW]):
            if (shadow[k, S_LIVE] == 1 and shadow[k, S_SYMBOL] == symbol and shadow[k, S_SIDE] == ctl[C_TARGET_SIDE]
                    and shadow[k, S_PRICE] == ctl[C_TARGET_PRICE] and ctl[C_TARGET_TS] <= shadow[k, S_ARRIVAL]):
                shadow[k, S_AHEAD] = max(0, shadow[k, S_AHEAD] - removed)
    trades = out.trades
    n_trades = st.meta[M_N_TRADES]
    if n_trades == trades_before:
        return False
    maker_side = -trades[trades_before, T_TAKER_SIDE]
    filled = False
    for k in range(ctl[C_N_SHADOW]):
        if shadow[k, S_LIVE] == 0 or shadow[k, S_SYMBOL] != symbol or shadow[k, S_SIDE] != maker_side:
            continue
        price = shadow[k, S_PRICE]
        at_price = 0
        beyond = 0
        for t in range(trades_before, n_trades):
            if trades[t, T_PRICE] == price:
                at_price += trades[t, T_QTY]
            elif (trades[t, T_PRICE] < price) == (maker_side == BUY):
                beyond += trades[t, T_QTY]
        fill = min(shadow[k, S_LEAVES], max(0, at_price - shadow[k, S_AHEAD]) + beyond)
        shadow[k, S_AHEAD] = max(0, shadow[k, S_AHEAD] - at_price)
        if fill > 0:
            row = ctl[C_N_FILLS]
            fills[row, F_TS] = ts
            fills[row, F_TAKER_ID] = order_id
            fills[row, F_SHADOW] = k
            fills[row, F_QTY] = fill
            ctl[C_N_FILLS] = row + 1
            shadow[k, S_LEAVES] -= fill
            if shadow[k, S_LEAVES] == 0:
                shadow[k, S_LIVE] = 0
            filled = True
    return filled


@kernel
def crossing_levels(st, out, symbol, side, price, is_market, rows):
    """Levels a ``side`` taker at ``price`` (any price when ``is_market``) would cross, best first.

    Writes (price, qty) into ``rows`` (int64[k, 2]) and returns ``(OK, n, same)``: ``n`` the
    rows written (``k`` may cut them short) and ``same`` the quantity resting at ``price`` on
    ``side`` (what a new order there would queue behind). ``out`` is unused (the
    ``Engine.run_kernel`` signature).
    """
    same = 0
    book = find_book(st.book_index, st.books, symbol)
    if book < 0:
        return OK, 0, same
    books, levels = st.books, st.levels
    idx = price - books[book, B_BASE]
    field = B_BEST_BID if side == BUY else B_BEST_ASK
    own_best = books[book, field]
    if own_best >= 0 and 0 <= idx < books[book, B_LEN]:
        head = levels[books[book, B_LEVEL_OFF] + idx, L_HEAD]
        if head >= 0 and st.pool[head, P_SIDE] == side:
            same = levels[books[book, B_LEVEL_OFF] + idx, L_QTY]
    n = 0
    level = books[book, B_BEST_ASK] if side == BUY else books[book, B_BEST_BID]
    while level >= 0 and n < rows.shape[0]:
        level_price = books[book, B_BASE] + level
        if not is_market and ((side == BUY and level_price > price) or (side == SELL and level_price < price)):
            break
        rows[n, 0] = level_price
        rows[n, 1] = levels[books[book, B_LEVEL_OFF] + level, L_QTY]
        n += 1
        level = _next_opposite(st, book, side, level)
    return OK, n, same


@kernel
def match_until(st, out, orders, ctl, touched, watched, shadow, fills):
    """Match ``orders`` (``state.OrderColumns``, ``ts`` non-decreasing) from ``ctl[C_ROW]`` on.

    Stops as the module docstring says. Returns ``(status, code)``: ``state.OK`` and a
    ``STOP_*`` code, or a ``state.NEED_*`` status with nothing of the row changed (call
    again once the state or outputs are grown: ``Engine.run_kernel`` does). ``ctl[C_ROW]``
    is the next row to match.
    Outputs are appended after the rows already in ``out`` (``meta[M_N_TRADES]``,
    ``meta[M_N_EVENTS]``); each matched row takes one input sequence number.
    """
    n = orders.ts.shape[0]
    meta = st.meta
    trades = out.trades
    own_account = ctl[C_OWN_ACCOUNT]
    replayed = ctl[C_REPLAYED] == 1
    row = ctl[C_ROW]
    while row < n:
        ts = orders.ts[row]
        group_ts = ctl[C_GROUP_TS]
        if group_ts != NO_GROUP and ts > group_ts:
            if group_ts == ctl[C_BOUND]:
                return OK, STOP_BOUND
            if _close(st, ctl, touched):
                return OK, STOP_BBO
            group_ts = NO_GROUP
        if ts > ctl[C_BOUND]:
            return OK, STOP_BOUND
        symbol = np.int64(orders.symbol[row])
        order_id = orders.order_id[row]
        _touch(st, ctl, touched, watched, symbol)
        shadowed = replayed and ctl[C_N_SHADOW] > 0
        if shadowed:
            _target_before(st, ctl, symbol, np.int64(orders.kind[row]), order_id)
        trades_before = meta[M_N_TRADES]
        status = process_order(
            st, out, ts, order_id, symbol, np.int64(orders.side[row]), np.int64(orders.kind[row]),
            np.int64(orders.tif[row]), orders.price[row], orders.qty[row], orders.account[row],
        )
        if status != OK:
            return status, STOP_INPUT
        meta[M_INPUT_SEQ] += 1
        if group_ts == NO_GROUP:
            ctl[C_GROUP_TS] = ts
        row += 1
        ctl[C_ROW] = row
        if shadowed and _shadow_after_row(st, out, ctl, shadow, fills, symbol, order_id, ts, trades_before):
            return OK, STOP_OWN
        if replayed:
            for t in range(trades_before, meta[M_N_TRADES]):
                if trades[t, T_MAKER_ACCOUNT] == own_account:
                    return OK, STOP_OWN
    return OK, STOP_INPUT


@kernel
def qty_ahead(st, symbols, order_ids, out):
    """``out[i]``: resting quantity ahead of order ``order_ids[i]`` of ``symbols[i]`` in its level's FIFO.

    -1 where the order does not rest. The three arrays are int64 of one length.
    """
    pool = st.pool
    for i in range(order_ids.shape[0]):
        out[i] = -1
        book = find_book(st.book_index, st.books, symbols[i])
        if book < 0:
            continue
        slot = find_order(st.order_index, pool, book, order_ids[i])
        if slot < 0:
            continue
        idx = pool[slot, P_PRICE] - st.books[book, B_BASE]
        ahead = 0
        other = st.levels[st.books[book, B_LEVEL_OFF] + idx, L_HEAD]
        while other != slot:
            ahead += pool[other, P_QTY]
            other = pool[other, P_NEXT]
        out[i] = ahead


@kernel
def _best_without(st, book, side, account):
    """(price, qty) of the best level of ``side`` in ``book`` holding orders of other accounts than ``account``."""
    books, levels, pool = st.books, st.levels, st.pool
    field = B_BEST_BID if side == BUY else B_BEST_ASK
    idx = books[book, field]
    while idx >= 0:
        qty = 0
        slot = levels[books[book, B_LEVEL_OFF] + idx, L_HEAD]
        while slot >= 0:
            if pool[slot, P_ACCOUNT] != account:
                qty += pool[slot, P_QTY]
            slot = pool[slot, P_NEXT]
        if qty > 0:
            return books[book, B_BASE] + idx, qty
        idx = _next_opposite(st, book, -side, idx)
    return -1, 0


@kernel
def quote_without(st, symbol, account, out):
    """``out[:4]`` = bid price, bid qty, ask price, ask qty of ``symbol`` without ``account``'s orders.

    A price is -1 where that side holds no other account's order.
    """
    book = find_book(st.book_index, st.books, symbol)
    out[0], out[1], out[2], out[3] = -1, 0, -1, 0
    if book >= 0:
        out[0], out[1] = _best_without(st, book, BUY, account)
        out[2], out[3] = _best_without(st, book, SELL, account)


__all__ = [
    "C_FIELDS", "F_FIELDS", "NO_GROUP", "S_FIELDS", "crossing_levels", "STOP_BBO", "STOP_BOUND", "STOP_INPUT", "STOP_OWN", "WATCH_ALL",
    "WATCH_LISTED", "WATCH_NONE", "close_group", "match_until", "new_control", "qty_ahead", "quote_without",
]
