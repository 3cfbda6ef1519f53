"""Order processing: validation, matching with price-time priority, resting, outputs.

The rules are those of docs/semantics.md. Every function takes the state and output
NamedTuples of ``nbengine.state``; none allocates. A row either completes or returns a
``NEED_*`` status before changing anything observable, so the caller can grow the named
arrays and resume at the same row.
"""

import numpy as np

from .._jit import fence, gil_kernel, hot_kernel, kernel, release_fence, sys_futex_wake
from ..codes import (
    ACCEPTED,
    BAD_KIND,
    BAD_PRICE,
    BAD_QTY,
    BAD_SIDE,
    BAD_TIF,
    BUY,
    CANCEL,
    CANCELLED,
    DUPLICATE_ID,
    EXPIRED,
    FILLED,
    FOK,
    FOK_UNFILLABLE,
    GTC,
    IOC,
    MAX_QTY,
    LIMIT,
    MARKET,
    MODIFIED,
    MEMORY_BUDGET,
    MODIFY,
    NO_REASON,
    OFF_TICK,
    POST_ONLY,
    PRICE_OFF_TICK,
    PRICE_SPAN,
    QTY_LIMIT,
    REJECTED,
    SELF_TRADE,
    SELL,
    STP_CANCEL_BOTH,
    STP_CANCEL_MAKER,
    STP_CANCEL_TAKER,
    STP_NONE,
    UNKNOWN_ID,
    WOULD_TAKE,
)
from ..state import (
    BAD_VALUE,
    IDLE_FUTEX,
    IDLE_PYTHON,
    Q_END_SEQ,
    Q_HEAD,
    Q_IDLE,
    Q_TAIL,
    R_SEQ,
    RING_FULL,
    WAKE_WRITER,
    BookState,
    C_ACCOUNT,
    C_E0,
    C_E1,
    C_HEADER,
    C_KIND,
    C_N_CALLS,
    C_N_EVENTS,
    C_N_TRADES,
    C_ORDER_ID,
    C_PRICE,
    C_QTY,
    C_SEQ,
    C_SIDE,
    C_STRIDE,
    C_SYMBOL,
    C_T0,
    C_T1,
    C_TIF,
    C_TS,
    Outputs,
    B_BASE,
    B_BEST_ASK,
    B_BEST_BID,
    B_BITS_OFF,
    B_FIELDS,
    B_LEN,
    B_LEVEL_OFF,
    B_N_ASK,
    B_N_BID,
    B_QTY_ASK,
    B_QTY_BID,
    B_SYMBOL,
    E_EVENT,
    E_LEAVES,
    E_ORDER_ID,
    E_PRICE,
    E_REASON,
    E_SEQ,
    E_SYMBOL,
    E_TS,
    L_HEAD,
    L_QTY,
    M_EVENT_SEQ,
    M_FREE_HEAD,
    M_INPUT_SEQ,
    M_LIVE_ORDERS,
    M_MAX_PRICE,
    M_N_BOOKS,
    M_N_EVENTS,
    M_N_TRADES,
    M_NEED,
    M_POOL_HWM,
    M_STP,
    M_TRADE_SEQ,
    NEED_BOOKS,
    NEED_OUTPUT,
    NEED_POOL,
    OK,
    P_ACCOUNT,
    P_BOOK,
    P_ID,
    P_NEXT,
    P_PRICE,
    P_QTY,
    P_SIDE,
    P_TS,
    T_MAKER_ACCOUNT,
    T_MAKER_ID,
    T_PRICE,
    T_QTY,
    T_SEQ,
    T_SYMBOL,
    T_TAKER_ACCOUNT,
    T_TAKER_ID,
    T_TAKER_SIDE,
    T_TS,
)
from .bitset import next_set, prev_set
from .hashindex import delete_order, find_book, find_order, insert_book, insert_order
from .ladder import SPAN_EXCEEDED, fit_price, push_back, unlink

