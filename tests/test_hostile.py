"""Hostile input: every case of issue 14 that the kernels, schema and views must survive.

Each test failed before its fix. Under ``NUMBA_DISABLE_JIT=1`` the kernels run as plain
Python, where a write past the end of an output buffer raises instead of corrupting memory.
"""

import numpy as np
import pytest

import nbengine
from nbengine import codes
from nbengine import state as s
from nbengine.kernels.match import match_batch

from .conftest import JIT_DISABLED

BUY, SELL, LIMIT, MARKET, CANCEL, MODIFY = (
    codes.BUY, codes.SELL, codes.LIMIT, codes.MARKET, codes.CANCEL, codes.MODIFY
)


def _orders(rows):
    """A dict batch from a list of row dicts (missing fields 0, ts = row number)."""
    names = ("ts", "order_id", "symbol", "side", "kind", "tif", "price", "qty", "account")
    columns = {name: [row.get(name, 0) for row in rows] for name in names}
    columns["ts"] = list(range(len(rows)))
    return {name: np.asarray(values, dtype=s.ORDER_DTYPES[name]) for name, values in columns.items()}


# -- 1: output room of a row with a negative quantity -------------------------------------


def test_negative_qty_reject_on_a_full_events_buffer_stays_in_bounds():
    engine = nbengine.Engine()
    engine.submit(_orders([dict(order_id=i, side=SELL, price=1000 + i, qty=1) for i in range(600)]))
    rows = [dict(order_id=10_000 + i, side=BUY, kind=MARKET, qty=1) for i in range(600)]
    rows += [dict(order_id=20_000 + i, kind=9) for i in range(248)]
    rows += [dict(order_id=30_000, side=BUY, kind=LIMIT, price=1000, qty=-10)]
    # 600 * 3 + 248 = 2048 events fill the buffer the batch reserves exactly.
    result = engine.submit(_orders(rows))
    events = result.events.to_pydict()
    assert len(events["seq"]) == 600 * 3 + 248 + 1
    assert (events["event"][-1], events["reason"][-1], events["leaves_qty"][-1]) == (
        codes.REJECTED, codes.BAD_QTY, -10)
    engine.check()


def _match_into(engine, rows, trades_capacity, events_capacity):
    """Match ``rows`` with output buffers of the given sizes (the engine's grow-and-resume loop)."""
    engine._out = s.new_outputs(trades_capacity, events_capacity)
    meta = engine._state.meta
    meta[s.M_N_TRADES] = meta[s.M_N_EVENTS] = 0
    columns = nbengine.prepare(_orders(rows))
    row = 0
    while True:
        status, row = match_batch(engine._state, engine._out, columns, row)
        if status == s.OK:
            return engine._out.events[: meta[s.M_N_EVENTS]].copy()
        engine._grow(status)


@pytest.mark.parametrize("kind", [LIMIT, MARKET, MODIFY, CANCEL])
@pytest.mark.parametrize("qty", [-(2**63), -5, -4, -1, 0])
def test_every_events_fill_level_with_a_non_positive_qty(kind, qty):
    for fill in range(1, 9):
        engine = nbengine.Engine()
        engine.submit(_orders([dict(order_id=1, side=SELL, price=10, qty=3)]))
        rows = [dict(order_id=100 + i, kind=9) for i in range(fill)]
        rows.append(dict(order_id=1, side=BUY, kind=kind, price=10, qty=qty))
        events = _match_into(engine, rows, 1, fill)
        assert events.shape[0] == fill + 1
        engine.check()


# -- 4: quantities whose sums would wrap int64 --------------------------------------------


