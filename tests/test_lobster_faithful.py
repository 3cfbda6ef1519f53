"""The faithful LOBSTER order flow: submitted to a fresh Engine it trades exactly the file's executions.

Hand-made days cover each case of the replay (syncs entering and stale, unseen-id
reductions, executions of ids the engine does not hold, of uncertain orders behind
uncertain liquidity, priority exceptions); the AMZN days run when the shared data is there.
"""

import numpy as np
import pytest

import nbengine
from nbengine import state
from nbengine.codes import BUY, GTC, LIMIT
from nbengine.kernels.match import match_one
from nbengine.loaders import lobster
from nbengine.loaders.replay import (
    ORIGIN_MESSAGE,
    ORIGIN_OPENING,
    ORIGIN_REBUILD,
    ORIGIN_SYNC,
    CheckReport,
    _Day,
    _Replay,
    replay_day,
)

from .conftest import JIT_DISABLED
from .lobster_support import D, Exchange, day_files, every_rule, read_messages_quietly

TRADE_COLUMNS = ("ts", "price", "qty", "taker_order_id")


def executions(messages, price_unit=lobster.DEFAULT_PRICE_UNIT):
    """The file's type-4 rows as the trades they must become, and the named makers."""
    rows = np.flatnonzero(messages.column("type").to_numpy() == lobster.EXECUTE)
    expected = {
        "ts": messages.column("ts").to_numpy()[rows],
        "price": messages.column("price").to_numpy()[rows] // price_unit,
        "qty": messages.column("size").to_numpy()[rows],
        "taker_order_id": lobster.EXECUTION_ID_BASE + rows,
    }
    return expected, messages.column("order_id").to_numpy()[rows]


def assert_flow_trades_the_executions(day, messages):
    """Submit ``day.orders`` to a fresh engine: one trade per type 4 with its time, price and size."""
    trades = nbengine.Engine().submit(day.orders).trades
    expected, named = executions(messages)
    assert trades.num_rows == named.size, (trades.num_rows, named.size)
    for name in TRADE_COLUMNS:
        got = trades.column(name).to_numpy()
        differ = np.flatnonzero(got != expected[name])
        first = differ[0] if differ.size else None
        assert first is None, f"{name}: first difference at execution {first}: {got[first]} != {expected[name][first]}"
    makers = trades.column("maker_order_id").to_numpy()
    counts, report = day.counts, day.report
    assert int((makers == named).sum()) == counts["makers_named"]
    assert int((makers != named).sum()) == counts["makers_substituted"]
    # The maker is as named wherever the engine held the named order; otherwise one
    # placeholder / uncertain order held the whole size.
    assert counts["makers_named"] == (
        report.named + report.explainable_uncertain_named + report.explainable_uncertain_ahead
        + report.priority_exceptions
    )
    assert counts["makers_substituted"] == report.explainable_unseen
    assert counts["maker_failures"] == 0 and counts["priority_corrections"] == report.priority_exceptions
    assert np.all(np.diff(day.orders["ts"]) >= 0)
    assert {name: a.dtype for name, a in day.orders.items()} == state.ORDER_DTYPES
    return trades


def replay_engine(messages, orderbook):
    """The replay itself (its engine holds ``ts`` = add row), for comparing books."""
    replay = _Replay(_Day(messages, orderbook, lobster.DEFAULT_PRICE_UNIT), CheckReport())
    replay.run()
    return replay.engine


def book(engine):
    """Resting orders in priority order, without ``ts`` (the replay's engine keeps add rows there)."""
    orders = engine.orders().to_pydict()
    return [tuple(orders[c][k] for c in ("side", "price", "order_id", "qty")) for k in range(len(orders["ts"]))]


def check_case(ex, *, splits=(1, 2, 5)):
    """Replay a hand-made day; the flow must trade its executions and rebuild the replay's book in any batches."""
    messages, orderbook = ex.tables()
    day = replay_day(messages, orderbook)
    assert day.report.ok, str(day.report)
    trades = assert_flow_trades_the_executions(day, messages)
    engine = nbengine.Engine()
    n = day.orders["ts"].size
    cuts = sorted({0, n, *[k for k in splits if k < n]})
    batched = [engine.submit({c: v[a:b] for c, v in day.orders.items()}).trades for a, b in zip(cuts, cuts[1:])]
    assert sum(t.num_rows for t in batched) == trades.num_rows
    assert book(engine) == book(replay_engine(messages, orderbook))
    return day, trades