__all__ = [
    "emit_event",
    "process_order",
    "match_batch",
    "match_message",
    "match_one",
    "match_row",
    "refuse_row",
]



@hot_kernel
def emit_event(meta, events, ts, symbol, order_id, event, reason, price, leaves):
    """Append one event row (capacity was checked by the caller)."""
    row = meta[M_N_EVENTS]
    events[row, E_SEQ] = meta[M_EVENT_SEQ]
    events[row, E_TS] = ts
    events[row, E_SYMBOL] = symbol
    events[row, E_ORDER_ID] = order_id
    events[row, E_EVENT] = event
    events[row, E_REASON] = reason
    events[row, E_PRICE] = price
    events[row, E_LEAVES] = leaves
    meta[M_EVENT_SEQ] += 1
    meta[M_N_EVENTS] = row + 1


@hot_kernel
def _emit_trade(meta, trades, ts, symbol, price, qty, taker_id, maker_id, side, taker_acct, maker_acct):
    row = meta[M_N_TRADES]
    trades[row, T_SEQ] = meta[M_TRADE_SEQ]
    trades[row, T_TS] = ts
    trades[row, T_SYMBOL] = symbol
    trades[row, T_PRICE] = price
    trades[row, T_QTY] = qty
    trades[row, T_TAKER_ID] = taker_id
    trades[row, T_MAKER_ID] = maker_id
    trades[row, T_TAKER_SIDE] = side
    trades[row, T_TAKER_ACCOUNT] = taker_acct
    trades[row, T_MAKER_ACCOUNT] = maker_acct
    meta[M_TRADE_SEQ] += 1
    meta[M_N_TRADES] = row + 1


@hot_kernel
def _remove_order(st, book, slot):
    """Take a resting order out of its level, the index and the pool."""
    pool = st.pool
    unlink(st, book, pool[slot, P_PRICE] - st.books[book, B_BASE], slot)
    delete_order(st.order_index, pool, slot)
    pool[slot, P_QTY] = 0
    pool[slot, P_NEXT] = st.meta[M_FREE_HEAD]
    st.meta[M_FREE_HEAD] = slot
    st.meta[M_LIVE_ORDERS] -= 1


@hot_kernel
def _pool_full(meta, pool):
    return meta[M_FREE_HEAD] < 0 and meta[M_POOL_HWM] >= pool.shape[0]


@hot_kernel
def _rest(st, book, idx, ts, order_id, side, price, qty, account):
    """Place a new resting order at the back of level ``idx`` (a slot is free)."""
    meta, pool = st.meta, st.pool
    slot = meta[M_FREE_HEAD]
    if slot >= 0:
        meta[M_FREE_HEAD] = pool[slot, P_NEXT]
    else:
        slot = meta[M_POOL_HWM]
        meta[M_POOL_HWM] = slot + 1
    pool[slot, P_ID] = order_id
    pool[slot, P_QTY] = qty
    pool[slot, P_PRICE] = price
    pool[slot, P_ACCOUNT] = account
    pool[slot, P_TS] = ts
    pool[slot, P_BOOK] = book
    pool[slot, P_SIDE] = side
    insert_order(st.order_index, pool, slot)
    push_back(st, book, idx, slot)
    meta[M_LIVE_ORDERS] += 1


@hot_kernel
def _best_opposite(books, book, side):
    """Ladder index of the best opposite level of a ``side`` taker in existing ``book``, or -1."""
    if side == BUY:
        return books[book, B_BEST_ASK]
    return books[book, B_BEST_BID]


@hot_kernel
def _crosses(books, book, side, is_market, price, idx):
    """Whether a taker may trade at opposite level ``idx``."""
    if is_market:
        return True
    level_price = books[book, B_BASE] + idx
    if side == BUY:
        return level_price <= price
    return level_price >= price


