"""The Engine: validate order batches, run the kernels, build result tables."""

import operator
from typing import NamedTuple

import numpy as np
import pyarrow as pa

from . import state as s
from .codes import GTC, STP_MODES
from .kernels.columns import event_columns, trade_columns
from .kernels.hashindex import find_book, rebuild_book_index, rebuild_order_index
from .kernels.ladder import compact_arenas
from .kernels.match import match_batch, match_one
from .kernels.views import book_depth, resting_orders
from .schema import DEPTH_SCHEMA, EVENTS_SCHEMA, RESTING_SCHEMA, TRADES_SCHEMA, prepare
from .statehash import state_hash


_DTYPES = {
    schema: [np.dtype(str(field.type)) for field in schema]
    for schema in (TRADES_SCHEMA, EVENTS_SCHEMA, RESTING_SCHEMA, DEPTH_SCHEMA)
}


_NO_ROWS = np.zeros((0, s.T_FIELDS), dtype=np.int64)
_NO_ROWS.flags.writeable = False


class BBO(NamedTuple):
    """Best bid and offer of one book; a price is None where its side is empty."""

    bid_price: int | None
    bid_qty: int
    ask_price: int | None
    ask_qty: int


def _table(rows, schema, split=None):
    """A table of ``schema`` from an int64[n, fields] block (copied: buffers are reused).

    ``split`` is a kernel of ``kernels.columns`` that fills every column in one pass;
    without it each column is copied on its own (fine for small views). Arrays are made
    from the column buffers directly, which costs a third of ``pa.array`` per column.
    """
    n = rows.shape[0]
    columns = [np.empty(n, dtype=dtype) for dtype in _DTYPES[schema]]
    if split is not None:
        split(rows, *columns)
    else:
        for i, column in enumerate(columns):
            column[:] = rows[:, i]
    arrays = [pa.Array.from_buffers(field.type, n, [None, pa.py_buffer(c)]) for field, c in zip(schema, columns)]
    return pa.Table.from_batches([pa.RecordBatch.from_arrays(arrays, schema=schema)])


def _trades_table(rows):
    return _table(rows, TRADES_SCHEMA, trade_columns)


def _events_table(rows):
    return _table(rows, EVENTS_SCHEMA, event_columns)


class SubmitResult:
    """What one ``Engine.submit`` or ``Engine.submit_one`` produced.

    Attributes
    ----------
    trades, events : pyarrow.Table
        Rows of ``schema.TRADES_SCHEMA`` / ``schema.EVENTS_SCHEMA``, in processing order.
        ``submit_one`` keeps its few rows as numpy and builds the tables when first read.
    seq_start, seq_end : int
        The input sequence numbers of the batch's rows: ``[seq_start, seq_end)``.
    """

    __slots__ = ("_trades", "_events", "seq_start", "seq_end")

    def __init__(self, trades, events, seq_start, seq_end):
        self._trades = trades
        self._events = events
        self.seq_start = seq_start
        self.seq_end = seq_end

    @property
    def trades(self):
        if not isinstance(self._trades, pa.Table):
            self._trades = _trades_table(self._trades)
        return self._trades

    @property
    def events(self):
        if not isinstance(self._events, pa.Table):
            self._events = _events_table(self._events)
        return self._events

    @property
    def n_trades(self):
        return len(self._trades)

    @property
    def n_events(self):
        return len(self._events)

    def wait_durable(self, timeout=None):
        """Return once the batch is durable; without a WAL there is nothing to wait for."""
        return True

    def __repr__(self):
        return (
            f"<SubmitResult seq {self.seq_start}..{self.seq_end}: "
            f"{self.n_trades} trades, {self.n_events} events>"
        )


