"""The strategy hook: own orders merged by timestamp, queued as the reference book queues them."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from nbengine.backtest import backtest
from nbengine.generate import standard_mix, to_table
from nbengine.reference import ReferenceBook
from nbengine.schema import TRADES_SCHEMA
from nbengine.strategy import QuoteAroundMid, as_columns, merge_orders, own_fill_summary

from .conftest import JIT_DISABLED, assert_columns_equal


class Recording(QuoteAroundMid):
    """The example quoter, keeping every order it returned."""

    def __init__(self, **options):
        super().__init__(**options)
        self.returned = []

    def on_batch(self, result, book):
        orders = super().on_batch(result, book)
        if orders is not None:
            self.returned.append(orders)
        return orders


def test_own_orders_get_the_queue_position_the_reference_gives_them(tmp_path):
    n = 1500 if JIT_DISABLED else 6000
    flow = standard_mix(n, seed=21, spread_ticks=8)
    pq.write_table(to_table(flow), tmp_path / "flow.parquet")
    strategy = Recording(half_spread=1, size=3)
    summary = backtest(tmp_path / "flow.parquet", tmp_path / "out", batch_rows=250, strategy=strategy, quiet=True)

    own = {name: np.concatenate([o[name] for o in strategy.returned]) for name in strategy.returned[0]}
    merged = merge_orders(as_columns(flow), own)
    reference = ReferenceBook()
    trades, _ = reference.submit(merged)
    assert_columns_equal(trades, pq.read_table(tmp_path / "out" / "trades.parquet").to_pydict(), "trades")
    assert summary["state_hash"] == reference.state_hash()

    own_rows = [i for i in range(len(trades["seq"])) if -1 in (trades["taker_account"][i], trades["maker_account"][i])]
    expected_own = {name: [values[i] for i in own_rows] for name, values in trades.items()}
    assert_columns_equal(expected_own, pq.read_table(tmp_path / "out" / "own_fills.parquet").to_pydict(), "own fills")
    assert summary["strategy"]["orders"] == len(own["ts"])
    assert summary["strategy"]["fills"] == len(own_rows) > 0


def test_merge_places_own_orders_after_replayed_rows_of_equal_time():
    replayed = as_columns({"ts": [10, 20, 20, 30], "order_id": [1, 2, 3, 4], "kind": [0, 0, 0, 0]})
    own = as_columns({"ts": [20, 5, 40, 20], "order_id": [7, 8, 9, 6], "kind": [0, 0, 0, 0]})
    merged = merge_orders(replayed, own)
    assert merged["order_id"].tolist() == [8, 1, 2, 3, 7, 6, 4, 9]
    assert merged["ts"].tolist() == sorted(merged["ts"].tolist())


def test_fill_summary_marks_inventory_to_the_mid():
    fills = pa.Table.from_pydict(
        {
            "seq": [0, 1], "ts": [1, 2], "symbol": [0, 0], "price": [100, 104], "qty": [3, 1],
            "taker_order_id": [9, 5], "maker_order_id": [5, 9], "taker_side": [1, 1],
            "taker_account": [-1, 0], "maker_account": [0, -1],
        },
        schema=TRADES_SCHEMA,
    )
    summary = own_fill_summary(fills, -1, mark_price=102)
    assert summary == {"fills": 2, "volume": 4, "inventory": 2, "cash": -300 + 104, "mark_price": 102,
                       "pnl": -300 + 104 + 2 * 102}