def test_every_rule_day():
    day, trades = check_case(every_rule())
    origin = day.origin
    assert set(np.unique(origin).tolist()) == {ORIGIN_OPENING, ORIGIN_MESSAGE, ORIGIN_SYNC, ORIGIN_REBUILD}
    assert day.counts["syncs_entering"] == 1 and day.counts["syncs_stale"] == 1
    assert day.counts["priority_exceptions"] == 1
    # Row 12, the priority exception: order 4 trades although order 3 rests ahead of it.
    assert trades.column("maker_order_id").to_pylist()[2] == 4
    assert day.source_row[origin == ORIGIN_OPENING].tolist() == [0] * 4  # two levels a side


def test_syncs_and_an_execution_of_an_entered_level():
    ex = Exchange(bids={99 * D: 100, 98 * D: 50, 97 * D: 300}, asks={101 * D: 100})
    ex.message(5, 0, 1, 100 * D, -1)
    ex.message(3, 700, 100, 99 * D, 1)  # unseen id: the opening placeholder at 99 goes; 97 enters with 300
    ex.message(1, 5, 10, 98 * D + 100, 1)  # 97 leaves the window again
    ex.change(1, 97 * D, -200)  # cancelled below the window: no message
    ex.message(3, 5, 10, 98 * D + 100, 1)  # 97 comes back with 100, not 300: stale
    ex.message(4, 701, 50, 98 * D, 1)  # unseen id: the opening placeholder at 98 holds exactly 50
    ex.message(4, 702, 60, 97 * D, 1)  # unseen id at the entered level: the sync placeholder holds 100
    day, trades = check_case(ex)
    counts = day.counts
    assert (counts["syncs_entering"], counts["shares_entering"]) == (1, 300)
    assert (counts["syncs_stale"], counts["shares_stale"]) == (1, 200)
    assert counts["unseen_id_reductions"] == 1
    assert counts["makers_substituted"] == 2
    sync = day.origin == ORIGIN_SYNC
    assert set(day.source_row[sync].tolist()) == {1, 3}  # 97 entering, then stale


def _three_uncertain_orders_at_99():
    """Bids at 99: the opening 100, then orders 5 (50) and 6 (100), made uncertain by a better bid coming and going."""
    ex = Exchange(bids={99 * D: 100}, asks={101 * D: 100}, levels=1)
    ex.message(5, 0, 1, 100 * D, -1)
    ex.message(1, 5, 50, 99 * D, 1)
    ex.message(1, 6, 100, 99 * D, 1)
    ex.message(1, 7, 10, 99 * D + 100, 1)  # 99 leaves the one-level window: 5 and 6 become uncertain
    ex.message(3, 7, 10, 99 * D + 100, 1)
    return ex


def test_an_unheld_id_executes_against_one_placeholder_of_its_size():
    ex = _three_uncertain_orders_at_99()
    ex.message(4, 800, 120, 99 * D, 1)  # a price-time IOC would take 100 + 20 from two uncertain orders
    day, trades = check_case(ex)
    assert day.report.explainable_unseen == 1
    maker = trades.column("maker_order_id").to_pylist()[0]
    assert maker >= lobster.OPENING_ID_BASE and trades.num_rows == 1 and trades.column("qty")[0].as_py() == 120
    assert day.counts["flow_rows_rebuild"] > 0


def test_an_uncertain_named_order_behind_uncertain_liquidity_is_the_maker():
    ex = _three_uncertain_orders_at_99()
    ex.message(4, 6, 100, 99 * D, 1)  # named 6, behind the opening placeholder and order 5
    ex.message(4, 5, 20, 99 * D, 1)
    day, trades = check_case(ex)
    assert trades.column("maker_order_id").to_pylist() == [6, 5]
    assert day.report.explainable_uncertain_named == 2


