"""The fast path for Arrow batches of a known-good schema, and the small result tables (issue 15, point 4).

Everything here compares the fast path with the general one on the same input: the same
columns out of ``prepare``, the same tables out of ``submit``.
"""

import itertools

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nbengine
from nbengine import codes, generate, results, schema
from nbengine.book import Book
from nbengine.schema import EVENTS_SCHEMA, TRADES_SCHEMA, SchemaError, prepare
from nbengine.state import ORDER_DTYPES


@pytest.fixture(scope="module")
def flow_table():
    return generate.to_table(generate.standard_mix(6000, seed=3))


def general(orders, monkeypatch):
    """``prepare`` with the known-schema fast path switched off."""
    with monkeypatch.context() as patch:
        patch.setattr(schema, "_known_plan", lambda _: None)
        return prepare(orders)


def assert_same_columns(fast, slow):
    for name, a, b in zip(fast._fields, fast, slow):
        assert a.dtype == b.dtype, name
        assert not a.flags.writeable, name
        np.testing.assert_array_equal(a, b, err_msg=name)


@pytest.mark.parametrize("rows", [0, 1, 2, 3, 100, 4096, 5000])
@pytest.mark.parametrize("offset", [0, 7])
def test_batches_and_tables_match_the_general_path(flow_table, rows, offset, monkeypatch):
    batch = flow_table.slice(offset, rows).combine_chunks().to_batches()
    batch = batch[0] if batch else pa.RecordBatch.from_pylist([], schema=flow_table.schema)
    sliced = flow_table.to_batches()[0].slice(offset, rows)
    for orders in (batch, sliced, pa.Table.from_batches([sliced])):
        assert_same_columns(prepare(orders), general(orders, monkeypatch))


def test_other_schemas_of_the_contract_types(flow_table, monkeypatch):
    batch = flow_table.to_batches()[0].slice(10, 5)
    nullable = pa.RecordBatch.from_arrays(batch.columns, names=batch.schema.names)
    reordered = batch.select(list(reversed(batch.schema.names)))
    extra = batch.append_column("note", pa.array(["x"] * 5))
    optional_absent = batch.drop_columns(["symbol", "tif", "account"])
    for orders in (nullable, reordered, extra, optional_absent):
        assert_same_columns(prepare(orders), general(orders, monkeypatch))


def test_column_arrays_of_different_offsets(flow_table, monkeypatch):
    columns = [column.slice(index, 3) for index, column in enumerate(flow_table.to_batches()[0].columns)]
    orders = pa.RecordBatch.from_arrays(columns, schema=flow_table.schema)
    assert_same_columns(prepare(orders), general(orders, monkeypatch))


def test_writable_arrow_buffers_give_read_only_columns():
    flow = generate.standard_mix(300, seed=1)
    orders = pa.record_batch({name: pa.array(flow[name]) for name in nbengine.state.ORDER_DTYPES})
    for rows in (1, 300):
        columns = prepare(orders.slice(0, rows))
        assert not any(column.flags.writeable for column in columns)


@pytest.mark.parametrize("rows", [1, 50, 5000])
def test_nulls_are_refused_after_the_schema_is_known(flow_table, rows):
    batch = flow_table.slice(0, rows).combine_chunks().to_batches()[0]
    nullable = pa.RecordBatch.from_arrays(batch.columns, names=batch.schema.names)
    prepare(nullable)
    qty = pa.array([None] + batch.column("qty").to_pylist()[1:], pa.int64())
    with_null = nullable.set_column(nullable.schema.get_field_index("qty"), "qty", qty)
    with pytest.raises(SchemaError, match="'qty': expected no nulls, got a null at row 0"):
        prepare(with_null)


def test_wrong_types_still_go_the_general_way(flow_table):
    batch = flow_table.to_batches()[0].slice(0, 4)
    cast = batch.set_column(batch.schema.get_field_index("price"), "price", batch.column("price").cast(pa.float64()))
    with pytest.raises(SchemaError, match="to_ticks"):
        prepare(cast)
    narrow = batch.set_column(batch.schema.get_field_index("qty"), "qty", batch.column("qty").cast(pa.int32()))
    assert prepare(narrow).qty.dtype == np.int64


@pytest.mark.parametrize("rows", [1, 2, 3, 7, 8, 9, 100, 4096, 4097])
def test_small_tables_equal_the_column_by_column_build(rows):
    rng = np.random.default_rng(rows)
    for schema_, build, split in (
        (TRADES_SCHEMA, results.trades_table, results.trade_columns),
        (EVENTS_SCHEMA, results.events_table, results.event_columns),
    ):
        block = rng.integers(-128, 128, (rows, len(schema_)))
        expected = results.table_from_rows(block, schema_, split)
        table = build(block)
        assert table.equals(expected, check_metadata=True)
        assert table.schema.metadata == schema_.metadata
        block[:] = 0  # the table holds its own copy
        assert table.equals(expected)


