"""Price levels: FIFO links, best-price upkeep, ladder placement and arena compaction.

A book's ladder is the row range ``levels[off:off + n]`` of the level arena, index
``i`` holding price ``base + i``; its bitset is ``bits[boff:boff + bitset_words(n)]``.
Ladders are placed by a bump allocator; a ladder that must move (the price span grew or
drifted) is copied to fresh space, and the space it left is reclaimed by
:func:`compact_arenas` when the arena is next grown.
"""

from .._jit import hot_kernel, kernel
from ..codes import BUY
from ..state import (
    B_BASE,
    B_BEST_ASK,
    B_BEST_BID,
    B_BITS_OFF,
    B_LEN,
    B_LEVEL_OFF,
    B_N_ASK,
    B_N_BID,
    B_QTY_ASK,
    B_QTY_BID,
    L_COUNT,
    L_FIELDS,
    L_HEAD,
    L_QTY,
    L_TAIL,
    M_BITS_USED,
    M_LEVELS_USED,
    M_MAX_SPAN,
    M_NEED,
    M_N_BOOKS,
    MIN_LADDER,
    NEED_ARENA,
    OK,
    P_NEXT,
    P_PREV,
    P_QTY,
    P_SIDE,
)
from .bitset import bit_clear, bit_set, bitset_words, next_set, prev_set

__all__ = [
    "SPAN_EXCEEDED",
    "push_back",
    "unlink",
    "fit_price",
    "compact_arenas",
]


SPAN_EXCEEDED = -1
"""``fit_price`` result: the price breaks the span rule."""


@hot_kernel
def push_back(st, book, idx, slot):
    """Append resting order ``slot`` (qty and side set) to level ``idx`` of ``book``."""
    books, levels, pool = st.books, st.levels, st.pool
    col = books[book, B_LEVEL_OFF] + idx
    tail = levels[col, L_TAIL]
    pool[slot, P_PREV] = tail
    pool[slot, P_NEXT] = -1
    if tail < 0:
        levels[col, L_HEAD] = slot
        bit_set(st.bits, books[book, B_BITS_OFF], books[book, B_LEN], idx)
    else:
        pool[tail, P_NEXT] = slot
    levels[col, L_TAIL] = slot
    levels[col, L_QTY] += pool[slot, P_QTY]
    levels[col, L_COUNT] += 1
    if pool[slot, P_SIDE] == BUY:
        books[book, B_N_BID] += 1
        books[book, B_QTY_BID] += pool[slot, P_QTY]
        if books[book, B_BEST_BID] < idx:
            books[book, B_BEST_BID] = idx
    else:
        books[book, B_N_ASK] += 1
        books[book, B_QTY_ASK] += pool[slot, P_QTY]
        best = books[book, B_BEST_ASK]
        if best < 0 or idx < best:
            books[book, B_BEST_ASK] = idx


@hot_kernel
def unlink(st, book, idx, slot):
    """Take resting order ``slot`` off level ``idx`` of ``book``; keep best prices right."""
    books, levels, pool = st.books, st.levels, st.pool
    col = books[book, B_LEVEL_OFF] + idx
    prev = pool[slot, P_PREV]
    nxt = pool[slot, P_NEXT]
    if prev < 0:
        levels[col, L_HEAD] = nxt
    else:
        pool[prev, P_NEXT] = nxt
    if nxt < 0:
        levels[col, L_TAIL] = prev
    else:
        pool[nxt, P_PREV] = prev
    levels[col, L_QTY] -= pool[slot, P_QTY]
    levels[col, L_COUNT] -= 1
    is_bid = pool[slot, P_SIDE] == BUY
    if is_bid:
        books[book, B_N_BID] -= 1
        books[book, B_QTY_BID] -= pool[slot, P_QTY]
    else:
        books[book, B_N_ASK] -= 1
        books[book, B_QTY_ASK] -= pool[slot, P_QTY]
    if levels[col, L_COUNT] > 0:
        return
    n = books[book, B_LEN]
    boff = books[book, B_BITS_OFF]
    bit_clear(st.bits, boff, n, idx)
    if is_bid:
        if books[book, B_BEST_BID] == idx:
            books[book, B_BEST_BID] = prev_set(st.bits, boff, n, idx - 1)
    elif books[book, B_BEST_ASK] == idx:
        books[book, B_BEST_ASK] = next_set(st.bits, boff, n, idx + 1)


