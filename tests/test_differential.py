"""The kernels against the plain-Python reference book, on seeded and random order flows."""

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nbengine
from nbengine import codes
from nbengine.generate import standard_mix
from nbengine.reference import ReferenceBook

from .conftest import JIT_DISABLED, assert_same_as_reference

STP_MODES = sorted(codes.STP_MODES)


def _slices(columns, bounds):
    return [{k: v[a:b] for k, v in columns.items()} for a, b in zip(bounds[:-1], bounds[1:])]


@pytest.mark.parametrize("stp", STP_MODES)
@pytest.mark.parametrize("seed", [0, 1])
def test_seeded_standard_mix_matches_reference(stp, seed):
    n = 3000 if JIT_DISABLED else 20000
    flow = standard_mix(n, seed=seed, symbols=3, modify=0.05, fok=0.03, post_only=0.03, accounts=3)
    engine, reference = nbengine.Engine(stp=stp), ReferenceBook(stp=stp)
    for batch in _slices(flow, [0, 1, 100, n // 2, n]):
        assert_same_as_reference(engine, reference, batch)
    assert engine.live_orders > 0


def test_drifting_prices_move_and_grow_the_ladder():
    """A mid that drifts thousands of ticks forces ladder moves; results stay exact."""
    n = 2000 if JIT_DISABLED else 20000
    flow = standard_mix(n, seed=7, spread_ticks=400)
    flow["price"] = flow["price"] + np.arange(n, dtype=np.int64) // 2
    engine, reference = nbengine.Engine(max_span_ticks=8192), ReferenceBook(max_span_ticks=8192)
    for batch in _slices(flow, np.linspace(0, n, 9).astype(int)):
        assert_same_as_reference(engine, reference, batch)
    assert engine.live_orders > 0


# Random flows: ids from a small range so cancels, modifies and duplicates hit live orders;
# prices mostly near 1000, sometimes far (ladder moves, PRICE_SPAN) or invalid.
_price = st.one_of(
    st.integers(980, 1020),
    st.integers(980, 1020),
    st.integers(1, 5000),
    st.sampled_from([0, -3, codes.PRICE_OFF_TICK, 1 << 53, (1 << 53) + 1]),
)
_row = st.fixed_dictionaries(
    {
        "order_id": st.integers(1, 25),
        "symbol": st.sampled_from([0, 0, 1, -7]),
        "side": st.sampled_from([codes.BUY, codes.SELL, codes.BUY, codes.SELL, 0]),
        "kind": st.sampled_from([codes.LIMIT] * 4 + [codes.MARKET, codes.CANCEL, codes.CANCEL, codes.MODIFY, 9]),
        "tif": st.sampled_from([codes.GTC] * 4 + [codes.IOC, codes.FOK, codes.POST_ONLY, 5]),
        "price": _price,
        "qty": st.one_of(st.integers(1, 30), st.sampled_from([0, -1])),
        "account": st.integers(0, 2),
    }
)


@given(
    rows=st.lists(_row, min_size=1, max_size=120),
    cuts=st.lists(st.integers(0, 120), max_size=4),
    stp=st.sampled_from(STP_MODES),
    max_span=st.sampled_from([64, 128, 1 << 20]),
)
def test_random_flows_match_reference(rows, cuts, stp, max_span):
    columns = {name: np.array([r[name] for r in rows], dtype=np.int64) for name in rows[0]}
    columns["ts"] = np.arange(len(rows), dtype=np.int64)
    engine = nbengine.Engine(stp=stp, max_span_ticks=max_span)
    reference = ReferenceBook(stp=stp, max_span_ticks=max_span)
    bounds = sorted({0, len(rows), *[c for c in cuts if c < len(rows)]})
    for batch in _slices(columns, bounds):
        assert_same_as_reference(engine, reference, batch)


@given(rows=st.lists(_row, min_size=1, max_size=60))
def test_scalar_path_equals_batch_path(rows):
    columns = {name: np.array([r[name] for r in rows], dtype=np.int64) for name in rows[0]}
    columns["ts"] = np.arange(len(rows), dtype=np.int64)
    batch_engine, scalar_engine = nbengine.Engine(stp="cancel-maker"), nbengine.Engine(stp="cancel-maker")
    batch = batch_engine.submit(columns)
    trades, events = [], []
    for i, r in enumerate(rows):
        one = scalar_engine.submit_one(
            i, r["order_id"], r["side"], r["kind"], r["price"], r["qty"],
            symbol=r["symbol"], tif=r["tif"], account=r["account"],
        )
        assert (one.seq_start, one.seq_end) == (i, i + 1)
        trades.append(one.trades)
        events.append(one.events)
    assert pa.concat_tables(trades).equals(batch.trades)
    assert pa.concat_tables(events).equals(batch.events)
    assert scalar_engine.state_hash() == batch_engine.state_hash()