@kernel
def _next_opposite(st, book, side, idx):
    """The opposite level after ``idx``, going away from the best price, or -1."""
    books = st.books
    n = books[book, B_LEN]
    boff = books[book, B_BITS_OFF]
    if side == BUY:
        return next_set(st.bits, boff, n, idx + 1)
    return prev_set(st.bits, boff, n, idx - 1)


@kernel
def _fok_fillable(st, book, side, is_market, price, qty, account):
    """Whether a FOK taker would fill completely (docs/semantics.md, FOK check)."""
    books, levels, pool = st.books, st.levels, st.pool
    stp = st.meta[M_STP]
    wanted = qty
    idx = _best_opposite(books, book, side)
    while idx >= 0 and _crosses(books, book, side, is_market, price, idx):
        col = books[book, B_LEVEL_OFF] + idx
        if stp == STP_NONE:
            wanted -= levels[col, L_QTY]
            if wanted <= 0:
                return True
        else:
            slot = levels[col, L_HEAD]
            while slot >= 0:
                if pool[slot, P_ACCOUNT] != account:
                    wanted -= pool[slot, P_QTY]
                    if wanted <= 0:
                        return True
                elif stp != STP_CANCEL_MAKER:
                    return False
                slot = pool[slot, P_NEXT]
        idx = _next_opposite(st, book, side, idx)
    return False


@hot_kernel
def _take(st, out, book, ts, order_id, side, is_market, tif, price, qty, account, rest_idx):
    """Match a taker against ``book``, then fill, expire or rest it (steps 2-3 of the spec).

    ``rest_idx`` is the ladder index of ``price`` (unused for MARKET); a pool slot is free
    when the taker may rest.
    """
    meta, books, levels, pool = st.meta, st.books, st.levels, st.pool
    symbol = books[book, B_SYMBOL]
    stp = meta[M_STP]
    event_price = 0 if is_market else price
    leaves = qty
    while leaves > 0:
        idx = _best_opposite(books, book, side)
        if idx < 0 or not _crosses(books, book, side, is_market, price, idx):
            break
        maker = levels[books[book, B_LEVEL_OFF] + idx, L_HEAD]
        maker_price = books[book, B_BASE] + idx
        if stp != STP_NONE and pool[maker, P_ACCOUNT] == account:
            if stp != STP_CANCEL_TAKER:
                emit_event(meta, out.events, ts, symbol, pool[maker, P_ID], CANCELLED, SELF_TRADE,
                           maker_price, pool[maker, P_QTY])
                _remove_order(st, book, maker)
            if stp != STP_CANCEL_MAKER:
                emit_event(meta, out.events, ts, symbol, order_id, CANCELLED, SELF_TRADE, event_price, leaves)
                return
            continue
        maker_qty = pool[maker, P_QTY]
        fill = min(leaves, maker_qty)
        _emit_trade(meta, out.trades, ts, symbol, maker_price, fill, order_id, pool[maker, P_ID], side,
                    account, pool[maker, P_ACCOUNT])
        leaves -= fill
        if fill == maker_qty:
            emit_event(meta, out.events, ts, symbol, pool[maker, P_ID], FILLED, NO_REASON, maker_price, 0)
            _remove_order(st, book, maker)
        else:
            pool[maker, P_QTY] = maker_qty - fill
            levels[books[book, B_LEVEL_OFF] + idx, L_QTY] -= fill
            books[book, B_QTY_ASK if side == BUY else B_QTY_BID] -= fill
    if leaves == 0:
        emit_event(meta, out.events, ts, symbol, order_id, FILLED, NO_REASON, event_price, 0)
    elif is_market or tif == IOC or tif == FOK:
        emit_event(meta, out.events, ts, symbol, order_id, EXPIRED, NO_REASON, event_price, leaves)
    else:
        _rest(st, book, rest_idx, ts, order_id, side, price, leaves, account)


