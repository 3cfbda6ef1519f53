"""Book state: a NamedTuple of numpy arrays, its field indices, allocation and checks.

Every array is int64 except the book hash table (int32 book numbers). Two-dimensional
arrays hold one record per row: ``pool[slot, P_QTY]`` is an order's remaining quantity and
an order's fields share one cache line, because the matching loop visits orders, levels
and books at random and reads several fields of each. Output buffers are laid out the same
way so that appending a trade or an event writes one line. Kernels receive the NamedTuple;
nothing here is per order.

Layout
------
meta : int64[M_FIELDS]
    Counters and options (``M_*`` indices).
books : int64[book_capacity, B_FIELDS]
    One row per book (``B_*``): its symbol, its ladder's base price, length and arena
    offsets, best bid / ask ladder indices (-1 when empty), order counts and resting
    quantity totals per side (each at most ``codes.MAX_QTY``).
book_index : int32[power of two >= 2 * book_capacity, plus 1]
    Open-addressing table of book numbers keyed by symbol (-1 = empty); the last entry
    is the table's random hash key (``kernels.hashindex``).
levels : int64[level_capacity, L_FIELDS]
    The arena of dense price ladders. A book's ladder is ``levels[off:off + length]``;
    index ``i`` holds price ``base + i``: total qty, order count, FIFO head and tail slot.
bits : int64[bit_capacity]
    The arena of three-level bitsets, one per ladder, marking non-empty levels: level 0
    has a bit per price level, level 1 a bit per level-0 word, level 2 a bit per level-1
    word. Finding the next non-empty level reads at most one word per level plus the
    top level, whose length is bounded by the ladder cap (never by the price span).
pool : int64[pool_capacity, P_FIELDS]
    Resting orders; ``P_NEXT`` / ``P_PREV`` link each level's FIFO (and the free list).
order_index : int64[power of two >= 2 * pool_capacity, plus 1]
    Open-addressing table of pool slots keyed by (book, order_id): ``slot << 32 | hash``
    (-1 = empty); the last entry is the table's random hash key.

The scalar path (``Engine.submit_one``) writes into a ``ScalarOutputs`` block instead of
``Outputs``: trade and event rows appended call after call, and ``calls``, an int64 array
whose first ``C_HEADER`` entries carry the next order in (``C_TS`` … ``C_ACCOUNT``) and the
block's counts (``C_N_CALLS``, ``C_N_TRADES``, ``C_N_EVENTS``), followed by one record of
``C_STRIDE`` entries per call: its trade rows ``[C_T0, C_T1)``, event rows ``[C_E0, C_E1)``
and input seq ``C_SEQ``. A block is never overwritten: when it is full a new one is
allocated, so a call's result stays a view of the block it was written to.
"""

import secrets
from typing import NamedTuple

import numpy as np

from .codes import MAX_QTY

__all__ = [
    "M_TRADE_SEQ",
    "M_EVENT_SEQ",
    "M_INPUT_SEQ",
    "M_FREE_HEAD",
    "M_POOL_HWM",
    "M_N_BOOKS",
    "M_LEVELS_USED",
    "M_BITS_USED",
    "M_STP",
    "M_MAX_SPAN",
    "M_MAX_PRICE",
    "M_N_TRADES",
    "M_N_EVENTS",
    "M_NEED",
    "M_LIVE_ORDERS",
    "M_FIELDS",
    "B_SYMBOL",
    "B_BASE",
    "B_LEN",
    "B_LEVEL_OFF",
    "B_BITS_OFF",
    "B_BEST_BID",
    "B_BEST_ASK",
    "B_N_BID",
    "B_N_ASK",
    "B_QTY_BID",
    "B_QTY_ASK",
    "B_FIELDS",
    "L_QTY",
    "L_COUNT",
    "L_HEAD",
    "L_TAIL",
    "L_FIELDS",
    "P_ID",
    "P_QTY",
    "P_PRICE",
    "P_ACCOUNT",
    "P_TS",
    "P_NEXT",
    "P_PREV",
    "P_BOOK",
    "P_SIDE",
    "P_FIELDS",
    "T_SEQ",
    "T_TS",
    "T_SYMBOL",
    "T_PRICE",
    "T_QTY",
    "T_TAKER_ID",
    "T_MAKER_ID",
    "T_TAKER_SIDE",
    "T_TAKER_ACCOUNT",
    "T_MAKER_ACCOUNT",
    "T_FIELDS",
    "E_SEQ",
    "E_TS",
    "E_SYMBOL",
    "E_ORDER_ID",
    "E_EVENT",
    "E_REASON",
    "E_PRICE",
    "E_LEAVES",
    "E_FIELDS",
    "C_TS",
    "C_ORDER_ID",
    "C_SYMBOL",
    "C_SIDE",
    "C_KIND",
    "C_TIF",
    "C_PRICE",
    "C_QTY",
    "C_ACCOUNT",
    "C_N_CALLS",
    "C_N_TRADES",
    "C_N_EVENTS",
    "C_HEADER",
    "C_T0",
    "C_T1",
    "C_E0",
    "C_E1",
    "C_SEQ",
    "C_STRIDE",
    "OK",
    "NEED_POOL",
    "NEED_BOOKS",
    "NEED_ARENA",
    "NEED_OUTPUT",
    "BAD_VALUE",
    "MIN_LADDER",
    "MAX_LADDER_CAP",
    "DEFAULT_MEMORY_BUDGET",
    "BookState",
    "ORDER_DTYPES",
    "OrderColumns",
    "Outputs",
    "ScalarOutputs",
    "bitset_words",
    "empty_table",
    "table_key",
    "new_state",
    "new_levels",
    "new_outputs",
    "new_scalar_outputs",
    "new_ring",
    "grown",
    "nbytes",
    "check_invariants",
]