@kernel
def _clear_region(levels, bits, off, n, boff):
    for i in range(off, off + n):
        levels[i, L_QTY] = 0
        levels[i, L_COUNT] = 0
        levels[i, L_HEAD] = -1
        levels[i, L_TAIL] = -1
    for w in range(boff, boff + bitset_words(n)):
        bits[w] = 0


@hot_kernel
def fit_price(st, book, price):
    """Ladder index of ``price`` in ``book``, moving or growing the ladder if needed.

    Returns ``(OK, index)``, ``(OK, SPAN_EXCEEDED)`` when the price breaks the span rule
    of docs/semantics.md, or ``(NEED_ARENA, -1)`` with ``meta[M_NEED]`` = the levels the
    move needs; nothing observable changes in the last two cases.
    """
    n = st.books[book, B_LEN]
    base = st.books[book, B_BASE]
    if n > 0 and base <= price < base + n:
        return OK, price - base
    return _move_ladder(st, book, price)


@kernel
def _move_ladder(st, book, price):
    """The cold path of ``fit_price``: place the ladder so that it holds ``price`` too."""
    meta, books = st.meta, st.books
    n = books[book, B_LEN]
    base = books[book, B_BASE]
    boff = books[book, B_BITS_OFF]
    resting = books[book, B_N_BID] + books[book, B_N_ASK]
    low = price
    high = price
    if resting > 0:
        low = min(low, base + next_set(st.bits, boff, n, 0))
        high = max(high, base + prev_set(st.bits, boff, n, n - 1))
    needed = high - low + 1
    max_span = meta[M_MAX_SPAN]
    if needed > max_span:
        return OK, SPAN_EXCEEDED
    new_n = n if n > 0 else min(MIN_LADDER, max_span)
    while new_n < 2 * needed and new_n < max_span:
        new_n *= 2
    new_base = low - (new_n - needed) // 2
    if resting == 0 and new_n == n:
        books[book, B_BASE] = new_base
        return OK, price - new_base
    new_off = meta[M_LEVELS_USED]
    new_boff = meta[M_BITS_USED]
    if new_off + new_n > st.levels.shape[0] or new_boff + bitset_words(new_n) > st.bits.shape[0]:
        meta[M_NEED] = new_n
        return NEED_ARENA, -1
    meta[M_LEVELS_USED] = new_off + new_n
    meta[M_BITS_USED] = new_boff + bitset_words(new_n)
    _clear_region(st.levels, st.bits, new_off, new_n, new_boff)
    shift = base - new_base
    if resting > 0:
        off = books[book, B_LEVEL_OFF]
        i = next_set(st.bits, boff, n, 0)
        while i >= 0:
            for f in range(L_FIELDS):
                st.levels[new_off + i + shift, f] = st.levels[off + i, f]
            bit_set(st.bits, new_boff, new_n, i + shift)
            i = next_set(st.bits, boff, n, i + 1)
    for f in (B_BEST_BID, B_BEST_ASK):
        if books[book, f] >= 0:
            books[book, f] += shift
    books[book, B_BASE] = new_base
    books[book, B_LEN] = new_n
    books[book, B_LEVEL_OFF] = new_off
    books[book, B_BITS_OFF] = new_boff
    return OK, price - new_base


@kernel
def compact_arenas(meta, books, levels, bits, new_levels, new_bits):
    """Copy every book's ladder and bitset into fresh arenas, dropping abandoned space."""
    level_used = 0
    bits_used = 0
    for book in range(meta[M_N_BOOKS]):
        n = books[book, B_LEN]
        if n == 0:
            continue
        off = books[book, B_LEVEL_OFF]
        boff = books[book, B_BITS_OFF]
        words = bitset_words(n)
        for i in range(n):
            for f in range(L_FIELDS):
                new_levels[level_used + i, f] = levels[off + i, f]
        for w in range(words):
            new_bits[bits_used + w] = bits[boff + w]
        books[book, B_LEVEL_OFF] = level_used
        books[book, B_BITS_OFF] = bits_used
        level_used += n
        bits_used += words
    meta[M_LEVELS_USED] = level_used
    meta[M_BITS_USED] = bits_used
