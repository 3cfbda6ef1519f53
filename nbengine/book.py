"""The kernels' wrapper on (state, outputs): match with grow-and-resume, read the books; no I/O.

A ``Book`` owns the arrays every matching kernel works on: the book state
(``state.BookState``), the batch output buffers (``state.Outputs``) and the scalar path's
output block (``state.ScalarOutputs``). It calls the kernels on them and, when one returns
a ``NEED_*`` status, grows what the status names (within a memory budget) and resumes; it
reads the books back as rows and tables. It holds no lock and sees no Arrow input, thread
or file: ``engine.Engine`` checks arguments, serialises calls under its lock and hands
results and the log on. Of the WAL it knows only the ring arrays that the logged scalar
kernel appends to (``log_to``); the ring's statuses go back to the caller.
"""

from typing import NamedTuple

import numpy as np

from . import state as s
from .codes import MEMORY_BUDGET, REJECTED
from .kernels.hashindex import find_book, rebuild_book_index, rebuild_order_index
from .kernels.ladder import compact_arenas
from .kernels.match import (
    emit_event,
    match_batch,
    match_message,
    match_one,
    match_row,
    match_row_logged,
    refuse_row,
)
from .kernels.stepping import qty_ahead, quote_without
from .kernels.views import book_depth, resting_orders
from .results import table_from_rows
from .schema import DEPTH_SCHEMA, RESTING_SCHEMA

__all__ = ["BBO", "SCALAR_BLOCK_CALLS", "Book", "MemoryBudgetError"]


SCALAR_BLOCK_CALLS = 1024
"""Calls of ``submit_one`` per scalar output block (``state.ScalarOutputs``); a full block is replaced, not reused."""


class MemoryBudgetError(MemoryError):
    """Growing the book state would exceed ``Engine.memory_budget`` (the row is rejected)."""


class BBO(NamedTuple):
    """Best bid and offer of one book; a price is None where its side is empty."""

    bid_price: int | None
    bid_qty: int
    ask_price: int | None
    ask_qty: int