# meta
M_TRADE_SEQ = 0
M_EVENT_SEQ = 1
M_INPUT_SEQ = 2
M_FREE_HEAD = 3
M_POOL_HWM = 4
M_N_BOOKS = 5
M_LEVELS_USED = 6
M_BITS_USED = 7
M_STP = 8
M_MAX_SPAN = 9
M_MAX_PRICE = 10
M_N_TRADES = 11
M_N_EVENTS = 12
M_NEED = 13
M_LIVE_ORDERS = 14
M_FIELDS = 15

# books
B_SYMBOL = 0
B_BASE = 1
B_LEN = 2
B_LEVEL_OFF = 3
B_BITS_OFF = 4
B_BEST_BID = 5
B_BEST_ASK = 6
B_N_BID = 7
B_N_ASK = 8
B_QTY_BID = 9
B_QTY_ASK = 10
B_FIELDS = 11

# levels
L_QTY = 0
L_COUNT = 1
L_HEAD = 2
L_TAIL = 3
L_FIELDS = 4

# pool
P_ID = 0
P_QTY = 1
P_PRICE = 2
P_ACCOUNT = 3
P_TS = 4
P_NEXT = 5
P_PREV = 6
P_BOOK = 7
P_SIDE = 8
P_FIELDS = 9

# trades buffer rows, in the order of the trades schema
T_SEQ = 0
T_TS = 1
T_SYMBOL = 2
T_PRICE = 3
T_QTY = 4
T_TAKER_ID = 5
T_MAKER_ID = 6
T_TAKER_SIDE = 7
T_TAKER_ACCOUNT = 8
T_MAKER_ACCOUNT = 9
T_FIELDS = 10

# events buffer rows, in the order of the events schema
E_SEQ = 0
E_TS = 1
E_SYMBOL = 2
E_ORDER_ID = 3
E_EVENT = 4
E_REASON = 5
E_PRICE = 6
E_LEAVES = 7
E_FIELDS = 8

# scalar-path call records: the header (the next order, in OrderColumns order, and the counts)
C_TS = 0
C_ORDER_ID = 1
C_SYMBOL = 2
C_SIDE = 3
C_KIND = 4
C_TIF = 5
C_PRICE = 6
C_QTY = 7
C_ACCOUNT = 8
C_N_CALLS = 9
C_N_TRADES = 10
C_N_EVENTS = 11
C_HEADER = 16
# ... then one record per call
C_T0 = 0
C_T1 = 1
C_E0 = 2
C_E1 = 3
C_SEQ = 4
C_STRIDE = 8

# kernel status codes
OK = 0
NEED_POOL = 1
NEED_BOOKS = 2
NEED_ARENA = 3
NEED_OUTPUT = 4
BAD_VALUE = 5
"""A scalar row holds a value outside its column's dtype (nothing changed; the caller raises)."""
RING_FULL = 6
"""The WAL ring has no free slot (nothing changed; the caller waits for the writer and calls again)."""
WAKE_WRITER = 7
"""The row was processed and logged (as ``OK``), and the WAL writer sleeps: the caller wakes it."""