def test_a_priority_exception_trades_the_named_order_and_the_skipped_one_stays_ahead():
    ex = Exchange(bids={99 * D: 100}, asks={101 * D: 100})
    ex.message(5, 0, 1, 100 * D, -1)
    ex.message(3, 600, 100, 101 * D, -1)  # the opening ask goes (unseen id)
    ex.message(1, 3, 5, 101 * D, -1)
    ex.message(1, 4, 7, 101 * D, -1)
    ex.message(4, 4, 3, 101 * D, -1)  # NASDAQ fills 3 of order 4 while order 3 rests ahead
    day, _ = check_case(ex)
    engine = nbengine.Engine()
    engine.submit(day.orders)
    assert [(order_id, qty) for side, _, order_id, qty in book(engine) if side == -1] == [(3, 5), (4, 4)]
    ex.message(4, 3, 5, 101 * D, -1)  # then order 3, first in line again
    ex.message(4, 4, 4, 101 * D, -1)
    day, trades = check_case(ex)
    assert day.report.priority_exceptions == 1 and day.counts["priority_corrections"] == 1
    assert trades.column("maker_order_id").to_pylist() == [4, 3, 4]
    assert day.report.named == 2


def test_rows_and_symbol_options(tmp_path):
    messages, orderbook = every_rule().write(tmp_path, "day")
    day = lobster.faithful(messages, orderbook, rows=5, symbol=3)
    assert day.report.messages == 5 and set(day.orders["symbol"].tolist()) == {3}
    assert day.source_row.max() == 4


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::nbengine.loaders.lobster.SubNanosecondTimeWarning")
@pytest.mark.parametrize("level", [1, 5])
def test_amzn_flow_trades_are_the_files_visible_executions(level):
    messages_path, orderbook_path = day_files(level)
    # Kernels as plain Python replay a few thousand messages a second: under
    # NUMBA_DISABLE_JIT replay the first 10,000 messages only.
    rows = 10_000 if JIT_DISABLED else None
    day = lobster.faithful(messages_path, orderbook_path, rows=rows)
    assert day.report.ok, str(day.report)
    messages = read_messages_quietly(messages_path)
    if rows is not None:
        messages = messages.slice(0, rows)
    trades = assert_flow_trades_the_executions(day, messages)
    if rows is None:
        assert trades.num_rows == 8_974 and sum(trades.column("qty").to_pylist()) == 613_248
    # Any split into batches gives the same trades.
    engine = nbengine.Engine()
    n = day.orders["ts"].size
    cuts = [0, 1, 1_000, n // 2, n]
    split = [engine.submit({c: v[a:b] for c, v in day.orders.items()}).trades.num_rows for a, b in zip(cuts, cuts[1:])]
    assert sum(split) == trades.num_rows


# -- Engine.run_kernel, the public engine API the replay runs on ------------------------------


def _add_bids(st, out, cursor, n):
    """A caller's kernel (plain Python here): add bids ``cursor[0] .. n - 1``, resumable."""
    for i in range(cursor[0], n):
        status, _, _, _ = match_one(*st, *out, i, i + 1, 0, BUY, LIMIT, GTC, 100 + i % 50, 1, 0)
        if status != state.OK:
            return status, i
        cursor[0] = i + 1
    return state.OK, n


def test_run_kernel_grows_and_resumes():
    engine = nbengine.Engine()
    cursor = np.zeros(1, dtype=np.int64)
    assert engine.run_kernel(_add_bids, cursor, 5_000) == (state.OK, 5_000)
    assert engine.live_orders == 5_000 and engine.bbo().bid_qty == 100
    engine.check()


def test_run_kernel_refuses_an_engine_with_a_wal(tmp_path):
    with nbengine.Engine(wal_dir=tmp_path / "wal", durability="sync") as engine:
        with pytest.raises(ValueError, match="not on an engine with a WAL"):
            engine.run_kernel(_add_bids, np.zeros(1, dtype=np.int64), 1)


def test_run_kernel_on_a_closed_engine_raises():
    engine = nbengine.Engine()
    engine.close()
    with pytest.raises(nbengine.EngineClosedError, match="closed"):
        engine.run_kernel(_add_bids, np.zeros(1, dtype=np.int64), 1)