def test_empty_tables_have_the_schemas():
    assert results.trades_table(np.zeros((0, 10), np.int64)).schema.equals(TRADES_SCHEMA, check_metadata=True)
    assert results.events_table(np.zeros((0, 8), np.int64)).schema.equals(EVENTS_SCHEMA, check_metadata=True)


@pytest.mark.parametrize("batch_rows", [1, 100])
def test_submit_results_equal_the_dict_path(flow_table, batch_rows):
    """Arrow batches (fast path, lazy tables) against dicts of numpy (general path): same tables."""
    fast, slow = nbengine.Engine(), nbengine.Engine()
    flow = generate.standard_mix(3000, seed=3)
    batches = flow_table.slice(0, 3000).to_batches(max_chunksize=batch_rows)
    for start, batch in zip(range(0, 3000, batch_rows), batches):
        a = fast.submit(batch)
        b = slow.submit({name: values[start : start + batch_rows] for name, values in flow.items()})
        assert (a.n_trades, a.n_events, a.seq_start, a.seq_end) == (b.n_trades, b.n_events, b.seq_start, b.seq_end)
        assert a.trades.equals(b.trades, check_metadata=True)
        assert a.events.equals(b.events, check_metadata=True)
    assert fast.state_hash() == slow.state_hash()


def test_lazy_tables_do_not_see_later_batches(flow_table):
    engine = nbengine.Engine()
    batches = flow_table.slice(0, 400).to_batches(max_chunksize=1)
    held = [engine.submit(batch) for batch in batches]
    again = nbengine.Engine()
    for batch, result in zip(batches, held):
        expected = again.submit(batch)
        assert result.events.equals(expected.events) and result.trades.equals(expected.trades)


# -- the fast paths against the general one, on random flows (Hypothesis) -----------------
# Ids from a small range so cancels, modifies and duplicates hit live orders; some rows are
# bad (REJECTED events), none is outside its column's dtype.
_row = st.fixed_dictionaries(
    {
        "order_id": st.integers(1, 25),
        "symbol": st.sampled_from([0, 0, 1, -7]),
        "side": st.sampled_from([codes.BUY, codes.SELL, codes.BUY, codes.SELL, 0]),
        "kind": st.sampled_from([codes.LIMIT] * 4 + [codes.MARKET, codes.CANCEL, codes.MODIFY, 9]),
        "tif": st.sampled_from([codes.GTC] * 4 + [codes.IOC, codes.FOK, codes.POST_ONLY]),
        "price": st.one_of(st.integers(990, 1010), st.sampled_from([0, -3, 1 << 53])),
        "qty": st.one_of(st.integers(1, 30), st.sampled_from([0, -1])),
        "account": st.integers(0, 2),
    }
)


def _contract_batch(columns):
    """A RecordBatch of exactly ``schema.ORDERS_SCHEMA`` (the fast paths' input) of int64 ``columns``."""
    arrays = [pa.array(columns[name].astype(dtype)) for name, dtype in ORDER_DTYPES.items()]
    return pa.RecordBatch.from_arrays(arrays, schema=schema.ORDERS_SCHEMA)


def _assert_same_results(results):
    """Results of one batch submitted in several forms (a dict of form -> result) are identical."""
    (first, expected), *others = results.items()
    for form, result in others:
        what = f"{form} vs {first}"
        assert (result.seq_start, result.seq_end) == (expected.seq_start, expected.seq_end), what
        assert (result.n_trades, result.n_events) == (expected.n_trades, expected.n_events), what
        assert result.trades.equals(expected.trades, check_metadata=True), what
        assert result.events.equals(expected.events, check_metadata=True), what
        assert (result.n_trades, result.n_events) == (expected.trades.num_rows, expected.events.num_rows), what


@given(
    rows=st.lists(_row, min_size=1, max_size=50),
    cuts=st.lists(st.integers(0, 50), max_size=8),
    one_by_one=st.booleans(),
    read_late=st.booleans(),
)
def test_record_batches_tables_and_dicts_give_the_same_results(rows, cuts, one_by_one, read_late):
    """The same batches as contract-schema RecordBatches, as Tables and as dicts: same tables and state.

    ``one_by_one`` makes every batch a single row (the scalar path of ``submit``);
    ``read_late`` reads every result's tables only after the last batch, so results kept
    across later calls (which reuse the engine's buffers) must not have changed.
    """
    columns = {name: np.array([r[name] for r in rows], dtype=np.int64) for name in rows[0]}
    columns["ts"] = np.arange(len(rows), dtype=np.int64)
    bounds = list(range(len(rows) + 1)) if one_by_one else sorted({0, len(rows), *[c for c in cuts if c < len(rows)]})
    engines = {form: nbengine.Engine(stp="cancel-maker") for form in ("batch", "table", "dict")}
    held = []
    for start, stop in itertools.pairwise(bounds):
        part = {name: values[start:stop] for name, values in columns.items()}
        batch = _contract_batch(part)
        inputs = {"batch": batch, "table": pa.Table.from_batches([batch]), "dict": part}
        held.append({form: engine.submit(inputs[form]) for form, engine in engines.items()})
        if not read_late:
            _assert_same_results(held[-1])
    for results_of_batch in held:
        _assert_same_results(results_of_batch)
    hashes = {engine.state_hash() for engine in engines.values()}
    assert len(hashes) == 1


