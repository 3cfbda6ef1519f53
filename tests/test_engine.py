"""Engine behaviour: batching, determinism, growth, views, options."""

import numpy as np
import pyarrow as pa
import pytest

import nbengine
from nbengine import codes
from nbengine.generate import standard_mix
from nbengine.reference import ReferenceBook

from .conftest import JIT_DISABLED, assert_columns_equal

N = 2000 if JIT_DISABLED else 10000


def _flow(seed=3, symbols=4):
    return standard_mix(N, seed=seed, symbols=symbols, modify=0.05, fok=0.03, post_only=0.03, accounts=2)


def _run(flow, batch, stp="cancel-both"):
    engine = nbengine.Engine(stp=stp)
    results = [engine.submit({k: v[i:i + batch] for k, v in flow.items()}) for i in range(0, N, batch)]
    return engine, pa.concat_tables([r.trades for r in results]), pa.concat_tables([r.events for r in results])


@pytest.mark.parametrize("batch", [1, 7, 1000])
def test_batch_size_does_not_change_results(batch):
    flow = _flow()
    whole, trades, events = _run(flow, N)
    split, split_trades, split_events = _run(flow, batch if not JIT_DISABLED or batch > 1 else 10)
    assert split_trades.equals(trades)
    assert split_events.equals(events)
    assert split.state_hash() == whole.state_hash()
    assert trades.num_rows > 0


def test_same_input_gives_byte_identical_outputs():
    flow = _flow(seed=11)
    first, trades_a, events_a = _run(flow, 500)
    second, trades_b, events_b = _run(flow, 500)
    for a, b in ((trades_a, trades_b), (events_a, events_b)):
        sink_a, sink_b = pa.BufferOutputStream(), pa.BufferOutputStream()
        for table, sink in ((a, sink_a), (b, sink_b)):
            with pa.ipc.new_stream(sink, table.schema) as writer:
                writer.write_table(table)
        assert sink_a.getvalue().equals(sink_b.getvalue())
    assert first.state_hash() == second.state_hash()


def test_sequence_numbers_are_gap_free_across_batches():
    flow = _flow(seed=5)
    engine, trades, events = _run(flow, 333)
    assert trades.column("seq").to_pylist() == list(range(trades.num_rows))
    assert events.column("seq").to_pylist() == list(range(events.num_rows))
    assert engine.next_seq == N


def test_many_symbols_and_deep_pool_grow_the_state():
    flow = standard_mix(N, seed=2, symbols=40)
    engine, reference = nbengine.Engine(), ReferenceBook()
    result = engine.submit(flow)
    trades, events = reference.submit(flow)
    engine.check()
    assert_columns_equal(trades, result.trades.to_pydict(), "trades")
    assert_columns_equal(events, result.events.to_pydict(), "events")
    assert engine.state_hash() == reference.state_hash()
    assert engine._state.books.shape[0] >= 40 and engine.live_orders > 0


def test_views_match_reference():
    flow = _flow(seed=9)
    engine, reference = nbengine.Engine(), ReferenceBook()
    engine.submit(flow)
    reference.submit(flow)
    for symbol in range(4):
        assert tuple(engine.bbo(symbol)) == reference.bbo(symbol)
        assert_columns_equal(reference.depth(symbol, 5), engine.depth(symbol, 5).to_pydict(), "depth")
        assert_columns_equal(reference.orders(symbol), engine.orders(symbol).to_pydict(), "orders")
    assert engine.depth(symbol=12345).num_rows == 0
    assert engine.bbo(12345) == nbengine.BBO(None, 0, None, 0)


def test_results_report_sequence_range_and_repr():
    engine = nbengine.Engine()
    result = engine.submit({"ts": [1, 2], "order_id": [1, 2], "kind": [0, 0], "side": [1, -1],
                            "price": [10, 10], "qty": [1, 1]})
    assert (result.seq_start, result.seq_end) == (0, 2)
    assert result.wait_durable() is True
    assert "1 trades, 4 events" in repr(result)
    assert "0 resting orders" in repr(engine)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"stp": "sometimes"}, "stp: expected one of"),
        ({"max_span_ticks": 1000}, "max_span_ticks: expected a power of two"),
        ({"max_span_ticks": 32}, "max_span_ticks: expected a power of two"),
        ({"max_price_ticks": 0}, "max_price_ticks: expected"),
    ],
)
def test_bad_options_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        nbengine.Engine(**kwargs)


@pytest.mark.parametrize("n", [1000, 4097, 20000])
def test_resting_memory_per_live_order_is_bounded(n):
    engine = nbengine.Engine()
    empty = engine.nbytes
    engine.submit({"ts": np.zeros(n, np.int64), "order_id": np.arange(n), "kind": np.zeros(n, np.int8),
                   "side": np.ones(n, np.int8), "price": 1000 - np.arange(n) % 100, "qty": np.ones(n, np.int64)})
    assert engine.live_orders == n
    # 88 bytes an order (README), at most doubled by growth rounding, over the live orders.
    assert (engine.nbytes - empty) / engine.live_orders <= 2 * 88 + 8


