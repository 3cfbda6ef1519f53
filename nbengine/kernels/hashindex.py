"""Open-addressing hash tables in int32 arrays (linear probing, backward-shift delete).

A table holds slot numbers (-1 = empty); keys are not stored but read back from the
arrays the slots point into, so a table costs 4 bytes per entry. The length of a table
is a power of two at least twice the number of entries, so probes stay short.
"""

import numpy as np

from .._jit import hot_kernel, kernel
from ..state import B_SYMBOL, P_BOOK, P_ID, P_QTY

_GOLDEN = -7046029254386353131  # 0x9E3779B97F4A7C15 as int64
_MIX = -4658895280553007687  # 0xBF58476D1CE4E5B9 as int64


@hot_kernel
def _home(key_a, key_b, mask):
    h = np.int64(key_a) * _GOLDEN + np.int64(key_b) * _MIX
    h ^= h >> 31
    return h & mask


@hot_kernel
def find_order(order_index, pool, book, order_id):
    """Pool slot of the live order ``order_id`` in ``book``, or -1."""
    mask = order_index.shape[0] - 1
    i = _home(order_id, book, mask)
    while True:
        slot = order_index[i]
        if slot < 0:
            return -1
        if pool[slot, P_ID] == order_id and pool[slot, P_BOOK] == book:
            return slot
        i = (i + 1) & mask


@hot_kernel
def insert_order(order_index, pool, slot):
    """Index pool ``slot`` (its id and book already written; the key is not present)."""
    mask = order_index.shape[0] - 1
    i = _home(pool[slot, P_ID], pool[slot, P_BOOK], mask)
    while order_index[i] >= 0:
        i = (i + 1) & mask
    order_index[i] = slot


@hot_kernel
def delete_order(order_index, pool, slot):
    """Remove pool ``slot`` from the index (it must be present)."""
    mask = order_index.shape[0] - 1
    i = _home(pool[slot, P_ID], pool[slot, P_BOOK], mask)
    while order_index[i] != slot:
        i = (i + 1) & mask
    j = i
    while True:
        j = (j + 1) & mask
        moved = order_index[j]
        if moved < 0:
            break
        home = _home(pool[moved, P_ID], pool[moved, P_BOOK], mask)
        if (j - home) & mask >= (j - i) & mask:
            order_index[i] = moved
            i = j
    order_index[i] = -1


@kernel
def rebuild_order_index(order_index, pool, hwm):
    """Fill an empty ``order_index`` with every live slot below ``hwm``."""
    for slot in range(hwm):
        if pool[slot, P_QTY] > 0:
            insert_order(order_index, pool, slot)


@hot_kernel
def find_book(book_index, books, symbol):
    """Book number of ``symbol``, or -1."""
    mask = book_index.shape[0] - 1
    i = _home(symbol, 0, mask)
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
    mask = book_index.shape[0] - 1
    i = _home(books[book, B_SYMBOL], 0, mask)
    while book_index[i] >= 0:
        i = (i + 1) & mask
    book_index[i] = book



@kernel
def rebuild_book_index(book_index, books, n_books):
    """Fill an empty ``book_index`` with books ``0 .. n_books - 1``."""
    for book in range(n_books):
        insert_book(book_index, books, book)