# WAL ring (``new_ring``): the single-producer/single-consumer hand-off of single orders
# from the matching kernel to the WAL writer thread. ``ring[slot]`` holds one logged
# order: its nine values in ``OrderColumns`` order (int64) and its input seq (R_SEQ);
# entry number n (counting from 0 since the ring was made) lives in slot n % capacity.
# ``ring_ctl`` holds the counters:
R_SEQ = 9
R_FIELDS = 10
Q_HEAD = 0
"""Entries appended so far (written only by the producer, after the entry's slot)."""
Q_TAIL = 1
"""Entries the writer has made durable and freed (written only by the writer thread)."""
Q_END_SEQ = 2
"""Input seq after the last appended entry (producer)."""
Q_DURABLE = 3
"""The durable watermark: every order of input seq below it is durable (writer thread)."""
Q_IDLE = 4
"""How the writer thread sleeps for want of work, so that the producer wakes it: 0 it does not,
``IDLE_PYTHON`` on its condition (the kernel returns ``WAKE_WRITER``), ``IDLE_FUTEX`` on ``Q_HEAD``'s
futex (the kernel wakes it itself)."""
Q_ATTN = 5
"""1 asks the writer thread's GIL-free loop to return to Python: a frame or rotation was queued, or close."""
Q_NOTICE = 6
"""Bumped after each durable write and when the writer fails or closes: the futex word callers wait on."""
Q_ERROR = 7
"""The ``errno`` of the write or sync that poisoned the writer (-1 for another failure), 0 before."""
Q_SYNCS = 8
"""Durable writes made so far (each one write + sync)."""
Q_FIELDS = 16
IDLE_PYTHON = 1
IDLE_FUTEX = 2

MIN_LADDER = 256
"""Length of a book's first ladder (levels)."""

MAX_LADDER_CAP = 1 << 24
"""Largest ``max_span_ticks`` accepted (a 512 MiB ladder)."""

DEFAULT_MEMORY_BUDGET = 4 << 30
"""Default ``Engine(memory_budget=...)``: 4 GiB of book state."""


class BookState(NamedTuple):
    """Every book of an engine, as arrays (see the module docstring)."""

    meta: np.ndarray
    books: np.ndarray
    book_index: np.ndarray
    levels: np.ndarray
    bits: np.ndarray
    pool: np.ndarray
    order_index: np.ndarray


ORDER_DTYPES = {
    "ts": np.dtype(np.int64),
    "order_id": np.dtype(np.int64),
    "symbol": np.dtype(np.int32),
    "side": np.dtype(np.int8),
    "kind": np.dtype(np.int8),
    "tif": np.dtype(np.int8),
    "price": np.dtype(np.int64),
    "qty": np.dtype(np.int64),
    "account": np.dtype(np.int64),
}
"""Column dtypes of the order contract (DESIGN §2), in ``OrderColumns`` order."""


class OrderColumns(NamedTuple):
    """One batch of orders as equal-length read-only arrays, in the dtypes of ``ORDER_DTYPES``."""

    ts: np.ndarray
    order_id: np.ndarray
    symbol: np.ndarray
    side: np.ndarray
    kind: np.ndarray
    tif: np.ndarray
    price: np.ndarray
    qty: np.ndarray
    account: np.ndarray


class Outputs(NamedTuple):
    """Preallocated output rows (``T_*`` / ``E_*`` columns); ``meta[M_N_TRADES]`` /
    ``meta[M_N_EVENTS]`` count the rows in use."""

    trades: np.ndarray
    events: np.ndarray


class ScalarOutputs(NamedTuple):
    """Output rows of the scalar path, appended call after call, and its call records (module docstring)."""

    trades: np.ndarray
    events: np.ndarray
    calls: np.ndarray


def new_ring(capacity, next_seq):
    """A WAL ring of ``capacity`` entries and its counters, empty, with the next entry's seq ``next_seq``.

    Returns ``(ring, ring_ctl)``: int64 arrays of shape ``(capacity, R_FIELDS)`` and
    ``(Q_FIELDS,)`` (layout above). ``capacity * R_FIELDS * 8`` bytes: 5 MiB for 65,536.
    """
    ring = np.zeros((int(capacity), R_FIELDS), dtype=np.int64)
    ctl = np.zeros(Q_FIELDS, dtype=np.int64)
    ctl[Q_END_SEQ] = next_seq
    ctl[Q_DURABLE] = next_seq
    return ring, ctl