@pytest.mark.parametrize("rows", [1, 3])
def test_other_schemas_of_the_contract_types_through_submit(flow_table, rows):
    """Reordered, absent-optional, extra and nullable-typed columns: as the dict path, one row or several."""
    batch = flow_table.to_batches()[0].slice(20, rows)
    forms = {
        "reordered": batch.select(list(reversed(batch.schema.names))),
        "optional_absent": batch.drop_columns(["symbol", "tif", "account"]),
        "extra": batch.append_column("note", pa.array(["x"] * rows)),
        "nullable": pa.RecordBatch.from_arrays(batch.columns, names=batch.schema.names),
    }
    for form, orders in forms.items():
        as_dict = {name: orders.column(name).to_numpy() for name in orders.schema.names if name != "note"}
        fast, slow = nbengine.Engine(), nbengine.Engine()
        for warm in flow_table.slice(0, 20).to_batches(max_chunksize=5):
            fast.submit(warm)
            slow.submit(warm)
        _assert_same_results({"dict": slow.submit(as_dict), form: fast.submit(orders)})
        assert fast.state_hash() == slow.state_hash(), form


@pytest.mark.parametrize("rows", [1, 100])
@pytest.mark.parametrize("column", list(ORDER_DTYPES))
def test_a_batch_differing_in_one_field_type_raises_naming_it(flow_table, rows, column):
    """After batches of the contract schema were taken (and their schema cached), one whose
    ``column`` is a float raises ``SchemaError`` naming that column and changes nothing."""
    engine = nbengine.Engine()
    good = flow_table.slice(0, rows).to_batches()[0]
    engine.submit(good)
    seq, state = engine.next_seq, engine.state_hash()
    index = good.schema.get_field_index(column)
    bad = good.set_column(index, column, good.column(column).cast(pa.float64(), safe=False))
    with pytest.raises(SchemaError, match=f"column '{column}': expected"):
        engine.submit(bad)
    assert (engine.next_seq, engine.state_hash()) == (seq, state)


@pytest.mark.parametrize("rows", [1, 100])
def test_submit_refuses_nulls_after_the_schema_is_known(flow_table, rows):
    engine = nbengine.Engine()
    batch = flow_table.slice(0, rows).combine_chunks().to_batches()[0]
    nullable = pa.RecordBatch.from_arrays(batch.columns, names=batch.schema.names)
    engine.submit(nullable)
    seq = engine.next_seq
    price = pa.array([None] + batch.column("price").to_pylist()[1:], pa.int64())
    with_null = nullable.set_column(nullable.schema.get_field_index("price"), "price", price)
    with pytest.raises(SchemaError, match="'price': expected no nulls, got a null at row 0"):
        engine.submit(with_null)
    assert engine.next_seq == seq


def test_results_held_across_calls_keep_their_rows(flow_table):
    """Results of 1-row, 100-row and 5000-row batches, their tables read only after later calls
    (and read again after still later ones), equal those of a fresh engine read at once."""
    sizes = [1] * 50 + [100] * 5 + [5000] + [1] * 50
    batches, start = [], 0
    for size in sizes:
        batches.append(flow_table.slice(start, size).combine_chunks().to_batches()[0])
        start += size
    engine = nbengine.Engine()
    held = [engine.submit(batch) for batch in batches]
    early = [(result.trades, result.events) for result in held[:60]]
    for batch in flow_table.slice(start).to_batches(max_chunksize=7):
        engine.submit(batch)
    again = nbengine.Engine()
    for index, (batch, result) in enumerate(zip(batches, held)):
        expected = again.submit(batch)
        assert result.trades.equals(expected.trades) and result.events.equals(expected.events), index
        if index < 60:
            assert early[index][0].equals(expected.trades) and early[index][1].equals(expected.events), index


def test_one_row_batches_with_a_wal_are_logged_and_recovered(tmp_path, flow_table):
    """With a WAL a 1-row RecordBatch still goes the batch way (an IPC payload); recovery reproduces it."""
    engine = nbengine.Engine(wal_dir=tmp_path, durability="sync")
    for batch in flow_table.slice(0, 40).to_batches(max_chunksize=1):
        engine.submit(batch)
    expected = engine.state_hash(), engine.next_seq
    engine.close()
    recovered = nbengine.Engine.recover(tmp_path)
    assert (recovered.state_hash(), recovered.next_seq) == expected
    recovered.close()