@hot_kernel
def _reject(meta, events, ts, symbol, order_id, reason, price, qty):
    emit_event(meta, events, ts, symbol, order_id, REJECTED, reason, price, qty)


@kernel
def _book_for(st, symbol):
    """Book number of ``symbol``, creating an empty book; -1 when the book table is full."""
    meta, books = st.meta, st.books
    book = find_book(st.book_index, books, symbol)
    if book >= 0:
        return book
    book = meta[M_N_BOOKS]
    if book >= books.shape[0]:
        return -1
    for f in range(B_FIELDS):
        books[book, f] = 0
    books[book, B_SYMBOL] = symbol
    books[book, B_BEST_BID] = -1
    books[book, B_BEST_ASK] = -1
    insert_book(st.book_index, books, book)
    meta[M_N_BOOKS] = book + 1
    return book


@hot_kernel
def _price_reason(meta, price):
    if price == PRICE_OFF_TICK:
        return OFF_TICK
    if price < 1 or price > meta[M_MAX_PRICE]:
        return BAD_PRICE
    return NO_REASON


@hot_kernel
def _side_total(books, book, side):
    """Resting quantity of ``side`` in ``book`` (0 when the book does not exist)."""
    if book < 0:
        return 0
    return books[book, B_QTY_BID if side == BUY else B_QTY_ASK]


@hot_kernel
def _has_output_room(st, out, book, qty):
    """Whether the outputs can take every row one taker of ``qty`` may emit in ``book``.

    ``qty`` is the row's raw value: any int64, negative and huge included. A taker emits at
    most one trade per resting order, one FILLED or SELF_TRADE event per maker, and at
    most four events of its own, so the need is bounded by the book, never by ``qty``
    (a row with ``qty <= 0`` is a one-event reject).
    """
    meta = st.meta
    resting = 0
    if book >= 0:
        resting = st.books[book, B_N_BID] + st.books[book, B_N_ASK]
    trades_needed = min(resting, max(qty, 0))
    events_needed = trades_needed + 4
    if meta[M_STP] == STP_CANCEL_MAKER or meta[M_STP] == STP_CANCEL_BOTH:
        events_needed += resting
    if meta[M_N_TRADES] + trades_needed > out.trades.shape[0] or (
        meta[M_N_EVENTS] + events_needed > out.events.shape[0]
    ):
        meta[M_NEED] = events_needed
        return False
    return True


@hot_kernel
def _new_order(st, out, book, ts, order_id, symbol, side, kind, tif, price, qty, account):
    meta, books = st.meta, st.books
    events = out.events
    if side != BUY and side != SELL:
        _reject(meta, events, ts, symbol, order_id, BAD_SIDE, price, qty)
        return OK
    if tif < GTC or tif > POST_ONLY or (kind == MARKET and tif == POST_ONLY):
        _reject(meta, events, ts, symbol, order_id, BAD_TIF, price, qty)
        return OK
    if qty <= 0:
        _reject(meta, events, ts, symbol, order_id, BAD_QTY, price, qty)
        return OK
    if qty > MAX_QTY:
        _reject(meta, events, ts, symbol, order_id, QTY_LIMIT, price, qty)
        return OK
    is_market = kind == MARKET
    if not is_market:
        reason = _price_reason(meta, price)
        if reason != NO_REASON:
            _reject(meta, events, ts, symbol, order_id, reason, price, qty)
            return OK
    if book >= 0 and find_order(st.order_index, st.pool, book, order_id) >= 0:
        _reject(meta, events, ts, symbol, order_id, DUPLICATE_ID, price, qty)
        return OK
    if not is_market and (tif == GTC or tif == POST_ONLY) and qty > MAX_QTY - _side_total(books, book, side):
        _reject(meta, events, ts, symbol, order_id, QTY_LIMIT, price, qty)
        return OK
    idx = -1
    if not is_market:
        if book < 0:
            book = _book_for(st, symbol)
            if book < 0:
                return NEED_BOOKS
        status, idx = fit_price(st, book, price)
        if status != OK:
            return status
        if idx == SPAN_EXCEEDED:
            _reject(meta, events, ts, symbol, order_id, PRICE_SPAN, price, qty)
            return OK
        if (tif == GTC or tif == POST_ONLY) and _pool_full(meta, st.pool):
            return NEED_POOL
    if tif == FOK and (book < 0 or not _fok_fillable(st, book, side, is_market, price, qty, account)):
        _reject(meta, events, ts, symbol, order_id, FOK_UNFILLABLE, price, qty)
        return OK
    if tif == POST_ONLY:
        best = _best_opposite(books, book, side)
        if best >= 0 and _crosses(books, book, side, False, price, best):
            _reject(meta, events, ts, symbol, order_id, WOULD_TAKE, price, qty)
            return OK
    event_price = 0 if is_market else price
    emit_event(meta, events, ts, symbol, order_id, ACCEPTED, NO_REASON, event_price, qty)
    if book < 0:
        emit_event(meta, events, ts, symbol, order_id, EXPIRED, NO_REASON, event_price, qty)
        return OK
    _take(st, out, book, ts, order_id, side, is_market, tif, price, qty, account, idx)
    return OK


