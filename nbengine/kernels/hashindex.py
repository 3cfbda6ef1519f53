"""Open-addressing hash tables in integer arrays (linear probing, backward-shift delete).

Both tables are keyed by values a client chooses (symbols, order ids), so their hash is
keyed too: the last entry of each table holds a random per-engine key that is mixed into
every hash, so a client who does not know the key cannot choose ids that share a probe
sequence (hash flooding). A table of ``2**k + 1`` entries therefore has ``2**k`` buckets
(``mask = len - 2``) and its key at index ``2**k``; ``state.empty_table`` builds one.
Where an entry lands depends on the key, what a lookup finds never does, so outputs and
``state_hash`` are the same under every key.

The book table holds int32 book numbers (-1 = empty); keys are read back from ``books``.
The order table holds int64 entries ``slot << 32 | h`` where ``h`` is the low 32 bits of
the key's hash: a probe compares ``h`` first and reads the pool only on a match, and a
deletion finds each entry's home without reading the pool (8 bytes per entry). The
bucket count is a power of two at least twice the number of entries, so probes stay short.

The mix is splitmix64's finalizer over ``(a ^ key) + b * golden``: a bijection with full
avalanche, not a cryptographic PRF, but probe lengths no longer follow the ids' bit
patterns. Shifts are logical (masked), so the plain-Python run (``NUMBA_DISABLE_JIT=1``,
unbounded ints) keeps the same low 64 bits.
"""

import numpy as np

from .._jit import hot_kernel, kernel
from ..state import B_SYMBOL, P_BOOK, P_ID, P_QTY

__all__ = [
    "find_order",
    "insert_order",
    "delete_order",
    "rebuild_order_index",
    "find_book",
    "insert_book",
    "rebuild_book_index",
]


_GOLDEN = -7046029254386353131  # 0x9E3779B97F4A7C15 as int64
_MIX1 = -4658895280553007687  # 0xBF58476D1CE4E5B9 as int64
_MIX2 = -7723592293110705685  # 0x94D049BB133111EB as int64
_LOW30 = (1 << 34) - 1
_LOW27 = (1 << 37) - 1
_LOW31 = (1 << 33) - 1
_LOW32 = 0xFFFFFFFF


@hot_kernel
def _mix(a, b, key):
    """64 well-mixed bits of ``(a, b)`` under ``key`` (int64 arithmetic, wrapping)."""
    x = (int(a) ^ int(key)) + int(b) * _GOLDEN
    x ^= (x >> 30) & _LOW30
    x *= _MIX1
    x ^= (x >> 27) & _LOW27
    x *= _MIX2
    x ^= (x >> 31) & _LOW31
    return x


@hot_kernel
def _order_hash(order_index, order_id, book):
    return _mix(order_id, book, order_index[order_index.shape[0] - 1]) & _LOW32


@hot_kernel
def find_order(order_index, pool, book, order_id):
    """Pool slot of the live order ``order_id`` in ``book``, or -1."""
    mask = order_index.shape[0] - 2
    h = _order_hash(order_index, order_id, book)
    i = h & mask
    while True:
        entry = order_index[i]
        if entry < 0:
            return -1
        if entry & _LOW32 == h:
            slot = entry >> 32
            if pool[slot, P_ID] == order_id and pool[slot, P_BOOK] == book:
                return slot
        i = (i + 1) & mask


@hot_kernel
def insert_order(order_index, pool, slot):
    """Index pool ``slot`` (its id and book already written; the key is not present)."""
    mask = order_index.shape[0] - 2
    h = _order_hash(order_index, pool[slot, P_ID], pool[slot, P_BOOK])
    i = h & mask
    while order_index[i] >= 0:
        i = (i + 1) & mask
    order_index[i] = (np.int64(slot) << 32) | h


@hot_kernel
def delete_order(order_index, pool, slot):
    """Remove pool ``slot`` from the index (it must be present)."""
    mask = order_index.shape[0] - 2
    i = _order_hash(order_index, pool[slot, P_ID], pool[slot, P_BOOK]) & mask
    while order_index[i] >> 32 != slot:
        i = (i + 1) & mask
    j = i
    while True:
        j = (j + 1) & mask
        entry = order_index[j]
        if entry < 0:
            break
        if (j - (entry & mask)) & mask >= (j - i) & mask:
            order_index[i] = entry
            i = j
    order_index[i] = -1


@kernel
def rebuild_order_index(order_index, pool, hwm):
    """Fill an empty ``order_index`` with every live slot below ``hwm``."""
    for slot in range(hwm):
        if pool[slot, P_QTY] > 0:
            insert_order(order_index, pool, slot)


@hot_kernel
def _book_home(book_index, symbol, mask):
    return _mix(symbol, 0, book_index[book_index.shape[0] - 1]) & mask


@hot_kernel
def find_book(book_index, books, symbol):
    """Book number of ``symbol``, or -1."""
    mask = book_index.shape[0] - 2
    i = _book_home(book_index, symbol, mask)
    while True:
        book = book_index[i]
        if book < 0:
            return -1
        if books[book, B_SYMBOL] == symbol:
            return book
        i = (i + 1) & mask


@kernel
def insert_book(book_index, books, book):
    """Index ``book`` by its symbol (not present yet)."""
    mask = book_index.shape[0] - 2
    i = _book_home(book_index, books[book, B_SYMBOL], mask)
    while book_index[i] >= 0:
        i = (i + 1) & mask
    book_index[i] = book


@kernel
def rebuild_book_index(book_index, books, n_books):
    """Fill an empty ``book_index`` with books ``0 .. n_books - 1``."""
    for book in range(n_books):
        insert_book(book_index, books, book)
