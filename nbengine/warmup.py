"""Compile (or load from cache) every kernel on tiny inputs."""

from .codes import BUY, GTC, LIMIT, SELL


def warmup():
    """Compile every kernel that ``Engine`` calls, so the first real batch is not slowed.

    Compiled code is cached on disk (``cache=True``): in a new process this loads it.
    """
    import numpy as np
    import pyarrow as pa

    from . import state
    from .book import Book
    from .engine import Engine
    from .kernels import stepping
    from .kernels.hashindex import rebuild_book_index, rebuild_order_index
    from .kernels.ladder import compact_arenas
    from .schema import ORDERS_SCHEMA, prepare

    engine = Engine()
    engine.submit({"ts": [0, 0], "order_id": [1, 2], "kind": [LIMIT, LIMIT], "side": [BUY, SELL],
                   "price": [100, 101], "qty": [1, 1]})
    engine.submit_one(0, 3, SELL, LIMIT, 100, 2)
    # A small contract RecordBatch without a WAL that trades: kernels.match.match_message, and
    # kernels.columns.rows_into_bodies for its result.
    engine.submit(pa.RecordBatch.from_pydict(
        {"ts": [1, 1], "order_id": [6, 7], "symbol": [0, 0], "side": [BUY, SELL], "kind": [LIMIT, LIMIT],
         "tif": [GTC, GTC], "price": [110, 110], "qty": [2, 1], "account": [0, 0]}, schema=ORDERS_SCHEMA))
    # The scalar kernel of an engine with a WAL (kernels.match.match_row_logged), on a ring of
    # its own: the arrays' types are an engine's, without a directory or a writer thread.
    book = Book(stp=0, max_span_ticks=64, max_price_ticks=1 << 53, memory_budget=state.DEFAULT_MEMORY_BUDGET)
    book.log_to(*state.new_ring(4, 0))
    book.header[: state.C_ACCOUNT + 1] = (0, 3, 0, SELL, LIMIT, GTC, 100, 2, 0)
    book.row_kernel(*book.row_args)
    engine.orders()
    engine.depth(0, 1)
    # The strategy backtest's kernels (nbengine.backtest.loop).
    ctl = stepping.new_control(-1, stepping.WATCH_ALL)
    touched, watched = np.zeros((4, 5), dtype=np.int64), np.zeros(0, dtype=np.int64)
    flow = prepare({"ts": [1, 2], "order_id": [4, 5], "kind": [LIMIT, LIMIT], "side": [BUY, SELL],
                    "price": [99, 102], "qty": [1, 1]})
    shadow = np.zeros((1, stepping.S_FIELDS), dtype=np.int64)
    fills = np.zeros((1, stepping.F_FIELDS), dtype=np.int64)
    engine.run_kernel(stepping.match_until, flow, ctl, touched, watched, shadow, fills)
    engine.run_kernel(stepping.crossing_levels, 0, BUY, 101, False, np.zeros((1, 2), dtype=np.int64))
    engine.run_kernel(stepping.close_group, ctl, touched)
    engine.qty_ahead([0], [4])
    engine.bbo(0, without_account=-1)
    # Growth (Book.grow): the first book to outgrow its pool, book table or arenas would load these.
    st = state.new_state(stp=0, max_span_ticks=64, max_price_ticks=1000)
    rebuild_order_index(state.empty_table(st.pool.shape[0], np.int64), st.pool, st.meta[state.M_POOL_HWM])
    rebuild_book_index(state.empty_table(st.books.shape[0]), st.books, st.meta[state.M_N_BOOKS])
    compact_arenas(st.meta, st.books, st.levels, st.bits, state.new_levels(st.levels.shape[0]), st.bits.copy())


__all__ = ["warmup"]