@hot_kernel
def _cancel(st, out, book, ts, order_id, symbol, price, qty):
    meta, pool = st.meta, st.pool
    slot = -1
    if book >= 0:
        slot = find_order(st.order_index, pool, book, order_id)
    if slot < 0:
        _reject(meta, out.events, ts, symbol, order_id, UNKNOWN_ID, price, qty)
        return OK
    emit_event(meta, out.events, ts, symbol, order_id, CANCELLED, NO_REASON, pool[slot, P_PRICE], pool[slot, P_QTY])
    _remove_order(st, book, slot)
    return OK


@hot_kernel
def _modify(st, out, book, ts, order_id, symbol, price, qty):
    meta, books, levels, pool = st.meta, st.books, st.levels, st.pool
    events = out.events
    if qty <= 0:
        _reject(meta, events, ts, symbol, order_id, BAD_QTY, price, qty)
        return OK
    if qty > MAX_QTY:
        _reject(meta, events, ts, symbol, order_id, QTY_LIMIT, price, qty)
        return OK
    reason = _price_reason(meta, price)
    if reason != NO_REASON:
        _reject(meta, events, ts, symbol, order_id, reason, price, qty)
        return OK
    slot = -1
    if book >= 0:
        slot = find_order(st.order_index, pool, book, order_id)
    if slot < 0:
        _reject(meta, events, ts, symbol, order_id, UNKNOWN_ID, price, qty)
        return OK
    old_qty = pool[slot, P_QTY]
    side = pool[slot, P_SIDE]
    if qty - old_qty > MAX_QTY - _side_total(books, book, side):
        _reject(meta, events, ts, symbol, order_id, QTY_LIMIT, price, qty)
        return OK
    if price == pool[slot, P_PRICE] and qty <= old_qty:
        pool[slot, P_QTY] = qty
        levels[books[book, B_LEVEL_OFF] + price - books[book, B_BASE], L_QTY] -= old_qty - qty
        books[book, B_QTY_BID if side == BUY else B_QTY_ASK] -= old_qty - qty
        emit_event(meta, events, ts, symbol, order_id, MODIFIED, NO_REASON, price, qty)
        return OK
    status, idx = fit_price(st, book, price)
    if status != OK:
        return status
    if idx == SPAN_EXCEEDED:
        _reject(meta, events, ts, symbol, order_id, PRICE_SPAN, price, qty)
        return OK
    account = pool[slot, P_ACCOUNT]
    _remove_order(st, book, slot)
    emit_event(meta, events, ts, symbol, order_id, MODIFIED, NO_REASON, price, qty)
    _take(st, out, book, ts, order_id, side, False, GTC, price, qty, account, idx)
    return OK