def test_public_codes_have_contract_values():
    assert (nbengine.BUY, nbengine.SELL) == (1, -1)
    assert (nbengine.LIMIT, nbengine.MARKET, nbengine.CANCEL, nbengine.MODIFY) == (0, 1, 2, 3)
    assert (nbengine.GTC, nbengine.IOC, nbengine.FOK, nbengine.POST_ONLY) == (0, 1, 2, 3)
    assert codes.REJECTED != codes.ACCEPTED


def test_empty_batch_gives_empty_tables():
    engine = nbengine.Engine()
    result = engine.submit({"ts": np.zeros(0, np.int64), "order_id": np.zeros(0, np.int64),
                            "kind": np.zeros(0, np.int8)})
    assert (result.trades.num_rows, result.events.num_rows) == (0, 0)
    assert (result.seq_start, result.seq_end) == (0, 0)


def test_scalar_path_refuses_floats_instead_of_truncating():
    engine = nbengine.Engine()
    with pytest.raises(TypeError):
        engine.submit_one(1, 1, nbengine.BUY, nbengine.LIMIT, 100.5, 1)
    assert engine.live_orders == 0 and engine.next_seq == 0
    engine.submit_one(np.int64(1), np.int32(1), np.int8(1), 0, np.int64(100), 1)
    assert engine.bbo() == nbengine.BBO(100, 1, None, 0)


def test_submit_many_hands_out_the_applied_batches_before_raising_for_a_bad_one():
    """Issue 14 #13: submit_many([good, bad]) raised with no way to tell that good was applied."""
    eng = nbengine.Engine()
    good = {"ts": [1], "order_id": [1], "kind": [0], "side": [1], "price": [100], "qty": [5]}
    bad = {"ts": [2], "order_id": [2], "kind": [0], "side": [1], "price": [100.5], "qty": [5]}
    seen = []
    with pytest.raises(nbengine.SchemaError) as caught:
        for result in eng.submit_many([good, good | {"order_id": [3]}, bad], ahead=4):
            seen.append(result.seq_start)
    assert seen == [0, 1] and caught.value.item_index == 2
    assert "item 2 was refused; the 2 before it were applied (input seq up to 2)" in caught.value.__notes__
    assert eng.bbo() == nbengine.BBO(100, 10, None, 0)


def test_submit_one_results_survive_new_output_blocks_and_equal_a_batch():
    """Scalar results are views of output blocks that are replaced when full, never overwritten."""
    n, wall = 3 * nbengine.engine.SCALAR_BLOCK_CALLS + 7, 1500
    flow = standard_mix(n, seed=5, symbols=4, modify=0.05, fok=0.03, post_only=0.03, accounts=2)
    top = int(flow["price"][:n].max())
    tail = {"ts": [n] * (wall + 1), "order_id": [10**9 + i for i in range(wall + 1)],
            "kind": [nbengine.LIMIT] * wall + [nbengine.MARKET], "side": [nbengine.SELL] * wall + [nbengine.BUY],
            "price": [top + 1 + i for i in range(wall)] + [0], "qty": [1] * wall + [10**9],
            "account": [7] * wall + [8]}
    flow = {k: np.concatenate([v[:n], np.asarray(tail.get(k, [0] * (wall + 1)), dtype=v.dtype)]) for k, v in flow.items()}
    n += wall
    batch = nbengine.Engine(stp="cancel-both").submit(flow)
    engine = nbengine.Engine(stp="cancel-both")
    fields = ("ts", "order_id", "side", "kind", "price", "qty")
    results = [
        engine.submit_one(*(int(flow[f][i]) for f in fields), symbol=int(flow["symbol"][i]), tif=int(flow["tif"][i]),
                          account=int(flow["account"][i]))
        for i in range(n + 1)
    ]
    assert results[-1].n_trades > nbengine.engine.SCALAR_BLOCK_CALLS  # the sweep needed a larger block
    assert [r.seq_start for r in results] == list(range(n + 1))
    assert_columns_equal(batch.trades.to_pydict(), pa.concat_tables([r.trades for r in results]).to_pydict(), "trades")
    assert_columns_equal(batch.events.to_pydict(), pa.concat_tables([r.events for r in results]).to_pydict(), "events")
    assert sum(r.n_events for r in results) == batch.events.num_rows


def test_submit_one_refuses_a_row_over_the_memory_budget_with_an_event():
    engine = nbengine.Engine(memory_budget=nbengine.Engine().nbytes)
    engine.submit_one(1, 1, nbengine.BUY, nbengine.LIMIT, 100, 1)
    refused = engine.submit_one(2, 2, nbengine.SELL, nbengine.LIMIT, 100 + 5000, 1)  # a wider ladder needs room
    assert refused.events.column("reason").to_pylist() == [codes.MEMORY_BUDGET]
    assert (refused.seq_start, engine.next_seq, engine.bbo()) == (1, 2, nbengine.BBO(100, 1, None, 0))
    engine.check()
