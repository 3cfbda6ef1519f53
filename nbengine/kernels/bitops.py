"""Bit scans on int64 words: numba intrinsics when compiled, int arithmetic otherwise."""

from .._jit import JIT_DISABLED, kernel

__all__ = ["bits_through", "highest_bit", "lowest_bit", "single_bit"]


_MASK64 = (1 << 64) - 1

if JIT_DISABLED:

    def lowest_bit(word):
        """Index of the lowest set bit of a non-zero int64 word."""
        w = int(word) & _MASK64
        return (w & -w).bit_length() - 1

    def highest_bit(word):
        """Index of the highest set bit of a non-zero int64 word."""
        return (int(word) & _MASK64).bit_length() - 1

    def single_bit(b):
        """The int64 word with only bit ``b`` (0..63) set."""
        return -(1 << 63) if b == 63 else 1 << int(b)

    def bits_through(b):
        """The int64 word with bits 0..b (0..63) set."""
        return -1 if b == 63 else (1 << (int(b) + 1)) - 1

else:  # pragma: no cover - compiled branch; the NUMBA_DISABLE_JIT run covers the one above
    from numba.cpython.unsafe.numbers import leading_zeros, trailing_zeros

    @kernel
    def lowest_bit(word):
        """Index of the lowest set bit of a non-zero int64 word."""
        return trailing_zeros(word)

    @kernel
    def highest_bit(word):
        """Index of the highest set bit of a non-zero int64 word."""
        return 63 - leading_zeros(word)

    @kernel
    def single_bit(b):
        """The int64 word with only bit ``b`` (0..63) set."""
        one = 1
        return one << b

    @kernel
    def bits_through(b):
        """The int64 word with bits 0..b (0..63) set."""
        if b == 63:
            return -1
        one = 1
        return (one << (b + 1)) - 1