@hot_kernel
def process_order(st, out, ts, order_id, symbol, side, kind, tif, price, qty, account):
    """Process one order row; return ``OK`` or a ``NEED_*`` status with nothing changed.

    Scalars are the row's columns (see ``state.OrderColumns``); ``st`` is a
    ``state.BookState``, ``out`` a ``state.Outputs`` whose counters live in ``st.meta``.
    """
    if kind < LIMIT or kind > MODIFY:
        if st.meta[M_N_EVENTS] >= out.events.shape[0]:
            st.meta[M_NEED] = 1
            return NEED_OUTPUT
        _reject(st.meta, out.events, ts, symbol, order_id, BAD_KIND, price, qty)
        return OK
    book = find_book(st.book_index, st.books, symbol)
    if not _has_output_room(st, out, book, qty if kind != CANCEL else 0):
        return NEED_OUTPUT
    if kind == CANCEL:
        return _cancel(st, out, book, ts, order_id, symbol, price, qty)
    if kind == MODIFY:
        return _modify(st, out, book, ts, order_id, symbol, price, qty)
    return _new_order(st, out, book, ts, order_id, symbol, side, kind, tif, price, qty, account)


@kernel
def match_batch(st, out, orders, start):
    """Process ``orders`` (a ``state.OrderColumns``) from row ``start`` on.

    Returns ``(status, row)``: ``(OK, len)`` when done, else the ``NEED_*`` status and the
    row to resume at once the caller has grown what it names. Each completed row takes
    one input sequence number (``meta[M_INPUT_SEQ]``).
    """
    n = orders.ts.shape[0]
    for row in range(start, n):
        status = process_order(
            st, out, orders.ts[row], orders.order_id[row], np.int64(orders.symbol[row]),
            np.int64(orders.side[row]), np.int64(orders.kind[row]), np.int64(orders.tif[row]),
            orders.price[row], orders.qty[row], orders.account[row],
        )
        if status != OK:
            return status, row
        st.meta[M_INPUT_SEQ] += 1
    return OK, n


@kernel
def match_message(meta, books, book_index, levels, bits, pool, order_index, trades, events, message, layout, start):
    """Process the orders held in an Arrow IPC record-batch message from row ``start`` on: ``match_batch``
    for small RecordBatches, with plain array arguments (a dozen arrays unbox several times faster than
    three NamedTuples, and the columns need no numpy array each).

    ``meta`` … ``order_index`` are the arrays of ``state.BookState``, ``trades`` and
    ``events`` those of ``state.Outputs``. ``message`` (uint8, only read) holds the nine
    order columns, each in its contract dtype (``state.ORDER_DTYPES``), contiguous, without
    nulls; ``layout`` is int64[10]: in ``OrderColumns`` order, where each column's first value
    is in units of its own width (the byte offset is a multiple of it, and of 8 for the
    message's start), then the number of rows. Returns ``(status, row)`` as ``match_batch``.
    """
    wide = message.view(np.int64)
    word = message.view(np.int32)
    byte = message.view(np.int8)
    st = BookState(meta, books, book_index, levels, bits, pool, order_index)
    out = Outputs(trades, events)
    n = layout[9]
    ts, order_id, symbol, side, kind, tif, price, qty, account = (
        layout[0], layout[1], layout[2], layout[3], layout[4], layout[5], layout[6], layout[7], layout[8]
    )
    for row in range(start, n):
        status = process_order(
            st, out, wide[ts + row], wide[order_id + row], np.int64(word[symbol + row]),
            np.int64(byte[side + row]), np.int64(byte[kind + row]), np.int64(byte[tif + row]),
            wide[price + row], wide[qty + row], wide[account + row],
        )
        if status != OK:
            return status, row
        meta[M_INPUT_SEQ] += 1
    return OK, n


