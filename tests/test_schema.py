"""The boundary: accepted input kinds, schema errors naming column and types, to_ticks."""

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import nbengine
from nbengine import codes
from nbengine.schema import EVENTS_SCHEMA, TRADES_SCHEMA

ORDERS = {
    "ts": [1, 2, 3],
    "order_id": [1, 2, 3],
    "kind": [0, 0, 1],
    "side": [1, -1, 1],
    "price": [100, 101, 0],
    "qty": [5, 5, 2],
}


def _expected():
    return nbengine.Engine().submit(ORDERS)


@pytest.mark.parametrize(
    "make",
    [
        lambda: pa.table(ORDERS),
        lambda: pa.record_batch(ORDERS),
        lambda: pd.DataFrame(ORDERS),
        lambda: pl.DataFrame(ORDERS),
        lambda: {k: np.array(v, dtype=np.int16) for k, v in ORDERS.items()},
        lambda: pa.table({**ORDERS, "ts": pa.array(ORDERS["ts"], pa.timestamp("ns"))}),
    ],
    ids=["table", "record_batch", "pandas", "polars", "dict-int16", "timestamp-ts"],
)
def test_accepted_inputs_give_identical_results(make):
    result = nbengine.Engine().submit(make())
    expected = _expected()
    assert result.trades.equals(expected.trades)
    assert result.events.equals(expected.events)
    assert result.trades.schema.equals(TRADES_SCHEMA, check_metadata=True)
    assert result.events.schema.equals(EVENTS_SCHEMA, check_metadata=True)


def test_timestamp_units_convert_to_ns():
    ts = pa.array([1, 2, 3], pa.timestamp("us"))
    result = nbengine.Engine().submit(pa.table({**ORDERS, "ts": ts}))
    assert result.events.column("ts").to_pylist()[0] == 1000


@pytest.mark.parametrize(
    "orders, message",
    [
        ({k: v for k, v in ORDERS.items() if k != "kind"}, "column 'kind': required (int8), missing"),
        ({k: v for k, v in ORDERS.items() if k != "ts"}, "column 'ts': required"),
        ({**ORDERS, "price": [100.0, 101.5, 0.0]}, "column 'price': expected int64, got double; convert"),
        ({**ORDERS, "side": [1, -1, 300]}, "column 'side': expected int8, got int64 (row 2 holds 300"),
        ({k: v for k, v in ORDERS.items() if k != "qty"}, "column 'qty': required (int64) when the batch has"),
        ({**ORDERS, "qty": [5, 5]}, "column 'qty': expected 3 rows like 'kind', got 2"),
        ({**ORDERS, "symbol": ["a", "b", "c"]}, "column 'symbol': expected int32, got string; map names"),
    ],
)
def test_schema_errors_name_column_and_types(orders, message):
    with pytest.raises(nbengine.SchemaError) as err:
        nbengine.Engine().submit(orders)
    assert message in str(err.value)


def test_arrow_nulls_and_wrong_types_are_named():
    table = pa.table({**ORDERS, "qty": pa.array([5, None, 2], pa.int64())})
    with pytest.raises(nbengine.SchemaError, match="column 'qty': expected no nulls, got a null at row 1"):
        nbengine.Engine().submit(table)
    table = pa.table({**ORDERS, "price": pa.array([1.0, 2.0, 3.0])})
    with pytest.raises(nbengine.SchemaError, match="column 'price': expected int64, got double"):
        nbengine.Engine().submit(table)
    table = pa.table({**ORDERS, "symbol": pa.array([1, 2, 2**40], pa.int64())})
    with pytest.raises(nbengine.SchemaError, match="column 'symbol': expected int32, got int64"):
        nbengine.Engine().submit(table)


def test_unsupported_input_type_is_named():
    with pytest.raises(nbengine.SchemaError, match="got list"):
        nbengine.Engine().submit([1, 2, 3])


def test_optional_columns_default_and_cancel_needs_no_side():
    engine = nbengine.Engine()
    engine.submit(ORDERS)
    result = engine.submit({"ts": [4], "order_id": [1], "kind": [codes.CANCEL]})
    assert result.events.column("event").to_pylist() == [codes.CANCELLED]


def test_input_arrays_are_not_modified_and_results_do_not_alias_buffers():
    orders = {k: np.array(v) for k, v in ORDERS.items()}
    copies = {k: v.copy() for k, v in orders.items()}
    engine = nbengine.Engine()
    first = engine.submit(orders)
    snapshot = first.events.to_pydict()
    engine.submit({**orders, "order_id": orders["order_id"] + 10})
    assert first.events.to_pydict() == snapshot
    for name in orders:
        np.testing.assert_array_equal(orders[name], copies[name])


def test_to_ticks_converts_exact_prices_and_marks_off_grid():
    ticks = nbengine.to_ticks([100.25, 100.26, 0.3, float("nan")], 0.05)
    assert ticks.tolist() == [2005, codes.PRICE_OFF_TICK, 6, codes.PRICE_OFF_TICK]
    with pytest.raises(ValueError, match="tick_size"):
        nbengine.to_ticks([1.0], 0)


def test_off_grid_prices_are_rejected_not_rounded():
    prices = nbengine.to_ticks([100.00, 100.013], 0.01)
    result = nbengine.Engine().submit({"ts": [1, 2], "order_id": [1, 2], "kind": [0, 0], "side": [1, 1],
                                       "price": prices, "qty": [1, 1]})
    assert result.events.column("reason").to_pylist() == [0, codes.OFF_TICK]