class Book:
    """Every book of one engine, its output buffers, and the kernel calls that change or read them.

    Not thread-safe: the caller serialises every call (``Engine`` holds its lock). Any
    call that matches may replace ``state``, ``outputs`` and ``block`` (and ``header``,
    ``row_args``) by larger arrays, so read them again after it; row views handed out
    (``output_rows``) are valid until the next call that matches. A replaced scalar block
    is never written again, so views of it stay valid.

    Parameters
    ----------
    stp : int
        Self-trade prevention code (a value of ``codes.STP_MODES``).
    max_span_ticks : int
        A power of two in [64, ``state.MAX_LADDER_CAP``]; the caller checked it.
    max_price_ticks : int
        In [1, 2**62); the caller checked it.
    memory_budget : int
        Most bytes the state's arrays may hold (``nbytes``): growth beyond it is refused.
        May be lowered or raised later; the caller checks it is at least ``nbytes``.

    Attributes
    ----------
    state : state.BookState
    outputs : state.Outputs
        The batch paths' output rows; ``state.meta[M_N_TRADES]`` / ``[M_N_EVENTS]``
        count the rows in use.
    block : state.ScalarOutputs
        The scalar path's current output block.
    header : numpy.ndarray
        ``block.calls``: the scalar path writes an order's nine values as int64 into
        ``header[C_TS:C_ACCOUNT + 1]``, then calls ``row_kernel(*row_args)``.
    row_kernel : numba dispatcher
        ``kernels.match.match_row``, or ``match_row_logged`` after ``log_to``: returns a
        status (see ``resume_row``).
    row_args : tuple
        ``row_kernel``'s arguments: the arrays of ``state``, of ``block``, and the WAL
        ring if any (rebound whenever one of them is replaced).
    next_call : int
        The number in ``block`` of the next call recorded: 0 in a new block. The scalar
        path takes it as the number of its call once the order is matched through
        ``row_kernel`` (an ``OK`` or ``WAKE_WRITER`` status, or a refusal by
        ``resume_row``) and advances it by one; ``results.OrderResult(block, call)``
        reads that call's record back. (A Python int the caller advances: cheaper than
        a method call on the ~1 µs path, and equal to ``header[C_N_CALLS]`` between calls.)
    memory_budget : int

    Examples
    --------
    >>> from nbengine import prepare, state
    >>> book = Book(stp=0, max_span_ticks=64, max_price_ticks=1 << 53, memory_budget=state.DEFAULT_MEMORY_BUDGET)
    >>> book.match(prepare({"ts": [1, 2], "order_id": [1, 2], "kind": [0, 0], "side": [1, -1],
    ...                     "price": [100, 100], "qty": [5, 3]}))
    (1, 3)
    >>> trades, events = book.output_rows()
    >>> trades[0, [state.T_PRICE, state.T_QTY]].tolist(), book.bbo(0), book.next_seq
    ([100, 3], BBO(bid_price=100, bid_qty=2, ask_price=None, ask_qty=0), 2)
    """

    def __init__(self, *, stp, max_span_ticks, max_price_ticks, memory_budget):
        self.state = s.new_state(stp=stp, max_span_ticks=max_span_ticks, max_price_ticks=max_price_ticks)
        self.outputs = s.new_outputs(1024, 2048)
        self.memory_budget = memory_budget
        self.refused_rows = []
        self.row_kernel = match_row
        self._ring = ()
        self._quote = np.zeros(4, dtype=np.int64)
        self._start_block(s.new_scalar_outputs(SCALAR_BLOCK_CALLS, SCALAR_BLOCK_CALLS, 2 * SCALAR_BLOCK_CALLS))

    # -- batches ----------------------------------------------------------------------

    def match(self, columns):
        """Match prepared columns; return ``(n_trades, n_events)``.

        ``columns`` is a ``state.OrderColumns`` of equal-length arrays in the dtypes of
        ``state.ORDER_DTYPES`` (what ``schema.prepare`` returns); it is only read.

        The rows are the first ``n_trades`` / ``n_events`` of ``outputs`` (counted from
        zero: the previous call's rows are dropped). Each row takes one input seq; a row
        whose growth would exceed the memory budget is rejected with ``MEMORY_BUDGET``
        and its index listed in ``refused_rows`` (ascending; empty when none was).
        """
        meta = self.state.meta
        meta[s.M_N_TRADES] = 0
        meta[s.M_N_EVENTS] = 0
        self.refused_rows = []
        self._reserve_output(columns.ts.shape[0])
        if columns.ts.shape[0] == 1:
            return self._match_single(columns)
        row = 0
        while True:
            status, row = match_batch(self.state, self.outputs, columns, row)
            if status == s.OK:
                return int(meta[s.M_N_TRADES]), int(meta[s.M_N_EVENTS])
            try:
                self.grow(status)
            except MemoryBudgetError:
                self._refuse(*(int(column[row]) for column in columns))
                self.refused_rows.append(row)
                row += 1

    def match_message(self, message, layout):
        """``match`` of the orders in an IPC message (``schema.small_message``'s pair); return ``(n_trades, n_events)``.

        One ``kernels.match.match_message`` call of plain arrays per batch, where ``match``
        passes three NamedTuples (their unboxing is most of a small batch's matching).
        """
        meta = self.state.meta
        meta[s.M_N_TRADES] = 0
        meta[s.M_N_EVENTS] = 0
        n = int(layout[9])
        self.refused_rows = []
        self._reserve_output(n)
        row = 0
        while True:
            status, row = match_message(*self.state, *self.outputs, message, layout, row)
            if status == s.OK:
                return int(meta[s.M_N_TRADES]), int(meta[s.M_N_EVENTS])
            try:
                self.grow(status)
            except MemoryBudgetError:
                self._refuse(*(int(message.view(dtype)[first + row]) for first, dtype in zip(layout, s.ORDER_DTYPES.values())))
                self.refused_rows.append(row)
                row += 1

    def _match_single(self, columns):
        """``match`` of a 1-row batch through ``match_one``: plain array and integer arguments
        unbox several times faster than ``match_batch``'s NamedTuples (about 0.7 µs against 2.9 µs)."""
        row = [int(column[0]) for column in columns]
        while True:
            status, n_trades, n_events, _ = match_one(*self.state, *self.outputs, *row)
            if status == s.OK:
                return int(n_trades), int(n_events)
            try:
                self.grow(status)
            except MemoryBudgetError:
                self._refuse(*row)
                self.refused_rows.append(0)
                return int(self.state.meta[s.M_N_TRADES]), int(self.state.meta[s.M_N_EVENTS])

    def refuse(self, columns):
        """Refuse every row of ``columns`` (``match``'s) with ``MEMORY_BUDGET`` without matching it;
        return ``(n_trades, n_events)`` as ``match`` does: how the WAL's refused orders replay."""
        meta = self.state.meta
        meta[s.M_N_TRADES] = 0
        meta[s.M_N_EVENTS] = 0
        self.refused_rows = list(range(columns.ts.shape[0]))
        for row in self.refused_rows:
            self._refuse(*(int(column[row]) for column in columns))
        return int(meta[s.M_N_TRADES]), int(meta[s.M_N_EVENTS])

    def _refuse(self, ts, order_id, symbol, side, kind, tif, price, qty, account):
        """Reject one row with ``MEMORY_BUDGET`` (a row that needed growth changed nothing yet)."""
        meta = self.state.meta
        trades, events = self.outputs
        if meta[s.M_N_EVENTS] >= events.shape[0]:
            events = s.grown(events, 2 * events.shape[0])
            self.outputs = s.Outputs(trades, events)
        emit_event(meta, events, ts, symbol, order_id, REJECTED, MEMORY_BUDGET, price, qty)
        meta[s.M_INPUT_SEQ] += 1

    def run(self, kernel, *args):
        """Call ``kernel(state, outputs, *args)`` until its status is ``OK``, growing what each ``NEED_*`` names.

        The kernel returns a status, or a tuple whose first item is one; after a
        ``NEED_*`` it is called again with the same arguments (``Engine.run_kernel`` says
        what that asks of it). Returns the result of the call that ended with ``OK``.

        Raises
        ------
        MemoryBudgetError
            When the growth asked for would exceed the memory budget.
        """
        while True:
            result = kernel(self.state, self.outputs, *args)
            status = result[0] if isinstance(result, tuple) else result
            if status == s.OK:
                return result
            self.grow(int(status))

    def output_rows(self):
        """``(trades, events)``: views of the output rows in use (``state.T_*`` / ``state.E_*`` columns).

        Valid until the next call that matches.
        """
        meta = self.state.meta
        trades, events = self.outputs
        return trades[: meta[s.M_N_TRADES]], events[: meta[s.M_N_EVENTS]]

    def clear_outputs(self):
        """Empty the output buffers (kernels run by ``run`` append to them)."""
        self.state.meta[s.M_N_TRADES] = 0
        self.state.meta[s.M_N_EVENTS] = 0

    # -- the scalar path --------------------------------------------------------------

    def log_to(self, ring, ring_ctl):
        """Make the scalar kernel ``match_row_logged``, appending every order it matches to a WAL ring.

        ``ring`` and ``ring_ctl`` are a ``state.new_ring`` pair (int64
        ``[capacity, R_FIELDS]`` and ``[Q_FIELDS]``), of which this book is the only
        producer. The kernel's ``RING_FULL`` and ``WAKE_WRITER`` statuses are the
        caller's to handle (``resume_row`` takes neither).
        """
        self.row_kernel = match_row_logged
        self._ring = (ring, ring_ctl)
        self._bind_row_args()

    def header_row(self):
        """The nine values of the order in ``header`` (``state.OrderColumns`` order), as Python ints."""
        return tuple(int(v) for v in self.header[: s.C_ACCOUNT + 1])

    def resume_row(self, status):
        """Make the room a scalar kernel's ``NEED_*`` ``status`` asks for, before calling it again.

        ``NEED_OUTPUT``: a new block, carrying the header's order. Another ``NEED_*``:
        grow the state. When that growth would exceed the memory budget, the header's
        order is refused instead: a ``REJECTED`` / ``MEMORY_BUDGET`` event and the call
        are recorded in ``block`` as the kernel records a matched one, it takes an input
        seq, and its values are returned (a tuple of ints, for the caller to log).
        Otherwise returns None and the caller calls ``row_kernel(*row_args)`` again.
        """
        if status == s.NEED_OUTPUT:
            self._new_block(int(self.state.meta[s.M_NEED]))
            return None
        try:
            self.grow(status)
        except MemoryBudgetError:
            calls = self.header
            if self.next_call + 1 > (calls.shape[0] - s.C_HEADER) // s.C_STRIDE or (
                calls[s.C_N_EVENTS] >= self.block.events.shape[0]
            ):
                self._new_block(1)
            refuse_row(self.state.meta, self.block.events, self.header)
            return self.header_row()
        return None

    def _new_block(self, events_needed):
        """Start a new ``ScalarOutputs`` block with room for ``events_needed`` event rows of one call.

        The header's order is copied into the new block's header.
        """
        rows = max(SCALAR_BLOCK_CALLS, 2 * events_needed)
        block = s.new_scalar_outputs(SCALAR_BLOCK_CALLS, rows, 2 * rows)
        block.calls[: s.C_ACCOUNT + 1] = self.header[: s.C_ACCOUNT + 1]
        self._start_block(block)

    def _start_block(self, block):
        self.block = block
        self.header = block.calls
        self.next_call = 0
        self._bind_row_args()

    def _bind_row_args(self):
        """The scalar kernel's arguments: state, scalar block, and the WAL ring if any (after any of them changed)."""
        self.row_args = (*self.state, *self.block, *self._ring)

    # -- growth -----------------------------------------------------------------------

    def _reserve_output(self, rows):
        """Grow the output buffers once to what a batch of ``rows`` orders typically emits."""
        trades, events = self.outputs
        if trades.shape[0] < rows or events.shape[0] < 2 * rows:
            self.outputs = s.Outputs(
                s.grown(trades, max(trades.shape[0], rows)), s.grown(events, max(events.shape[0], 2 * rows))
            )

    def _within_budget(self, *replaced):
        """Raise ``MemoryBudgetError`` unless the state with ``replaced`` arrays swapped for new
        ones of the given ``(old, new_nbytes)`` pairs fits ``memory_budget``."""
        total = s.nbytes(self.state) + sum(new - old.nbytes for old, new in replaced)
        if total > self.memory_budget:
            raise MemoryBudgetError(f"the book state would need {total} bytes, over memory_budget={self.memory_budget}")

    def grow(self, status):
        """Grow what a kernel's ``NEED_*`` status names (``meta[M_NEED]`` says how much where it matters).

        ``NEED_POOL`` / ``NEED_BOOKS`` double the pool or the books and rebuild their hash
        index; ``NEED_ARENA`` compacts the ladder arenas into new ones with room (twice the
        live size, or just that when twice would not fit the budget); ``NEED_OUTPUT``
        grows ``outputs``. Arrays are replaced, never resized in place.

        Raises
        ------
        MemoryBudgetError
            When the state would exceed ``memory_budget`` (nothing changed).
        """
        st = self.state
        meta = st.meta
        if status == s.NEED_POOL:
            capacity = 2 * st.pool.shape[0]
            self._within_budget((st.pool, st.pool.nbytes * 2), (st.order_index, st.order_index.nbytes * 2))
            pool = s.grown(st.pool, capacity)
            order_index = s.empty_table(capacity, np.int64)
            rebuild_order_index(order_index, pool, meta[s.M_POOL_HWM])
            self.state = st._replace(pool=pool, order_index=order_index)
        elif status == s.NEED_BOOKS:
            capacity = 2 * st.books.shape[0]
            self._within_budget((st.books, st.books.nbytes * 2), (st.book_index, st.book_index.nbytes * 2))
            books = s.grown(st.books, capacity)
            book_index = s.empty_table(capacity)
            rebuild_book_index(book_index, books, meta[s.M_N_BOOKS])
            self.state = st._replace(books=books, book_index=book_index)
        elif status == s.NEED_ARENA:
            n_books = meta[s.M_N_BOOKS]
            lengths = st.books[:n_books, s.B_LEN]
            needed = int(meta[s.M_NEED])
            live_levels = int(lengths.sum()) + needed
            live_words = sum(s.bitset_words(int(n)) for n in lengths if n) + s.bitset_words(needed)
            room = 2
            try:
                self._within_budget((st.levels, 2 * live_levels * 8 * s.L_FIELDS), (st.bits, 2 * live_words * 8))
            except MemoryBudgetError:
                room = 1
                self._within_budget((st.levels, live_levels * 8 * s.L_FIELDS), (st.bits, live_words * 8))
            levels = s.new_levels(room * live_levels)
            bits = np.zeros(room * live_words, dtype=np.int64)
            compact_arenas(meta, st.books, st.levels, st.bits, levels, bits)
            self.state = st._replace(levels=levels, bits=bits)
        elif status == s.NEED_OUTPUT:
            needed = int(meta[s.M_NEED])
            trades = s.grown(self.outputs.trades, 2 * (self.outputs.trades.shape[0] + needed))
            events = s.grown(self.outputs.events, 2 * (self.outputs.events.shape[0] + needed))
            self.outputs = s.Outputs(trades, events)
        else:
            raise AssertionError(f"unknown kernel status {status}")
        self._bind_row_args()

    # -- views ------------------------------------------------------------------------

    def _find(self, symbol):
        return find_book(self.state.book_index, self.state.books, symbol)

    def orders(self, symbol=None):
        """Resting orders in priority order (``schema.RESTING_SCHEMA``); all books when ``symbol`` is None.

        Books come in ascending symbol order; within one, bids best first, then asks best
        first, FIFO per price.
        """
        st = self.state
        n_books = int(st.meta[s.M_N_BOOKS])
        if symbol is None:
            symbols = st.books[:n_books, s.B_SYMBOL]
            books = np.argsort(symbols, kind="stable")
        else:
            book = self._find(symbol)
            books = [] if book < 0 else [book]
        counts = st.books[:, s.B_N_BID] + st.books[:, s.B_N_ASK]
        rows = np.zeros((int(sum(counts[b] for b in books)), len(RESTING_SCHEMA)), dtype=np.int64)
        row = 0
        for book in books:
            row = resting_orders(st, book, rows, row)
        return table_from_rows(rows, RESTING_SCHEMA)

    def depth(self, symbol, levels):
        """Aggregated levels (``schema.DEPTH_SCHEMA``): up to ``levels`` (an int >= 0) bids, best first, then asks."""
        book = self._find(symbol)
        books = self.state.books
        sized = 0 if book < 0 else min(levels, int(books[book, s.B_N_BID])) + min(levels, int(books[book, s.B_N_ASK]))
        rows = np.zeros((sized, len(DEPTH_SCHEMA)), dtype=np.int64)
        n = 0 if book < 0 else book_depth(self.state, book, levels, rows)
        return table_from_rows(rows[:n], DEPTH_SCHEMA)

    def bbo(self, symbol, without_account=None):
        """Best bid and offer of ``symbol`` as a ``BBO``; with ``without_account``, of the other accounts' orders."""
        st = self.state
        if without_account is not None:
            quote = self._quote
            quote_without(st, symbol, without_account, quote)
            bid, bid_qty, ask, ask_qty = quote.tolist()
            return BBO(None if bid < 0 else bid, bid_qty, None if ask < 0 else ask, ask_qty)
        book = self._find(symbol)
        quote = [None, 0, None, 0]
        if book >= 0:
            for i, field in ((0, s.B_BEST_BID), (2, s.B_BEST_ASK)):
                idx = st.books[book, field]
                if idx >= 0:
                    quote[i] = int(st.books[book, s.B_BASE] + idx)
                    quote[i + 1] = int(st.levels[st.books[book, s.B_LEVEL_OFF] + idx, s.L_QTY])
        return BBO(*quote)

    def symbols(self):
        """Symbols of every book held (empty ones included), ascending."""
        st = self.state
        return sorted(int(v) for v in st.books[: int(st.meta[s.M_N_BOOKS]), s.B_SYMBOL])

    def qty_ahead(self, symbols, order_ids):
        """Resting quantity ahead of each order in its level's queue, -1 where it does not rest.

        ``symbols`` and ``order_ids`` are int64 arrays of one length; returns a new one.
        """
        ahead = np.empty(order_ids.shape[0], dtype=np.int64)
        qty_ahead(self.state, symbols, order_ids, ahead)
        return ahead

    def check(self):
        """Assert every invariant of the state (``state.check_invariants``; slow)."""
        s.check_invariants(self.state)

    @property
    def nbytes(self):
        """Bytes held by the state's arrays (output buffers not counted)."""
        return s.nbytes(self.state)

    @property
    def live_orders(self):
        """Number of resting orders over all books."""
        return int(self.state.meta[s.M_LIVE_ORDERS])

    @property
    def n_books(self):
        """Number of books held (empty ones included)."""
        return int(self.state.meta[s.M_N_BOOKS])

    @property
    def next_seq(self):
        """Input sequence number the next matched row will take."""
        return int(self.state.meta[s.M_INPUT_SEQ])

    def counters(self):
        """The next trade, event and input sequence numbers."""
        meta = self.state.meta
        return int(meta[s.M_TRADE_SEQ]), int(meta[s.M_EVENT_SEQ]), int(meta[s.M_INPUT_SEQ])

    def restore_counters(self, input_seq, trade_seq, event_seq):
        """Set the next input, trade and event sequence numbers (after a snapshot's orders were matched)."""
        meta = self.state.meta
        meta[s.M_INPUT_SEQ] = input_seq
        meta[s.M_TRADE_SEQ] = trade_seq
        meta[s.M_EVENT_SEQ] = event_seq