@kernel
def match_one(meta, books, book_index, levels, bits, pool, order_index, trades, events,
              ts, order_id, symbol, side, kind, tif, price, qty, account):
    """Process one order given as int64 scalars: the fast path of ``Engine.submit_one``.

    Takes the arrays of ``state.BookState`` and ``state.Outputs`` one by one, because the
    dispatcher unboxes plain array arguments about four times faster than NamedTuples,
    and that cost is most of a one-order call. Resets the output counters first.
    Returns ``(status, n_trades, n_events)``.
    """
    st = BookState(meta, books, book_index, levels, bits, pool, order_index)
    out = Outputs(trades, events)
    meta[M_N_TRADES] = 0
    meta[M_N_EVENTS] = 0
    status = process_order(st, out, ts, order_id, symbol, side, kind, tif, price, qty, account)
    if status == OK:
        meta[M_INPUT_SEQ] += 1
    return status, meta[M_N_TRADES], meta[M_N_EVENTS], meta[M_INPUT_SEQ]


@hot_kernel
def _record_call(meta, calls, t0, e0):
    """Append the call record of the row just processed and advance the block's counts and the input seq."""
    k = calls[C_N_CALLS]
    record = C_HEADER + k * C_STRIDE
    calls[record + C_T0] = t0
    calls[record + C_T1] = meta[M_N_TRADES]
    calls[record + C_E0] = e0
    calls[record + C_E1] = meta[M_N_EVENTS]
    calls[record + C_SEQ] = meta[M_INPUT_SEQ]
    calls[C_N_CALLS] = k + 1
    calls[C_N_TRADES] = meta[M_N_TRADES]
    calls[C_N_EVENTS] = meta[M_N_EVENTS]
    meta[M_INPUT_SEQ] += 1


@hot_kernel
def _match_row(meta, books, book_index, levels, bits, pool, order_index, trades, events, calls):
    """``match_row``'s body, inlined into it and ``match_row_logged`` (arrays, header and returns: see ``match_row``)."""
    symbol, side, kind, tif = calls[C_SYMBOL], calls[C_SIDE], calls[C_KIND], calls[C_TIF]
    if not (-128 <= side <= 127 and -128 <= kind <= 127 and -128 <= tif <= 127
            and -(2**31) <= symbol <= 2**31 - 1):
        return BAD_VALUE
    if C_HEADER + (calls[C_N_CALLS] + 1) * C_STRIDE > calls.shape[0]:
        meta[M_NEED] = 0
        return NEED_OUTPUT
    t0 = calls[C_N_TRADES]
    e0 = calls[C_N_EVENTS]
    meta[M_N_TRADES] = t0
    meta[M_N_EVENTS] = e0
    status = process_order(
        BookState(meta, books, book_index, levels, bits, pool, order_index), Outputs(trades, events),
        calls[C_TS], calls[C_ORDER_ID], symbol, side, kind, tif, calls[C_PRICE], calls[C_QTY], calls[C_ACCOUNT],
    )
    if status == OK:
        _record_call(meta, calls, t0, e0)
    meta[M_N_TRADES] = 0
    meta[M_N_EVENTS] = 0
    return status


@kernel
def match_row(meta, books, book_index, levels, bits, pool, order_index, trades, events, calls):
    """Process the order in ``calls``' header: the fast path of ``Engine.submit_one``.

    ``meta`` … ``order_index`` are the arrays of ``state.BookState`` and ``trades``,
    ``events``, ``calls`` those of a ``state.ScalarOutputs`` block; the caller wrote the
    order's nine values as int64 into ``calls[C_TS:C_ACCOUNT + 1]``. Ten plain arrays, no
    scalars and an int back: the numba dispatcher's cost grows with every argument (a
    NamedTuple is typed field by field in Python), and that cost is most of a one-order call.

    Trade and event rows are appended after the block's earlier calls and the call is
    recorded (``state.C_*``); the engine's own output counters are left at zero. Returns
    ``OK``; ``BAD_VALUE`` when ``symbol``, ``side``, ``kind`` or ``tif`` is outside its
    column's dtype; ``NEED_OUTPUT`` when the block is full (a new one is needed:
    ``meta[M_NEED]`` events); or another ``NEED_*`` status. Nothing changes unless ``OK``.
    """
    return _match_row(meta, books, book_index, levels, bits, pool, order_index, trades, events, calls)


