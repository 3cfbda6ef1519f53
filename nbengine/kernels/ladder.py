"""Price levels: FIFO links, best-price upkeep, ladder placement and arena compaction.

A book's ladder is the column range ``levels[:, off:off + n]`` of the level arena, index
``i`` holding price ``base + i``; its bitset is ``bits[boff:boff + bitset_words(n)]``.
Ladders are placed by a bump allocator; a ladder that must move (the price span grew or
drifted) is copied to fresh space, and the space it left is reclaimed by
:func:`compact_arenas` when the arena is next grown.
"""

from .._jit import kernel
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

SPAN_EXCEEDED = -1
"""``fit_price`` result: the price breaks the span rule."""


@kernel
def push_back(st, book, idx, slot):
    """Append resting order ``slot`` (qty and side set) to level ``idx`` of ``book``."""
    books, levels, pool = st.books, st.levels, st.pool
    col = books[B_LEVEL_OFF, book] + idx
    tail = levels[L_TAIL, col]
    pool[P_PREV, slot] = tail
    pool[P_NEXT, slot] = -1
    if tail < 0:
        levels[L_HEAD, col] = slot
        bit_set(st.bits, books[B_BITS_OFF, book], books[B_LEN, book], idx)
    else:
        pool[P_NEXT, tail] = slot
    levels[L_TAIL, col] = slot
    levels[L_QTY, col] += pool[P_QTY, slot]
    levels[L_COUNT, col] += 1
    if pool[P_SIDE, slot] == BUY:
        books[B_N_BID, book] += 1
        if books[B_BEST_BID, book] < idx:
            books[B_BEST_BID, book] = idx
    else:
        books[B_N_ASK, book] += 1
        best = books[B_BEST_ASK, book]
        if best < 0 or idx < best:
            books[B_BEST_ASK, book] = idx


@kernel
def unlink(st, book, idx, slot):
    """Take resting order ``slot`` off level ``idx`` of ``book``; keep best prices right."""
    books, levels, pool = st.books, st.levels, st.pool
    col = books[B_LEVEL_OFF, book] + idx
    prev = pool[P_PREV, slot]
    nxt = pool[P_NEXT, slot]
    if prev < 0:
        levels[L_HEAD, col] = nxt
    else:
        pool[P_NEXT, prev] = nxt
    if nxt < 0:
        levels[L_TAIL, col] = prev
    else:
        pool[P_PREV, nxt] = prev
    levels[L_QTY, col] -= pool[P_QTY, slot]
    levels[L_COUNT, col] -= 1
    is_bid = pool[P_SIDE, slot] == BUY
    if is_bid:
        books[B_N_BID, book] -= 1
    else:
        books[B_N_ASK, book] -= 1
    if levels[L_COUNT, col] > 0:
        return
    n = books[B_LEN, book]
    boff = books[B_BITS_OFF, book]
    bit_clear(st.bits, boff, n, idx)
    if is_bid:
        if books[B_BEST_BID, book] == idx:
            books[B_BEST_BID, book] = prev_set(st.bits, boff, n, idx - 1)
    elif books[B_BEST_ASK, book] == idx:
        books[B_BEST_ASK, book] = next_set(st.bits, boff, n, idx + 1)


@kernel
def _clear_region(levels, bits, off, n, boff):
    for i in range(off, off + n):
        levels[L_QTY, i] = 0
        levels[L_COUNT, i] = 0
        levels[L_HEAD, i] = -1
        levels[L_TAIL, i] = -1
    for w in range(boff, boff + bitset_words(n)):
        bits[w] = 0


@kernel
def fit_price(st, book, price):
    """Ladder index of ``price`` in ``book``, moving or growing the ladder if needed.

    Returns ``(OK, index)``, ``(OK, SPAN_EXCEEDED)`` when the price breaks the span rule
    of docs/semantics.md, or ``(NEED_ARENA, -1)`` with ``meta[M_NEED]`` = the levels the
    move needs; nothing observable changes in the last two cases.
    """
    meta, books = st.meta, st.books
    n = books[B_LEN, book]
    base = books[B_BASE, book]
    if n > 0 and base <= price < base + n:
        return OK, price - base
    boff = books[B_BITS_OFF, book]
    resting = books[B_N_BID, book] + books[B_N_ASK, book]
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
        books[B_BASE, book] = new_base
        return OK, price - new_base
    new_off = meta[M_LEVELS_USED]
    new_boff = meta[M_BITS_USED]
    if new_off + new_n > st.levels.shape[1] or new_boff + bitset_words(new_n) > st.bits.shape[0]:
        meta[M_NEED] = new_n
        return NEED_ARENA, -1
    meta[M_LEVELS_USED] = new_off + new_n
    meta[M_BITS_USED] = new_boff + bitset_words(new_n)
    _clear_region(st.levels, st.bits, new_off, new_n, new_boff)
    shift = base - new_base
    if resting > 0:
        off = books[B_LEVEL_OFF, book]
        i = next_set(st.bits, boff, n, 0)
        while i >= 0:
            for f in range(L_FIELDS):
                st.levels[f, new_off + i + shift] = st.levels[f, off + i]
            bit_set(st.bits, new_boff, new_n, i + shift)
            i = next_set(st.bits, boff, n, i + 1)
    for f in (B_BEST_BID, B_BEST_ASK):
        if books[f, book] >= 0:
            books[f, book] += shift
    books[B_BASE, book] = new_base
    books[B_LEN, book] = new_n
    books[B_LEVEL_OFF, book] = new_off
    books[B_BITS_OFF, book] = new_boff
    return OK, price - new_base


@kernel
def compact_arenas(meta, books, levels, bits, new_levels, new_bits):
    """Copy every book's ladder and bitset into fresh arenas, dropping abandoned space."""
    level_used = 0
    bits_used = 0
    for book in range(meta[M_N_BOOKS]):
        n = books[B_LEN, book]
        if n == 0:
            continue
        off = books[B_LEVEL_OFF, book]
        boff = books[B_BITS_OFF, book]
        words = bitset_words(n)
        new_levels[:, level_used : level_used + n] = levels[:, off : off + n]
        new_bits[bits_used : bits_used + words] = bits[boff : boff + words]
        books[B_LEVEL_OFF, book] = level_used
        books[B_BITS_OFF, book] = bits_used
        level_used += n
        bits_used += words
    meta[M_LEVELS_USED] = level_used
    meta[M_BITS_USED] = bits_used