def bitset_words(ladder_len):
    """Words of the three-level bitset of a ladder of ``ladder_len`` levels (a power of two >= 64)."""
    return ladder_len // 64 + max(1, ladder_len // 4096) + max(1, ladder_len // 262144)


def empty_table(capacity, dtype=np.int32, key=None):
    """An empty hash table (all -1) for up to ``capacity`` entries, its hash key last.

    ``key`` is the table's hash key (``kernels.hashindex``), random when None; a grown
    table may keep its predecessor's (``table_key``) or take a new one.
    """
    size = 1
    while size < 2 * capacity:
        size *= 2
    table = np.full(size + 1, -1, dtype=dtype)
    info = np.iinfo(dtype)
    table[size] = secrets.randbelow(int(info.max) - int(info.min) + 1) + int(info.min) if key is None else key
    return table


def table_key(table):
    """The hash key stored in the last entry of a hash table."""
    return int(table[-1])


def new_state(*, stp, max_span_ticks, max_price_ticks, pool_capacity=1024, book_capacity=8):
    """Allocate an empty state.

    Parameters
    ----------
    stp : int
        A ``codes.STP_*`` mode.
    max_span_ticks : int
        Power of two in [64, 2**24]: the widest price span one book may hold.
    max_price_ticks : int
        Highest valid limit price.
    """
    meta = np.zeros(M_FIELDS, dtype=np.int64)
    meta[M_FREE_HEAD] = -1
    meta[M_STP] = stp
    meta[M_MAX_SPAN] = max_span_ticks
    meta[M_MAX_PRICE] = max_price_ticks
    level_capacity = MIN_LADDER * book_capacity
    return BookState(
        meta=meta,
        books=np.zeros((book_capacity, B_FIELDS), dtype=np.int64),
        book_index=empty_table(book_capacity),
        levels=new_levels(level_capacity),
        bits=np.zeros(bitset_words(MIN_LADDER) * book_capacity, dtype=np.int64),
        pool=np.zeros((pool_capacity, P_FIELDS), dtype=np.int64),
        order_index=empty_table(pool_capacity, np.int64),
    )


def new_levels(capacity):
    """An empty level arena of ``capacity`` levels."""
    levels = np.zeros((capacity, L_FIELDS), dtype=np.int64)
    levels[:, L_HEAD] = -1
    levels[:, L_TAIL] = -1
    return levels


def new_outputs(trade_capacity, event_capacity):
    """Allocate output buffers."""
    return Outputs(
        trades=np.zeros((trade_capacity, T_FIELDS), dtype=np.int64),
        events=np.zeros((event_capacity, E_FIELDS), dtype=np.int64),
    )


def new_scalar_outputs(calls, trade_capacity, event_capacity):
    """Allocate a ``ScalarOutputs`` block for ``calls`` calls, its counts at zero."""
    return ScalarOutputs(
        trades=np.zeros((trade_capacity, T_FIELDS), dtype=np.int64),
        events=np.zeros((event_capacity, E_FIELDS), dtype=np.int64),
        calls=np.zeros(C_HEADER + calls * C_STRIDE, dtype=np.int64),
    )


def grown(array, capacity, fill=0):
    """``array`` with its first axis grown to ``capacity`` rows, new cells set to ``fill``."""
    out = np.full((capacity,) + array.shape[1:], fill, dtype=array.dtype)
    out[: array.shape[0]] = array
    return out


def nbytes(state):
    """Total bytes held by the state's arrays."""
    return sum(a.nbytes for a in state)


def _bit(words, i):
    return (int(words[i >> 6]) >> (i & 63)) & 1