@gil_kernel
def match_row_logged(meta, books, book_index, levels, bits, pool, order_index, trades, events, calls, ring,
                     ring_ctl):
    """``match_row``, then append the order to the WAL ring: the scalar path of an engine with a WAL.

    ``ring`` and ``ring_ctl`` are a ``state.new_ring`` pair: a bounded single-producer
    (this kernel, engine lock held) / single-consumer (the WAL writer thread) queue. A
    processed order's nine values and its input seq go into slot ``head % capacity``, then
    ``Q_END_SEQ`` and ``Q_HEAD`` advance; the writer frees slots by advancing ``Q_TAIL``
    once their frame is durable. Returns ``RING_FULL`` before changing anything when no
    slot is free (the caller waits for the writer, then calls again: the ring never
    drops an order). When the writer sleeps (``Q_IDLE``) the kernel wakes it: through
    ``Q_HEAD``'s futex when it sleeps in its GIL-free loop (``wal.drain``), by returning
    ``WAKE_WRITER`` instead of ``OK`` when it sleeps on its Python condition; otherwise as
    ``match_row``.

    The writer's GIL-free loop reads the ring while this kernel runs, so the order of
    memory accesses is explicit: the slot is written before ``Q_HEAD`` (a release fence:
    the writer never sees ``Q_HEAD`` before the slot), and ``Q_HEAD`` before ``Q_IDLE`` is
    read (a full fence, as the writer sets ``Q_IDLE`` before it reads ``Q_HEAD`` a last
    time: one of the two sees the other, so an append never goes unnoticed).

    Keeps the GIL (numba's default) on purpose: per call, holding it skips a release and
    re-acquire around a ~1 µs kernel (an A/B: 124 vs 158 ns), and the writer thread no
    longer needs the GIL to write what the kernel appends.
    """
    head = ring_ctl[Q_HEAD]
    capacity = ring.shape[0]
    if head - ring_ctl[Q_TAIL] >= capacity:
        return RING_FULL
    status = _match_row(meta, books, book_index, levels, bits, pool, order_index, trades, events, calls)
    if status != OK:
        return status
    slot = head % capacity
    for field in range(C_ACCOUNT + 1):
        ring[slot, field] = calls[field]
    seq = meta[M_INPUT_SEQ] - 1
    ring[slot, R_SEQ] = seq
    ring_ctl[Q_END_SEQ] = seq + 1
    release_fence()
    ring_ctl[Q_HEAD] = head + 1
    fence()
    idle = ring_ctl[Q_IDLE]
    if idle == IDLE_FUTEX:
        sys_futex_wake(ring_ctl.ctypes.data + 8 * Q_HEAD)
    elif idle == IDLE_PYTHON:
        return WAKE_WRITER
    return OK


@kernel
def refuse_row(meta, events, calls):
    """Reject the order in ``calls``' header with ``MEMORY_BUDGET`` and record the call (see ``match_row``).

    The block must have room for one more call and one more event row.
    """
    t0 = calls[C_N_TRADES]
    e0 = calls[C_N_EVENTS]
    meta[M_N_TRADES] = t0
    meta[M_N_EVENTS] = e0
    emit_event(meta, events, calls[C_TS], calls[C_SYMBOL], calls[C_ORDER_ID], REJECTED, MEMORY_BUDGET,
               calls[C_PRICE], calls[C_QTY])
    _record_call(meta, calls, t0, e0)
    meta[M_N_TRADES] = 0
    meta[M_N_EVENTS] = 0
