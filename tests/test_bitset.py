"""The three-level bitset against a brute-force scan."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from nbengine.kernels.bitset import bit_clear, bit_set, next_set, prev_set
from nbengine.state import bitset_words


@given(
    n_log=st.integers(6, 19),
    ops=st.lists(st.tuples(st.booleans(), st.integers(0, 2**19 - 1)), max_size=60),
    probes=st.lists(st.integers(-2, 2**19 + 1), min_size=1, max_size=10),
)
def test_next_and_prev_set_equal_brute_force(n_log, ops, probes):
    n = 1 << n_log
    bits = np.zeros(bitset_words(n) + 3, dtype=np.int64)
    off = 3
    members = set()
    for add, i in ops:
        i %= n
        if add:
            bit_set(bits, off, n, i)
            members.add(i)
        elif i in members:
            bit_clear(bits, off, n, i)
            members.discard(i)
    assert bits[:off].tolist() == [0, 0, 0]
    for probe in probes:
        above = [m for m in members if m >= probe]
        below = [m for m in members if m <= probe]
        assert next_set(bits, off, n, probe) == (min(above) if above else -1)
        assert prev_set(bits, off, n, probe) == (max(below) if below else -1)
