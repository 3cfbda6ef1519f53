"""The LOBSTER loader on small hand-written files: exact times, every message type, opening book."""

import gzip

import numpy as np
import pyarrow as pa
import pytest

import nbengine
from nbengine.codes import CANCEL, GTC, IOC, LIMIT, MODIFY, OFF_TICK, PRICE_OFF_TICK, REJECTED, UNKNOWN_ID
from nbengine.loaders import lobster

MESSAGES = """\
34200.017459617,5,0,1,2238200,-1
34200.18960767,1,11885113,21,2238100,1
34200.18960767,1,3911376,20,2239600,-1
34200.2,2,11885113,5,2238100,1
34200.200000001,4,11885113,6,2238100,1
34201,3,11885113,10,2238100,1
34202.5,4,3911376,20,2239600,-1
34203,6,0,300,2239000,1
34204,7,0,0,-1,1
"""

ORDERBOOK_ROW_0 = "2239500,100,2231800,100,2239900,100,2230700,200\n"


@pytest.fixture
def message_file(tmp_path):
    path = tmp_path / "AMZN_message_2.csv.gz"
    path.write_bytes(gzip.compress(MESSAGES.encode()))
    return path


def test_times_are_exact_nanoseconds():
    text = ["34200.18960767", "34200", "0.000000001", "34200.000000003", "86399.1"]
    assert lobster.parse_times(text).tolist() == [
        34_200_189_607_670, 34_200_000_000_000, 1, 34_200_000_000_003, 86_399_100_000_000,
    ]
    # Through a float the fourth would come out 1 ns early: the parse must not take that road.
    assert int(float("34200.000000003") * 1e9) == 34_200_000_000_002


def test_bad_time_names_the_row():
    with pytest.raises(ValueError, match=r"'34200\.1\.2' at row 1"):
        lobster.parse_times(["1.5", "34200.1.2"])


def test_sub_nanosecond_digits_warn_and_truncate():
    with pytest.warns(lobster.SubNanosecondTimeWarning, match="1 value.*at row 1"):
        ns = lobster.parse_times(["1", "43002.632812672004"])
    assert ns.tolist() == [1_000_000_000, 43_002_632_812_672]


def test_read_messages_gzip(message_file):
    table = lobster.read_messages(message_file)
    assert table.schema == lobster.MESSAGE_SCHEMA
    assert table.column("ts").to_pylist()[:2] == [34_200_017_459_617, 34_200_189_607_670]
    assert table.column("type").to_pylist() == [5, 1, 1, 2, 4, 3, 4, 6, 7]


def test_bad_type_and_direction_name_the_row():
    base = {"time": ["1", "2"], "type": [1, 1], "order_id": [1, 2], "size": [1, 1], "price": [100, 100],
            "direction": [1, 1]}
    with pytest.raises(ValueError, match="type: .* got 9 at row 1"):
        lobster.messages_table(pa.table({**base, "type": [1, 9]}))
    with pytest.raises(ValueError, match="direction: .* got 0 at row 0"):
        lobster.messages_table(pa.table({**base, "direction": [0, 1]}))


def test_each_message_type(message_file):
    converted = lobster.to_orders(lobster.read_messages(message_file))
    orders = converted.orders
    assert converted.source_row.tolist() == [1, 2, 3, 4, 5, 6]
    assert orders["kind"].tolist() == [LIMIT, LIMIT, MODIFY, LIMIT, CANCEL, LIMIT]
    assert orders["tif"].tolist() == [GTC, GTC, GTC, IOC, GTC, IOC]
    # Type 2 removes 5 of 21: MODIFY to the remaining 16. Type 4 is the opposite side.
    assert orders["qty"].tolist() == [21, 20, 16, 6, 10, 20]
    assert orders["side"].tolist() == [1, -1, 1, -1, 1, 1]
    assert orders["price"].tolist() == [22381, 22396, 22381, 22381, 22381, 22396]
    assert orders["order_id"].tolist() == [
        11885113, 3911376, 11885113, lobster.EXECUTION_ID_BASE + 4, 11885113, lobster.EXECUTION_ID_BASE + 6,
    ]
    skipped = converted.skipped
    assert skipped.column("row").to_pylist() == [0, 7, 8]
    assert skipped.column("reason").to_pylist() == [
        lobster.SKIP_REASONS[5], lobster.SKIP_REASONS[6], lobster.SKIP_REASONS[7],
    ]


