"""Three-level bitsets over a ladder: which price levels are non-empty.

A ladder of ``n`` levels (a power of two >= 64) owns ``bits[off:off + bitset_words(n)]``:
level 0 (``n // 64`` words, bit ``i`` = level ``i`` non-empty), then level 1
(``max(1, n // 4096)`` words, bit ``j`` = level-0 word ``j`` non-zero), then level 2
(``max(1, n // 262144)`` words, bit ``k`` = level-1 word ``k`` non-zero). A search reads
one word per level and scans the top level, at most 64 words for the largest ladder.
"""

from .. import state
from .._jit import hot_kernel, kernel
from .bitops import bits_through, highest_bit, lowest_bit, single_bit

__all__ = [
    "bitset_words",
    "bit_set",
    "bit_clear",
    "next_set",
    "prev_set",
]


bitset_words = kernel(state.bitset_words)


@hot_kernel
def _level_offsets(off, n):
    words0 = n >> 6
    words1 = max(1, n >> 12)
    return off, off + words0, off + words0 + words1, words0, words1, max(1, n >> 18)


@hot_kernel
def bit_set(bits, off, n, i):
    """Mark level ``i`` non-empty."""
    off0, off1, off2, _, _, _ = _level_offsets(off, n)
    bits[off0 + (i >> 6)] |= single_bit(i & 63)
    bits[off1 + (i >> 12)] |= single_bit((i >> 6) & 63)
    bits[off2 + (i >> 18)] |= single_bit((i >> 12) & 63)


@hot_kernel
def bit_clear(bits, off, n, i):
    """Mark level ``i`` empty."""
    off0, off1, off2, _, _, _ = _level_offsets(off, n)
    w0 = off0 + (i >> 6)
    bits[w0] &= ~single_bit(i & 63)
    if bits[w0] != 0:
        return
    w1 = off1 + (i >> 12)
    bits[w1] &= ~single_bit((i >> 6) & 63)
    if bits[w1] != 0:
        return
    bits[off2 + (i >> 18)] &= ~single_bit((i >> 12) & 63)


@kernel
def _at_or_above(word, b):
    """Bits of ``word`` at positions >= b."""
    minus_one = -1
    return word & (minus_one << b)


@kernel
def _at_or_below(word, b):
    """Bits of ``word`` at positions <= b."""
    return word & bits_through(b)


@kernel
def next_set(bits, off, n, i):
    """Lowest non-empty level >= ``i``, or -1 (``i`` may be >= n)."""
    if i >= n:
        return -1
    i = max(i, 0)
    off0, off1, off2, words0, words1, words2 = _level_offsets(off, n)
    w = _at_or_above(bits[off0 + (i >> 6)], i & 63)
    if w != 0:
        return ((i >> 6) << 6) + lowest_bit(w)
    j = (i >> 6) + 1
    if j >= words0:
        return -1
    w = _at_or_above(bits[off1 + (j >> 6)], j & 63)
    if w == 0:
        k = (j >> 6) + 1
        if k >= words1:
            return -1
        w = _at_or_above(bits[off2 + (k >> 6)], k & 63)
        t = k >> 6
        while w == 0:
            t += 1
            if t >= words2:
                return -1
            w = bits[off2 + t]
        k = (t << 6) + lowest_bit(w)
        w = bits[off1 + k]
        j = k << 6
    j = ((j >> 6) << 6) + lowest_bit(w)
    return (j << 6) + lowest_bit(bits[off0 + j])


@kernel
def prev_set(bits, off, n, i):
    """Highest non-empty level <= ``i``, or -1 (``i`` may be < 0)."""
    if i < 0:
        return -1
    i = min(i, n - 1)
    off0, off1, off2, _, _, _ = _level_offsets(off, n)
    w = _at_or_below(bits[off0 + (i >> 6)], i & 63)
    if w != 0:
        return ((i >> 6) << 6) + highest_bit(w)
    j = (i >> 6) - 1
    if j < 0:
        return -1
    w = _at_or_below(bits[off1 + (j >> 6)], j & 63)
    if w == 0:
        k = (j >> 6) - 1
        if k < 0:
            return -1
        w = _at_or_below(bits[off2 + (k >> 6)], k & 63)
        t = k >> 6
        while w == 0:
            t -= 1
            if t < 0:
                return -1
            w = bits[off2 + t]
        k = (t << 6) + highest_bit(w)
        w = bits[off1 + k]
        j = (k << 6) + 63
    j = ((j >> 6) << 6) + highest_bit(w)
    return (j << 6) + highest_bit(bits[off0 + j])