def test_two_huge_asks_at_one_price_cannot_wrap_the_level():
    engine = nbengine.Engine()
    result = engine.submit(_orders([dict(order_id=i, side=SELL, price=100, qty=2**62) for i in (1, 2)]))
    assert result.events.column("reason").to_pylist() == [codes.QTY_LIMIT, codes.QTY_LIMIT]
    engine.submit(_orders([dict(order_id=3, side=SELL, price=100, qty=2**61),
                           dict(order_id=4, side=SELL, price=101, qty=2**61 - 1),
                           dict(order_id=5, side=SELL, price=100, qty=1)]))
    assert engine.bbo().ask_qty == 2**61 and engine.live_orders == 2
    engine.check()
    fok = engine.submit(_orders([dict(order_id=9, side=BUY, price=100, qty=1, tif=codes.FOK)]))
    assert fok.trades.column("qty").to_pylist() == [1]
    grow = engine.submit(_orders([dict(order_id=4, kind=MODIFY, price=101, qty=2**61 + 1),
                                  dict(order_id=4, kind=MODIFY, price=101, qty=2**61)]))
    assert grow.events.column("reason").to_pylist() == [codes.QTY_LIMIT, codes.NO_REASON]
    engine.check()


def test_huge_takers_never_rest_and_never_wrap():
    engine = nbengine.Engine()
    engine.submit(_orders([dict(order_id=1, side=SELL, price=100, qty=5)]))
    rows = [dict(order_id=2, side=BUY, kind=MARKET, qty=2**63 - 1),
            dict(order_id=3, side=BUY, price=100, qty=codes.MAX_QTY, tif=codes.IOC)]
    events = engine.submit(_orders(rows)).events.to_pydict()
    assert events["reason"] == [codes.QTY_LIMIT, codes.NO_REASON, codes.NO_REASON, codes.NO_REASON]
    assert events["leaves_qty"][-1] == codes.MAX_QTY - 5
    engine.check()


# -- 5: values out of their column's range ------------------------------------------------


@pytest.mark.parametrize("field, value", [
    ("symbol", 2**32 + 5), ("symbol", -(2**31) - 1), ("side", 257), ("kind", 256), ("tif", -129),
    ("qty", 2**63), ("price", -(2**63) - 1), ("order_id", 2**64), ("ts", 2**63), ("account", -(2**70)),
])
def test_out_of_range_values_are_refused_the_same_way_on_every_path(field, value):
    row = dict(ts=1, order_id=7, symbol=0, side=BUY, kind=LIMIT, tif=codes.GTC, price=100, qty=5, account=0)
    row[field] = value
    engine = nbengine.Engine()
    messages = []
    for path in ("submit", "submit_one", "submit_rows"):
        with pytest.raises(nbengine.ValueRangeError, match=f"column '{field}'") as info:
            if path == "submit":
                engine.submit({name: [v] for name, v in row.items()})
            elif path == "submit_one":
                engine.submit_one(**row)
            else:
                list(engine.submit_rows([row]))
        assert isinstance(info.value, OverflowError) and isinstance(info.value, nbengine.SchemaError)
        messages.append(str(info.value))
    assert engine.next_seq == 0 and engine.symbols() == [] and engine.state_hash() == nbengine.Engine().state_hash()
    assert all(str(value) in message for message in messages)


# -- 6: float32 prices --------------------------------------------------------------------


def test_float32_prices_on_the_grid_map_to_their_ticks():
    cents = np.arange(1, 2_000_001, 997)
    prices = (cents / 100).astype(np.float32)
    assert nbengine.to_ticks(prices, 0.01).tolist() == cents.tolist()
    assert nbengine.to_ticks(np.float32([100.01]), 0.01).tolist() == [10001]
    assert nbengine.to_ticks(np.float32([100.015, 1e9]), 0.01).tolist() == [codes.PRICE_OFF_TICK] * 2
    assert nbengine.to_ticks([100.015, 100.01], 0.01).tolist() == [codes.PRICE_OFF_TICK, 10001]


