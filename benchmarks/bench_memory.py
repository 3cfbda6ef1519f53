"""Memory of a deep book: process peak and the engine's own bytes per resting order."""

import nbengine

from . import VERSION, cached_flow

RESTING_ORDERS = 1_000_000
"""Orders resting in the book (``generate.deep_book``: none of them crosses)."""


class BookOfOneMillion:
    """One book holding ``RESTING_ORDERS`` passive orders over 1000 levels a side."""

    version = VERSION
    timeout = 300

    def setup(self):
        """Warm the JIT and prepare the deep book's columns."""
        nbengine.warmup()
        self.book_columns = nbengine.prepare(cached_flow("deep_book", RESTING_ORDERS))

    def fill_engine(self):
        """A fresh engine holding every order of the deep book."""
        engine = nbengine.Engine()
        engine.match_columns(self.book_columns)
        return engine

    def peakmem_book_1m_resting(self):
        """Peak RSS of the whole process: interpreter, numba, the 1M-row input and the engine."""
        self.fill_engine()

    def track_bytes_per_resting_order(self):
        """``Engine.nbytes`` (book state arrays, output buffers excluded) per resting order."""
        return self.fill_engine().nbytes / RESTING_ORDERS

    track_bytes_per_resting_order.unit = "bytes"