def check_invariants(st):
    """Check the state's invariants in plain Python; raise AssertionError on the first broken one
    (explicitly, so the checks survive ``python -O``; tests call it after every batch).

    Checked: every level's FIFO links, totals and counts; one side and price per level;
    the three bitset levels agree with the levels; best prices are the extreme non-empty
    levels and the book is not crossed; per-side counts; the id index finds every live
    order; the free list and the live count.
    """
    meta, books, levels, bits, pool, order_index = (
        st.meta, st.books, st.levels, st.bits, st.pool, st.order_index,
    )
    indexed = {int(entry) >> 32 for entry in order_index[:-1] if entry >= 0}
    resting = set()
    for book in range(int(meta[M_N_BOOKS])):
        n = int(books[book, B_LEN])
        if n == 0:
            if not (books[book, B_N_BID] == 0 and books[book, B_N_ASK] == 0):
                raise AssertionError(f"book {book}: orders without ladder")
            continue
        off, boff, base = int(books[book, B_LEVEL_OFF]), int(books[book, B_BITS_OFF]), int(books[book, B_BASE])
        words0, words1 = n // 64, max(1, n // 4096)
        level0 = bits[boff : boff + words0]
        level1 = bits[boff + words0 : boff + words0 + words1]
        level2 = bits[boff + words0 + words1 : boff + bitset_words(n)]
        sides = {1: [], -1: []}
        for i in range(n):
            count = int(levels[off + i, L_COUNT])
            if not (_bit(level0, i) == (count > 0)):
                raise AssertionError(f"book {book} level {i}: bit disagrees with count {count}")
            if count == 0:
                if not (levels[off + i, L_HEAD] == -1 and levels[off + i, L_QTY] == 0):
                    raise AssertionError(f"book {book} level {i}: empty but linked")
                continue
            slot, prev, seen, total = int(levels[off + i, L_HEAD]), -1, 0, 0
            level_side = int(pool[slot, P_SIDE])
            while slot >= 0:
                if not (pool[slot, P_PREV] == prev):
                    raise AssertionError(f"book {book} level {i}: broken prev link at slot {slot}")
                if not (pool[slot, P_PRICE] == base + i and pool[slot, P_BOOK] == book):
                    raise AssertionError(f"slot {slot}: wrong level")
                if not (pool[slot, P_SIDE] == level_side):
                    raise AssertionError(f"book {book} level {i}: mixed sides")
                if not (pool[slot, P_QTY] > 0):
                    raise AssertionError(f"slot {slot}: resting with qty {pool[slot, P_QTY]}")
                resting.add(slot)
                total += int(pool[slot, P_QTY])
                seen += 1
                prev, slot = slot, int(pool[slot, P_NEXT])
            if not (levels[off + i, L_TAIL] == prev):
                raise AssertionError(f"book {book} level {i}: tail is not the last order")
            if not (seen == count and total == levels[off + i, L_QTY]):
                raise AssertionError(f"book {book} level {i}: totals disagree")
            sides[level_side].append(i)
        for j in range(words0):
            if not (_bit(level1, j) == (level0[j] != 0)):
                raise AssertionError(f"book {book}: level-1 bit {j} stale")
        for k in range(words1):
            if not (_bit(level2, k) == (level1[k] != 0)):
                raise AssertionError(f"book {book}: level-2 bit {k} stale")
        best_bid = max(sides[1], default=-1)
        best_ask = min(sides[-1], default=-1)
        if not (books[book, B_BEST_BID] == best_bid):
            raise AssertionError(f"book {book}: best bid {books[book, B_BEST_BID]} != {best_bid}")
        if not (books[book, B_BEST_ASK] == best_ask):
            raise AssertionError(f"book {book}: best ask {books[book, B_BEST_ASK]} != {best_ask}")
        if not (not sides[1] or not sides[-1] or best_bid < best_ask):
            raise AssertionError(f"book {book}: crossed")
        for side, field, qty_field in ((1, B_N_BID, B_QTY_BID), (-1, B_N_ASK, B_QTY_ASK)):
            orders = sum(int(levels[off + i, L_COUNT]) for i in sides[side])
            if not (books[book, field] == orders):
                raise AssertionError(f"book {book}: side {side} count {books[book, field]} != {orders}")
            total = sum(int(levels[off + i, L_QTY]) for i in sides[side])
            if not (books[book, qty_field] == total <= MAX_QTY):
                raise AssertionError(f"book {book}: side {side} total {books[book, qty_field]} != {total}")
    if not (indexed == resting):
        raise AssertionError("order index and resting orders disagree")
    if not (meta[M_LIVE_ORDERS] == len(resting)):
        raise AssertionError("live order count is wrong")
    free, slot = set(), int(meta[M_FREE_HEAD])
    while slot >= 0:
        if not (slot not in free and slot not in resting):
            raise AssertionError(f"free list revisits slot {slot}")
        free.add(slot)
        slot = int(pool[slot, P_NEXT])
    if not (len(free) + len(resting) == meta[M_POOL_HWM]):
        raise AssertionError("pool slots leaked")