def test_float32_price_column_with_tick_size_keeps_its_precision():
    import pyarrow as pa

    from nbengine.parquet_input import map_columns

    batch = pa.record_batch({"price": pa.array(np.float32([100.01, 99.99, 0.07]))})
    assert map_columns(batch, tick_size=0.01).column("price").to_pylist() == [10001, 9999, 7]


# -- 13: boundary gaps: one-line SchemaErrors naming the column ---------------------------


def _pandas_duplicate():
    import pandas as pd

    return pd.DataFrame([[1, 1, 2, 2]], columns=["ts", "order_id", "kind", "ts"])


def _arrow_duplicate():
    import pyarrow as pa

    return pa.table([pa.array([1]), pa.array([1]), pa.array([2]), pa.array([2])], names=["ts", "order_id", "kind", "ts"])


def _timestamps(unit, values):
    import pyarrow as pa

    return pa.table({"ts": pa.array(values, pa.timestamp(unit)), "order_id": [1] * len(values), "kind": [2] * len(values)})


@pytest.mark.parametrize("make, column, words", [
    (_arrow_duplicate, "ts", "2 columns"),
    (_pandas_duplicate, "ts", "2 columns"),
    (lambda: _timestamps("s", [0, 10**11]), "ts", "row 1"),
    (lambda: _timestamps("ms", [-(10**14)]), "ts", "row 0"),
    (lambda: {"ts": np.array([0, 10**11], "datetime64[s]"), "order_id": [1, 1], "kind": [2, 2]}, "ts", "row 1"),
    (lambda: {"ts": [1, None], "order_id": [1, 2], "kind": [2, 2]}, "ts", "null at row 1"),
    (lambda: {"ts": [1, 2], "order_id": [1, None], "kind": [2, 2]}, "order_id", "null at row 1"),
    (lambda: {"ts": [1, 2], "order_id": [1, 2], "kind": [2, 2], "qty": [1.0, float("nan")]}, "qty", "null at row 1"),
])
def test_boundary_gaps_are_one_line_schema_errors(make, column, words):
    with pytest.raises(nbengine.SchemaError) as info:
        nbengine.Engine().submit(make())
    message = str(info.value)
    assert f"column {column!r}" in message and words in message and "\n" not in message


def test_timestamps_in_range_convert_exactly():
    import pyarrow as pa

    table = pa.table({"ts": pa.array([10**9, -5], pa.timestamp("s", tz="UTC")), "order_id": [1, 2], "kind": [2, 2]})
    assert nbengine.prepare(table).ts.tolist() == [10**18, -5 * 10**9]
    array = np.array([10**9], "datetime64[ms]")
    assert nbengine.prepare({"ts": array, "order_id": [1], "kind": [2]}).ts.tolist() == [10**15]


# -- 8: hash flooding of the order-id index -----------------------------------------------


def _mean_probe_distance(table):
    """Mean distance of the order index's entries from their home bucket."""
    buckets = table[:-1]
    mask = buckets.shape[0] - 1
    where = np.flatnonzero(buckets >= 0)
    homes = buckets[where] & 0xFFFFFFFF & mask
    return float(((where - homes) & mask).mean())


@pytest.mark.parametrize("pattern", ["high bits", "stride 2**20", "sequential", "crafted"])
def test_probe_lengths_do_not_follow_client_ids(pattern):
    n = 4096 if JIT_DISABLED else 60_000
    k = np.arange(n, dtype=np.int64)
    golden_inverse = pow(0x9E3779B97F4A7C15, -1, 2**64)
    ids = {
        "high bits": k << 47,
        "stride 2**20": k << 20,
        "sequential": k,
        # id * golden = k << 48 makes every id share its home under the old unkeyed hash.
        "crafted": np.array([((int(i) << 48) * golden_inverse) % 2**64 for i in k], dtype=np.uint64).view(np.int64),
    }[pattern]
    engine = nbengine.Engine()
    engine.submit(_orders([dict(order_id=int(i), side=BUY, price=100, qty=1) for i in ids]))
    assert engine.live_orders == n
    assert _mean_probe_distance(engine._state.order_index) < 4
    engine.submit(_orders([dict(order_id=int(i), kind=CANCEL) for i in ids]))
    assert engine.live_orders == 0
    engine.check()


