"""Issue 14 item 14: a LOBSTER type 2 that cancels an order's whole remaining size removes the order."""

import numpy as np
import pyarrow as pa

import nbengine
from nbengine.codes import CANCEL
from nbengine.loaders import lobster
from nbengine.loaders.replay import replay_day

D = 10_000  # one dollar in LOBSTER price units


def _messages(rows):
    names = ["time", "type", "order_id", "size", "price", "direction"]
    return lobster.messages_table(pa.table(dict(zip(names, map(list, zip(*rows))))))


def test_naive_loader_cancels_an_order_whose_whole_remaining_size_is_cancelled():
    messages = _messages([
        ("34200.1", 1, 7, 10, 100 * D, 1),
        ("34200.2", 2, 7, 4, 100 * D, 1),  # 6 left
        ("34200.3", 2, 7, 6, 100 * D, 1),  # nothing left: the order is gone
        ("34200.4", 4, 8, 5, 100 * D, 1),  # an execution of an order the file never added
    ])
    out = lobster.to_orders(messages)
    assert out.orders["kind"][2] == CANCEL
    engine = nbengine.Engine()
    result = engine.submit(out.orders)
    # Before the fix the type 2 became a MODIFY to qty 0, rejected BAD_QTY: order 7 stayed
    # live with 6 shares and the sell IOC of row 3 traded with it.
    assert result.trades.num_rows == 0
    assert engine.orders().num_rows == 0


def _day_with_a_whole_partial_cancel():
    """Bid 99 x 100 (opening) and ask 101 x 100; order 7 joins the bid, then a type 2 removes all of it."""
    messages = _messages([
        ("34200.0", 5, 0, 1, 100 * D, -1),
        ("34200.1", 1, 7, 10, 99 * D, 1),
        ("34200.2", 2, 7, 10, 99 * D, 1),
        ("34200.3", 4, 0, 100, 99 * D, 1),  # the opening placeholder's 100 shares trade
    ])
    no_bid = -9999999999  # LOBSTER's empty-bid sentinel
    orderbook = np.array([
        [[101 * D, 100, 99 * D, 100]],
        [[101 * D, 100, 99 * D, 110]],
        [[101 * D, 100, 99 * D, 100]],
        [[101 * D, 100, no_bid, 0]],
    ], dtype=np.int64)
    return messages, orderbook


def test_faithful_replay_removes_the_order_and_counts_no_order_mismatch():
    day = replay_day(*_day_with_a_whole_partial_cancel())
    # Before the fix the replay counted an order mismatch (a "partial" cancel that left nothing).
    assert day.report.ok and day.report.order_mismatches == 0, str(day.report)
    flow = day.orders
    cancels = (flow["kind"] == CANCEL) & (flow["order_id"] == 7)
    assert cancels.sum() == 1 and day.source_row[cancels].tolist() == [2]
    trades = nbengine.Engine().submit(flow).trades
    assert trades.num_rows == 1 and trades.column("maker_order_id")[0].as_py() != 7