class Engine:
    """A limit-order-book matching engine over any number of symbols.

    Parameters
    ----------
    stp : {"none", "cancel-taker", "cancel-maker", "cancel-both"}
        Self-trade prevention between orders of the same ``account``.
    max_span_ticks : int
        Power of two in [64, 2**24]: the widest span of resting prices one book may hold;
        a book's dense ladder never exceeds it (32 bytes a level). Orders that would
        stretch a book further are rejected with ``PRICE_SPAN``.
    max_price_ticks : int
        Highest valid limit price; lower bound is 1.

    Examples
    --------
    >>> import nbengine
    >>> eng = nbengine.Engine()
    >>> _ = eng.submit({"ts": [1, 2], "order_id": [1, 2], "kind": [0, 0], "side": [1, -1],
    ...                 "price": [100, 100], "qty": [5, 3]})
    >>> eng.bbo()
    BBO(bid_price=100, bid_qty=2, ask_price=None, ask_qty=0)
    """

    def __init__(self, *, stp="none", max_span_ticks=1 << 20, max_price_ticks=1 << 53):
        if stp not in STP_MODES:
            raise ValueError(f"stp: expected one of {sorted(STP_MODES)}, got {stp!r}")
        span = int(max_span_ticks)
        if span < 64 or span > s.MAX_LADDER_CAP or span & (span - 1):
            raise ValueError(f"max_span_ticks: expected a power of two in [64, 2**24], got {max_span_ticks}")
        if not 1 <= int(max_price_ticks) < 2**62:
            raise ValueError(f"max_price_ticks: expected in [1, 2**62), got {max_price_ticks}")
        self.stp = stp
        self.max_span_ticks = span
        self.max_price_ticks = int(max_price_ticks)
        self._state = s.new_state(stp=STP_MODES[stp], max_span_ticks=span, max_price_ticks=self.max_price_ticks)
        self._out = s.new_outputs(1024, 2048)

    # -- matching ---------------------------------------------------------------------

    def match_columns(self, columns):
        """Match prepared columns (``schema.prepare``); outputs stay in the engine's buffers.

        The kernel-only path, without Arrow on either side. Returns ``(n_trades, n_events)``.
        """
        meta = self._state.meta
        meta[s.M_N_TRADES] = 0
        meta[s.M_N_EVENTS] = 0
        self._reserve_output(columns.ts.shape[0])
        row = 0
        while True:
            status, row = match_batch(self._state, self._out, columns, row)
            if status == s.OK:
                return int(meta[s.M_N_TRADES]), int(meta[s.M_N_EVENTS])
            self._grow(status)

    def submit(self, orders):
        """Validate and match a batch of orders.

        Parameters
        ----------
        orders : pyarrow.Table, pyarrow.RecordBatch, object with ``__arrow_c_stream__``, pandas.DataFrame or dict
            Columns of DESIGN §2 (see ``schema.prepare``).

        Returns
        -------
        SubmitResult
            ``trades`` and ``events`` tables and the batch's input sequence range.

        Raises
        ------
        SchemaError
            When a column is missing, null or of the wrong type. Bad rows never raise:
            they become ``REJECTED`` events.
        """
        columns = prepare(orders)
        seq_start = int(self._state.meta[s.M_INPUT_SEQ])
        n_trades, n_events = self.match_columns(columns)
        return SubmitResult(
            _trades_table(self._out.trades[:n_trades]),
            _events_table(self._out.events[:n_events]),
            seq_start,
            seq_start + columns.ts.shape[0],
        )

    def submit_one(self, ts, order_id, side, kind, price=0, qty=0, *, symbol=0, tif=GTC, account=0):
        """Match one order given as integers: the low-latency path, same rules as ``submit``.

        Every argument must be an integer (Python or numpy); a float raises ``TypeError``
        instead of being truncated.

        Returns
        -------
        SubmitResult
            For one row; its tables are built only when read.
        """
        index = operator.index
        row = (index(ts), index(order_id), index(symbol), index(side), index(kind), index(tif),
               index(price), index(qty), index(account))
        status, n_trades, n_events, next_seq = match_one(*self._state, *self._out, *row)
        while status != s.OK:
            self._grow(status)
            status, n_trades, n_events, next_seq = match_one(*self._state, *self._out, *row)
        trades, events = self._out
        return SubmitResult(
            trades[:n_trades].copy() if n_trades else _NO_ROWS, events[:n_events].copy(), next_seq - 1, next_seq
        )

    # -- growth -----------------------------------------------------------------------

    def _reserve_output(self, rows):
        """Grow the output buffers once to what a batch of ``rows`` orders typically emits."""
        trades, events = self._out
        if trades.shape[0] < rows or events.shape[0] < 2 * rows:
            self._out = s.Outputs(
                s.grown(trades, max(trades.shape[0], rows)), s.grown(events, max(events.shape[0], 2 * rows))
            )

    def _grow(self, status):
        st = self._state
        meta = st.meta
        if status == s.NEED_POOL:
            capacity = 2 * st.pool.shape[0]
            pool = s.grown(st.pool, capacity)
            order_index = s.empty_table(capacity, np.int64)
            rebuild_order_index(order_index, pool, meta[s.M_POOL_HWM])
            self._state = st._replace(pool=pool, order_index=order_index)
        elif status == s.NEED_BOOKS:
            capacity = 2 * st.books.shape[0]
            books = s.grown(st.books, capacity)
            book_index = s.empty_table(capacity)
            rebuild_book_index(book_index, books, meta[s.M_N_BOOKS])
            self._state = st._replace(books=books, book_index=book_index)
        elif status == s.NEED_ARENA:
            n_books = meta[s.M_N_BOOKS]
            lengths = st.books[:n_books, s.B_LEN]
            needed = int(meta[s.M_NEED])
            live_levels = int(lengths.sum()) + needed
            live_words = sum(s.bitset_words(int(n)) for n in lengths if n) + s.bitset_words(needed)
            levels = s.new_levels(2 * live_levels)
            bits = np.zeros(2 * live_words, dtype=np.int64)
            compact_arenas(meta, st.books, st.levels, st.bits, levels, bits)
            self._state = st._replace(levels=levels, bits=bits)
        elif status == s.NEED_OUTPUT:
            needed = int(meta[s.M_NEED])
            trades = s.grown(self._out.trades, 2 * (self._out.trades.shape[0] + needed))
            events = s.grown(self._out.events, 2 * (self._out.events.shape[0] + needed))
            self._out = s.Outputs(trades, events)
        else:
            raise AssertionError(f"unknown kernel status {status}")

    # -- views ------------------------------------------------------------------------

    def _book(self, symbol):
        return find_book(self._state.book_index, self._state.books, symbol)

    def orders(self, symbol=None):
        """Resting orders in priority order (``schema.RESTING_SCHEMA``); all books when ``symbol`` is None.

        Books come in ascending symbol order; within one, bids best first, then asks best
        first, FIFO per price. This is also the content of a snapshot.
        """
        st = self._state
        n_books = int(st.meta[s.M_N_BOOKS])
        if symbol is None:
            symbols = st.books[:n_books, s.B_SYMBOL]
            books = np.argsort(symbols, kind="stable")
        else:
            book = self._book(symbol)
            books = [] if book < 0 else [book]
        counts = st.books[:, s.B_N_BID] + st.books[:, s.B_N_ASK]
        rows = np.zeros((int(sum(counts[b] for b in books)), len(RESTING_SCHEMA)), dtype=np.int64)
        row = 0
        for book in books:
            row = resting_orders(st, book, rows, row)
        return _table(rows, RESTING_SCHEMA)

    def depth(self, symbol=0, levels=10):
        """Aggregated levels (``schema.DEPTH_SCHEMA``): up to ``levels`` bids, best first, then asks."""
        book = self._book(symbol)
        rows = np.zeros((2 * levels, len(DEPTH_SCHEMA)), dtype=np.int64)
        n = 0 if book < 0 else book_depth(self._state, book, levels, rows)
        return _table(rows[:n], DEPTH_SCHEMA)

    def bbo(self, symbol=0):
        """Best bid and offer of ``symbol`` as a ``BBO``."""
        st = self._state
        book = self._book(symbol)
        quote = [None, 0, None, 0]
        if book >= 0:
            for i, field in ((0, s.B_BEST_BID), (2, s.B_BEST_ASK)):
                idx = st.books[book, field]
                if idx >= 0:
                    quote[i] = int(st.books[book, s.B_BASE] + idx)
                    quote[i + 1] = int(st.levels[st.books[book, s.B_LEVEL_OFF] + idx, s.L_QTY])
        return BBO(*quote)

    def state_hash(self):
        """SHA-256 of every resting order (docs/semantics.md); equal states, equal hashes."""
        return state_hash(self.orders().to_pydict())

    def check(self):
        """Assert every invariant of the book state (slow; for tests and debugging)."""
        s.check_invariants(self._state)

    @property
    def nbytes(self):
        """Bytes held by the book state's arrays (output buffers not counted)."""
        return s.nbytes(self._state)

    @property
    def live_orders(self):
        """Number of resting orders over all books."""
        return int(self._state.meta[s.M_LIVE_ORDERS])

    @property
    def next_seq(self):
        """Input sequence number the next submitted row will take."""
        return int(self._state.meta[s.M_INPUT_SEQ])

    def __repr__(self):
        return (
            f"<Engine {int(self._state.meta[s.M_N_BOOKS])} books, {self.live_orders} resting orders, "
            f"next seq {self.next_seq}, stp={self.stp}>"
        )