def test_hash_keys_are_per_engine_and_invisible_in_outputs():
    from nbengine.generate import standard_mix

    flow = standard_mix(3000, seed=4, symbols=20, modify=0.05)
    engines = [nbengine.Engine() for _ in range(3)]
    results = [engine.submit(flow) for engine in engines]
    assert len({s.table_key(engine._state.order_index) for engine in engines}) == 3
    assert all(r.events.equals(results[0].events) and r.trades.equals(results[0].trades) for r in results)
    assert len({engine.state_hash() for engine in engines}) == 1


# -- 15: runtime checks survive python -O -------------------------------------------------


def test_invariant_checks_survive_python_optimize():
    import subprocess
    import sys

    code = (
        "import nbengine, numpy as np\n"
        "from nbengine import state as s\n"
        "from nbengine.reference import ReferenceBook\n"
        "e = nbengine.Engine(); e.submit_one(1, 1, 1, 0, 100, 5)\n"
        "e._state.pool[0, s.P_QTY] = 7\n"
        "r = ReferenceBook(); r.submit({'ts': [1], 'order_id': [1], 'kind': [0], 'side': [1], 'price': [100], 'qty': [5]})\n"
        "r._books[0].levels[1][100][0].qty = 0\n"
        "for check in (e.check, r.validate_book):\n"
        "    try:\n"
        "        check()\n"
        "    except AssertionError as exc:\n"
        "        print('caught', exc)\n"
    )
    out = subprocess.run([sys.executable, "-O", "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.count("caught") == 2, out


# -- 7, 12: Parquet input that must stop with one line naming the file --------------------


def _write_orders(path, n=2000, **extra):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from nbengine.generate import standard_mix

    flow = standard_mix(n, seed=1)
    flow.pop("symbol")
    flow.update(extra)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(flow), path, compression="none", row_group_size=500)
    return path


def _read_all(*paths, **kwargs):
    from nbengine.parquet_input import parquet_batches

    _, batches = parquet_batches(list(paths), 1000, **kwargs)
    return list(batches)


def test_ticker_partitions_map_to_their_own_symbols_not_symbol_zero(tmp_path):
    """Issue 16: ``symbol=AAPL/`` was refused; now each ticker is its own book (ids in name order)."""
    for ticker in ("MSFT", "AAPL"):
        _write_orders(tmp_path / f"symbol={ticker}" / "part-0.parquet")
    batches = _read_all(tmp_path)
    assert sorted({int(s) for batch in batches for s in set(batch.symbol.tolist())}) == [0, 1]
    assert sum(batch.symbol.shape[0] for batch in batches if batch.symbol[0] == 0) == 2000


def test_corrupt_parquet_pages_name_the_file(tmp_path):
    from nbengine.parquet_input import ParquetReadError

    path = _write_orders(tmp_path / "orders.parquet")
    data = bytearray(path.read_bytes())
    for offset in range(2000, len(data) // 2, 7):
        data[offset] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ParquetReadError, match="orders.parquet") as info:
        _read_all(path)
    assert "\n" not in str(info.value)


def test_mixed_schema_directory_names_the_file(tmp_path):
    zeros = np.zeros(2000, np.int32)
    _write_orders(tmp_path / "a.parquet", symbol=zeros)
    _write_orders(tmp_path / "b.parquet", symbol=zeros, qty=np.full(2000, 1.5))
    with pytest.raises(nbengine.SchemaError, match=r"b\.parquet: column 'qty'"):
        _read_all(tmp_path)
    with pytest.raises(nbengine.SchemaError, match=r"b\.parquet"):
        _read_all(tmp_path, symbols=[0])


# -- 9: memory budget and views sized by the book -----------------------------------------


def test_wide_books_stop_at_the_memory_budget_with_a_reason():
    budget = 12 << 20
    engine = nbengine.Engine(memory_budget=budget, max_span_ticks=2**16)
    rows = []
    for symbol in range(8):
        rows += [dict(order_id=1, symbol=symbol, side=BUY, price=1, qty=1),
                 dict(order_id=2, symbol=symbol, side=SELL, price=2**16 - 1, qty=1)]
    events = engine.submit(_orders(rows)).events.to_pydict()
    refused = [i for i, reason in enumerate(events["reason"]) if reason == codes.MEMORY_BUDGET]
    assert refused and all(events["event"][i] == codes.REJECTED for i in refused)
    assert engine.nbytes <= budget and engine.next_seq == len(rows)
    engine.check()
    one = engine.submit_one(99, 3, SELL, LIMIT, 2**16 - 1, 1, symbol=100)
    assert one.events.column("reason").to_pylist() in ([codes.MEMORY_BUDGET], [codes.NO_REASON])
    engine.check()


def test_depth_is_sized_by_the_book_not_by_levels():
    import tracemalloc

    engine = nbengine.Engine()
    engine.submit(_orders([dict(order_id=i, side=BUY, price=100 - i, qty=1) for i in range(5)]))
    engine.depth(levels=1)  # compiled before measuring
    tracemalloc.start()
    table = engine.depth(levels=10**9)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert table.num_rows == 5 and peak < 1 << 20
    assert engine.depth(symbol=77, levels=10**12).num_rows == 0


# -- fuzzer: extreme values at every output-buffer fill level -----------------------------

from hypothesis import given, strategies as st  # noqa: E402

from nbengine.reference import ReferenceBook  # noqa: E402

from .conftest import assert_columns_equal  # noqa: E402

_EXTREME_QTY = st.sampled_from([-(2**63), -(2**62), -5, -4, -1, 0, 1, 2, 2**31 - 1, 2**31, 2**61,
                                codes.MAX_QTY - 1, codes.MAX_QTY, codes.MAX_QTY + 1, 2**63 - 1])
_EXTREME_PRICE = st.sampled_from([-(2**63), -1, 0, 1, 2, 99, 100, 101, 2**31 - 1, 2**31, 2**53, 2**53 + 1,
                                  2**62, 2**63 - 1])
_ROW = st.fixed_dictionaries({
    "order_id": st.sampled_from([0, 1, 2, 3, -1, 2**63 - 1, -(2**63)]),
    "symbol": st.sampled_from([0, 1, -(2**31), 2**31 - 1]),
    "side": st.sampled_from([BUY, SELL, 0, 127, -128]),
    "kind": st.sampled_from([LIMIT, LIMIT, MARKET, CANCEL, MODIFY, 4, -128]),
    "tif": st.sampled_from([codes.GTC, codes.IOC, codes.FOK, codes.POST_ONLY, 9]),
    "price": _EXTREME_PRICE,
    "qty": _EXTREME_QTY,
    "account": st.sampled_from([0, 1, -(2**63), 2**63 - 1]),
})


@given(rows=st.lists(_ROW, min_size=1, max_size=24), trades_capacity=st.integers(1, 6),
       events_capacity=st.integers(1, 12), stp=st.sampled_from(sorted(codes.STP_MODES)))
def test_fuzz_extreme_values_match_the_reference_at_every_fill_level(rows, trades_capacity, events_capacity, stp):
    engine, reference = nbengine.Engine(stp=stp), ReferenceBook(stp=stp)
    events = _match_into(engine, rows, trades_capacity, events_capacity)
    engine.check()
    _, want = reference.submit(_orders(rows))
    reference.validate_book()
    got = {name: events[:, i].tolist() for i, name in enumerate(want)}
    assert_columns_equal(want, got, "events")
    assert engine.state_hash() == reference.state_hash()