# -- the kernel entry of small RecordBatches (kernels.match.match_message) ---------------


@given(
    rows=st.lists(_row, min_size=1, max_size=60),
    cuts=st.lists(st.integers(0, 60), max_size=8),
    reorder=st.booleans(),
)
def test_match_message_equals_match_batch(rows, cuts, reorder):
    """``Book.match_message`` on a batch's IPC message and ``Book.match`` on its prepared columns:
    the same output rows after every batch and the same state, from output buffers of one row
    (every batch grows and resumes), with columns in contract or reversed order."""
    columns = {name: np.array([r[name] for r in rows], dtype=np.int64) for name in rows[0]}
    columns["ts"] = np.arange(len(rows), dtype=np.int64)
    bounds = sorted({0, len(rows), *[c for c in cuts if c < len(rows)]})
    books = [Book(stp=codes.STP_MODES["cancel-both"], max_span_ticks=64, max_price_ticks=1 << 53,
                  memory_budget=nbengine.state.DEFAULT_MEMORY_BUDGET) for _ in range(2)]
    for book in books:
        book.outputs = nbengine.state.new_outputs(1, 1)
    for start, stop in itertools.pairwise(bounds):
        batch = _contract_batch({name: values[start:stop] for name, values in columns.items()})
        if reorder:
            batch = batch.select(list(reversed(batch.schema.names)))
        small = schema.small_message(batch)
        assert small is not None
        for name, a, b in zip(ORDER_DTYPES, schema.message_columns(*small), general(batch, pytest.MonkeyPatch())):
            assert a.dtype == b.dtype, name
            np.testing.assert_array_equal(a, b, err_msg=name)
        counts = books[0].match(prepare(batch)), books[1].match_message(*small)
        assert counts[0] == counts[1]
        for a, b in zip(books[0].output_rows(), books[1].output_rows()):
            np.testing.assert_array_equal(a, b)
        assert books[0].next_seq == books[1].next_seq == stop
    assert books[0].orders().equals(books[1].orders())
    assert books[0].counters() == books[1].counters()
    books[1].check()


def test_small_message_takes_only_small_contract_batches(flow_table):
    """Other forms, schemas, sizes and nulls go ``prepare``'s way (None)."""
    batch = flow_table.to_batches()[0].slice(0, 10)
    assert schema.small_message(batch) is not None
    assert schema.small_message(pa.Table.from_batches([batch])) is not None
    nullable = pa.RecordBatch.from_arrays(batch.columns, names=batch.schema.names)
    qty = pa.array([None] + batch.column("qty").to_pylist()[1:], pa.int64())
    refused = [
        batch.slice(0, 0),
        flow_table.slice(0, schema.SMALL_BATCH + 1).combine_chunks().to_batches()[0],
        pa.Table.from_batches([batch, batch]),
        batch.drop_columns(["account"]),
        batch.append_column("note", pa.array(["x"] * 10)),
        nullable.set_column(nullable.schema.get_field_index("qty"), "qty", qty),
        {name: batch.column(name).to_numpy() for name in batch.schema.names},
    ]
    for orders in refused:
        assert schema.small_message(orders) is None


def test_small_batches_over_the_memory_budget_are_refused_as_the_general_path_does():
    """A RecordBatch whose books outgrow the budget: the same REJECTED / MEMORY_BUDGET rows and state as a dict."""
    n = 40
    part = {
        "ts": np.arange(n, dtype=np.int64), "order_id": np.arange(1, n + 1, dtype=np.int64),
        "symbol": np.arange(n, dtype=np.int64) // 2, "side": np.where(np.arange(n) % 2, codes.SELL, codes.BUY),
        "kind": np.zeros(n, dtype=np.int64), "tif": np.zeros(n, dtype=np.int64),
        "price": np.where(np.arange(n) % 2, 2**12 - 1, 1), "qty": np.ones(n, dtype=np.int64),
        "account": np.zeros(n, dtype=np.int64),
    }
    budget = nbengine.Engine(max_span_ticks=2**12).nbytes + (1 << 18)
    engines = {form: nbengine.Engine(memory_budget=budget, max_span_ticks=2**12) for form in ("batch", "dict")}
    results_of = {"batch": engines["batch"].submit(_contract_batch(part)), "dict": engines["dict"].submit(part)}
    _assert_same_results(results_of)
    assert codes.MEMORY_BUDGET in results_of["batch"].events.column("reason").to_pylist()
    assert engines["batch"].state_hash() == engines["dict"].state_hash()