def test_replayed_messages_hit_the_named_orders(message_file):
    converted = lobster.to_orders(lobster.read_messages(message_file))
    engine = nbengine.Engine()
    result = engine.submit(converted.orders)
    trades = result.trades.to_pydict()
    assert trades["maker_order_id"] == [11885113, 3911376]
    assert trades["qty"] == [6, 20]
    assert engine.live_orders == 0  # 21 - 5 - 6 - 10 = 0 and the ask was executed in full
    assert REJECTED not in result.events.column("event").to_pylist()


def test_partial_cancel_of_an_unseen_order_is_rejected_not_lost():
    table = lobster.messages_table(pa.table({
        "time": ["1"], "type": [2], "order_id": [5], "size": [30], "price": [1000000], "direction": [-1],
    }))
    orders = lobster.to_orders(table).orders
    assert orders["kind"].tolist() == [MODIFY] and orders["qty"].tolist() == [30]
    events = nbengine.Engine().submit(orders).events.to_pydict()
    assert (events["event"], events["reason"]) == ([REJECTED], [UNKNOWN_ID])


def test_off_tick_price_is_rejected_not_rounded():
    table = lobster.messages_table(pa.table({
        "time": ["1"], "type": [1], "order_id": [5], "size": [30], "price": [2238250], "direction": [1],
    }))
    orders = lobster.to_orders(table).orders
    assert orders["price"].tolist() == [PRICE_OFF_TICK]
    events = nbengine.Engine().submit(orders).events.to_pydict()
    assert (events["event"], events["reason"]) == ([REJECTED], [OFF_TICK])
    assert lobster.to_orders(table, price_unit=50).orders["price"].tolist() == [44765]


def test_opening_book_from_orderbook_row_zero(message_file, tmp_path):
    book_path = tmp_path / "AMZN_orderbook_2.csv"
    book_path.write_text(ORDERBOOK_ROW_0 * 9)
    converted = lobster.load(message_file, book_path)
    orders = converted.orders
    assert converted.source_row[:4].tolist() == [-1, -1, -1, -1]
    assert orders["order_id"][:4].tolist() == [lobster.OPENING_ID_BASE + k for k in range(4)]
    assert orders["side"][:4].tolist() == [1, 1, -1, -1]
    assert orders["price"][:4].tolist() == [22318, 22307, 22395, 22399]
    assert orders["qty"][:4].tolist() == [100, 200, 100, 100]
    assert orders["ts"][:4].tolist() == [34_200_017_459_617] * 4
    assert converted.skipped.column("reason")[0].as_py() == lobster.OPENING_ROW_REASON


def test_ids_that_collide_with_synthetic_ones_are_refused():
    table = lobster.messages_table(pa.table({
        "time": ["1"], "type": [1], "order_id": [lobster.EXECUTION_ID_BASE], "size": [1], "price": [100],
        "direction": [1],
    }))
    with pytest.raises(ValueError, match="order_id: expected <"):
        lobster.to_orders(table)


def test_remaining_before_tracks_each_id():
    kind = np.array([1, 1, 2, 4, 2, 3, 2])
    order_id = np.array([7, 8, 7, 7, 8, 7, 9])
    size = np.array([50, 20, 5, 10, 1, 35, 3])
    remaining, added = lobster.remaining_before(kind, order_id, size)
    assert remaining.tolist() == [0, 0, 50, 45, 20, 35, 0]
    assert added.tolist() == [False, False, True, True, True, True, False]
