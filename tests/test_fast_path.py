"""The fast path for Arrow batches of a known-good schema, and the small result tables (issue 15, point 4).

Everything here compares the fast path with the general one on the same input: the same
columns out of ``prepare``, the same tables out of ``submit``.
"""

import numpy as np
import pyarrow as pa
import pytest

import nbengine
from nbengine import generate, schema
from nbengine import results
from nbengine.schema import EVENTS_SCHEMA, TRADES_SCHEMA, SchemaError, prepare


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
