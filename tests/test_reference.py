"""Hand-computed scenarios pinning the reference book to docs/semantics.md."""

from collections import deque

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nbengine.codes import (
    ACCEPTED, BAD_KIND, BAD_PRICE, BAD_QTY, BAD_SIDE, BAD_TIF, BUY, CANCEL, CANCELLED,
    DUPLICATE_ID, EXPIRED, FILLED, FOK, FOK_UNFILLABLE, GTC, IOC, LIMIT, MARKET, MODIFIED,
    MODIFY, NO_REASON, OFF_TICK, POST_ONLY, PRICE_OFF_TICK, PRICE_SPAN, REJECTED, SELF_TRADE,
    SELL, UNKNOWN_ID, WOULD_TAKE,
)
from nbengine.reference import EVENT_COLUMNS, TRADE_COLUMNS, ReferenceBook


def order(order_id, side=BUY, price=100, qty=1, *, kind=LIMIT, tif=GTC, ts=0, symbol=0,
          account=0):
    """One input row as a dict."""
    return dict(ts=ts, order_id=order_id, symbol=symbol, side=side, kind=kind, tif=tif,
                price=price, qty=qty, account=account)


def run(book, *rows):
    """Submit ``rows`` as one batch; return (trades, events)."""
    return book.submit({name: [row[name] for row in rows] for name in rows[0]})


def event_rows(events):
    """Events as (order_id, event, reason, price, leaves_qty) tuples."""
    return list(zip(*(events[c] for c in ("order_id", "event", "reason", "price", "leaves_qty"))))


def trade_rows(trades):
    """Trades as (price, qty, taker_order_id, maker_order_id) tuples."""
    return list(zip(*(trades[c] for c in ("price", "qty", "taker_order_id", "maker_order_id"))))


def resting(book, symbol=0):
    """Resting orders as (side, price, order_id, qty) tuples in priority order."""
    rows = book.orders(symbol)
    return list(zip(rows["side"], rows["price"], rows["order_id"], rows["qty"]))


def test_price_time_priority_across_and_within_levels():
    book = ReferenceBook()
    run(book, order(1, SELL, 101, 5, ts=1), order(2, SELL, 100, 3, ts=2),
        order(3, SELL, 100, 4, ts=3), order(4, SELL, 102, 1, ts=4))
    trades, events = run(book, order(10, BUY, 101, 10, ts=5, account=9))
    assert trade_rows(trades) == [(100, 3, 10, 2), (100, 4, 10, 3), (101, 3, 10, 1)]
    assert trades["ts"] == [5, 5, 5] and trades["taker_side"] == [BUY] * 3
    assert trades["taker_account"] == [9] * 3 and trades["maker_account"] == [0] * 3
    assert event_rows(events) == [
        (10, ACCEPTED, NO_REASON, 101, 10),
        (2, FILLED, NO_REASON, 100, 0),
        (3, FILLED, NO_REASON, 100, 0),
        (10, FILLED, NO_REASON, 101, 0),
    ]
    assert resting(book) == [(SELL, 101, 1, 2), (SELL, 102, 4, 1)]
    book.validate_book()


def test_partial_fills_keep_maker_priority_and_rest_taker_remainder():
    book = ReferenceBook()
    run(book, order(1, SELL, 100, 5), order(2, SELL, 100, 5))
    trades, events = run(book, order(3, BUY, 100, 2))
    assert trade_rows(trades) == [(100, 2, 3, 1)]
    assert resting(book) == [(SELL, 100, 1, 3), (SELL, 100, 2, 5)]
    trades, events = run(book, order(4, BUY, 101, 10, ts=7))
    assert trade_rows(trades) == [(100, 3, 4, 1), (100, 5, 4, 2)]
    assert event_rows(events)[-1] == (2, FILLED, NO_REASON, 100, 0)  # no event when resting
    assert book.orders() == dict(symbol=[0], side=[BUY], price=[101], order_id=[4], qty=[2],
                                 account=[0], ts=[7])
    assert book.bbo() == (101, 2, None, 0)


def seeded_book():
    """Bid 99 x 5 (id 1), ask 101 x 5 (id 2); span 100, max price 1000."""
    book = ReferenceBook(max_span_ticks=100, max_price_ticks=1000)
    run(book, order(1, BUY, 99, 5), order(2, SELL, 101, 5))
    return book


REJECTS = {
    "side": (order(9, side=0), BAD_SIDE),
    "side-before-qty": (order(9, side=2, qty=0), BAD_SIDE),
    "tif": (order(9, tif=4), BAD_TIF),
    "market-post-only": (order(9, kind=MARKET, tif=POST_ONLY), BAD_TIF),
    "qty-zero": (order(9, qty=0), BAD_QTY),
    "qty-negative-before-price": (order(9, qty=-1, price=0), BAD_QTY),
    "off-tick": (order(9, price=PRICE_OFF_TICK), OFF_TICK),
    "price-zero": (order(9, price=0), BAD_PRICE),
    "price-too-high": (order(9, SELL, price=1001), BAD_PRICE),
    "kind": (order(9, kind=7, side=0), BAD_KIND),
    "duplicate-before-span": (order(1, price=900), DUPLICATE_ID),
    "duplicate-market": (order(2, kind=MARKET), DUPLICATE_ID),
    "cancel-unknown": (order(42, kind=CANCEL, price=5, qty=6), UNKNOWN_ID),
    "modify-unknown": (order(42, kind=MODIFY, price=100, qty=6), UNKNOWN_ID),
    "modify-qty-before-unknown": (order(42, kind=MODIFY, qty=0), BAD_QTY),
    "modify-off-tick": (order(1, kind=MODIFY, price=PRICE_OFF_TICK, qty=5), OFF_TICK),
    "modify-bad-price": (order(1, kind=MODIFY, price=0, qty=5), BAD_PRICE),
    "modify-span": (order(1, kind=MODIFY, price=199, qty=5), PRICE_SPAN),
    "post-only-at-ask": (order(9, BUY, 101, tif=POST_ONLY), WOULD_TAKE),
    "post-only-through-bid": (order(9, SELL, 98, tif=POST_ONLY), WOULD_TAKE),
    "fok-short": (order(9, BUY, 101, 6, tif=FOK), FOK_UNFILLABLE),
    "fok-price-limited": (order(9, BUY, 100, 1, tif=FOK), FOK_UNFILLABLE),
    "span-low": (order(9, BUY, 1), PRICE_SPAN),  # 101 - 1 = 100 is not < 100
    "span-high": (order(9, SELL, 199), PRICE_SPAN),
    "span-before-fok": (order(9, BUY, 199, 6, tif=FOK), PRICE_SPAN),
}


@pytest.mark.parametrize("row, reason", REJECTS.values(), ids=REJECTS.keys())
def test_reject_reasons_leave_the_book_untouched(row, reason):
    book = seeded_book()
    before = book.state_hash()
    trades, events = run(book, {**row, "ts": 5})
    assert trades == {name: [] for name in TRADE_COLUMNS}
    assert events == dict(seq=[2], ts=[5], symbol=[0], order_id=[row["order_id"]],
                          event=[REJECTED], reason=[reason], price=[row["price"]],
                          leaves_qty=[row["qty"]])
    assert book.state_hash() == before


def test_span_rule_counts_the_modify_target_and_accepts_the_boundary():
    book = ReferenceBook(max_span_ticks=100)
    run(book, order(1, BUY, 99, 5))
    _, events = run(book, order(1, BUY, 199, 5, kind=MODIFY))  # R = {99}: 199 - 99 = 100
    assert events["reason"] == [PRICE_SPAN]
    _, events = run(book, order(1, BUY, 198, 5, kind=MODIFY), order(2, SELL, 298, 1),
                    order(3, SELL, 297, 1))
    assert events["event"] == [MODIFIED, REJECTED, ACCEPTED]
    assert events["reason"] == [NO_REASON, PRICE_SPAN, NO_REASON]
    _, events = run(book, order(4, SELL, 10**6, 6, kind=MARKET))  # MARKET has no span check
    assert event_rows(events) == [(4, ACCEPTED, NO_REASON, 0, 6), (1, FILLED, NO_REASON, 198, 0),
                                  (4, EXPIRED, NO_REASON, 0, 1)]


def test_ioc_trades_then_expires_the_rest():
    book = seeded_book()
    trades, events = run(book, order(9, BUY, 102, 8, tif=IOC), order(10, SELL, 100, 3, tif=IOC))
    assert trade_rows(trades) == [(101, 5, 9, 2)]
    assert event_rows(events) == [
        (9, ACCEPTED, NO_REASON, 102, 8),
        (2, FILLED, NO_REASON, 101, 0),
        (9, EXPIRED, NO_REASON, 102, 3),
        (10, ACCEPTED, NO_REASON, 100, 3),
        (10, EXPIRED, NO_REASON, 100, 3),
    ]
    assert resting(book) == [(BUY, 99, 1, 5)]


@pytest.mark.parametrize("tif", [GTC, IOC, FOK])
def test_market_sweeps_any_price_and_expires(tif):
    book = ReferenceBook()
    run(book, order(1, SELL, 101, 5), order(2, SELL, 500, 5))
    qty = 10 if tif == FOK else 12
    trades, events = run(book, order(9, BUY, 77, qty, kind=MARKET, tif=tif))
    assert trade_rows(trades) == [(101, 5, 9, 1), (500, 5, 9, 2)]
    last = (9, FILLED, NO_REASON, 0, 0) if tif == FOK else (9, EXPIRED, NO_REASON, 0, 2)
    assert event_rows(events)[0] == (9, ACCEPTED, NO_REASON, 0, qty)
    assert event_rows(events)[-1] == last
    assert book.orders()["order_id"] == []


def test_market_on_empty_side_expires_whole():
    _, events = run(ReferenceBook(), order(9, SELL, 0, 4, kind=MARKET))
    assert event_rows(events) == [(9, ACCEPTED, NO_REASON, 0, 4), (9, EXPIRED, NO_REASON, 0, 4)]


def test_fok_fills_completely_across_levels():
    book = ReferenceBook()
    run(book, order(1, SELL, 101, 5), order(2, SELL, 103, 5), order(3, SELL, 104, 5))
    trades, events = run(book, order(9, BUY, 103, 10, tif=FOK))
    assert trade_rows(trades) == [(101, 5, 9, 1), (103, 5, 9, 2)]
    assert event_rows(events)[-1] == (9, FILLED, NO_REASON, 103, 0)
    assert resting(book) == [(SELL, 104, 3, 5)]


def test_post_only_that_does_not_cross_rests():
    book = seeded_book()
    trades, events = run(book, order(9, BUY, 100, 2, tif=POST_ONLY))
    assert trades["seq"] == [] and event_rows(events) == [(9, ACCEPTED, NO_REASON, 100, 2)]
    assert book.bbo() == (100, 2, 101, 5)


def stp_book(stp):
    """Asks at 100, FIFO: id 1 (account 8, qty 2), id 2 (account 7, qty 3), id 3 (8, 4)."""
    book = ReferenceBook(stp=stp)
    run(book, order(1, SELL, 100, 2, account=8), order(2, SELL, 100, 3, account=7),
        order(3, SELL, 100, 4, account=8))
    return book


STP_CASES = {
    "none": ([(100, 2, 9, 1), (100, 3, 9, 2)],
             [(1, FILLED, 0, 100, 0), (2, FILLED, 0, 100, 0), (9, FILLED, 0, 100, 0)],
             [(SELL, 100, 3, 4)]),
    "cancel-maker": ([(100, 2, 9, 1), (100, 3, 9, 3)],
                     [(1, FILLED, 0, 100, 0), (2, CANCELLED, SELF_TRADE, 100, 3),
                      (9, FILLED, 0, 100, 0)],
                     [(SELL, 100, 3, 1)]),
    "cancel-taker": ([(100, 2, 9, 1)],
                     [(1, FILLED, 0, 100, 0), (9, CANCELLED, SELF_TRADE, 100, 3)],
                     [(SELL, 100, 2, 3), (SELL, 100, 3, 4)]),
    "cancel-both": ([(100, 2, 9, 1)],
                    [(1, FILLED, 0, 100, 0), (2, CANCELLED, SELF_TRADE, 100, 3),
                     (9, CANCELLED, SELF_TRADE, 100, 3)],
                    [(SELL, 100, 3, 4)]),
}


@pytest.mark.parametrize("stp, expected", STP_CASES.items(), ids=STP_CASES.keys())
def test_self_trade_prevention_modes(stp, expected):
    book = stp_book(stp)
    trades, events = run(book, order(9, BUY, 100, 5, account=7))
    expected_trades, expected_events, expected_book = expected
    assert trade_rows(trades) == expected_trades
    assert event_rows(events) == [(9, ACCEPTED, NO_REASON, 100, 5), *expected_events]
    assert resting(book) == expected_book
    book.validate_book()


def test_stp_applies_to_account_zero_and_market_taker_price_is_zero():
    book = ReferenceBook(stp="cancel-taker")
    run(book, order(1, SELL, 100, 2))
    trades, events = run(book, order(9, BUY, 0, 5, kind=MARKET))
    assert trades["seq"] == []
    assert event_rows(events)[-1] == (9, CANCELLED, SELF_TRADE, 0, 5)


@pytest.mark.parametrize("stp, qty, fillable", [
    ("none", 5, True), ("cancel-maker", 6, True), ("cancel-maker", 7, False),
    ("cancel-taker", 2, True), ("cancel-taker", 3, False), ("cancel-both", 3, False),
])
def test_fok_check_walks_like_stp_matching(stp, qty, fillable):
    book = stp_book(stp)
    before = book.state_hash()
    trades, events = run(book, order(9, BUY, 100, qty, tif=FOK, account=7))
    if fillable:
        assert sum(trades["qty"]) == qty
        assert event_rows(events)[-1] == (9, FILLED, NO_REASON, 100, 0)
    else:
        assert event_rows(events) == [(9, REJECTED, FOK_UNFILLABLE, 100, qty)]
        assert book.state_hash() == before


def two_bids():
    """Bids at 100: id 1 (qty 5, ts 1) ahead of id 2 (qty 5, ts 2)."""
    book = ReferenceBook()
    run(book, order(1, BUY, 100, 5, ts=1), order(2, BUY, 100, 5, ts=2))
    return book


@pytest.mark.parametrize("qty", [2, 5])
def test_modify_reducing_qty_keeps_priority_and_ts(qty):
    book = two_bids()
    _, events = run(book, order(1, SELL, 100, qty, kind=MODIFY, ts=9, tif=IOC, account=4))
    assert event_rows(events) == [(1, MODIFIED, NO_REASON, 100, qty)]
    assert book.orders()["order_id"] == [1, 2] and book.orders()["ts"] == [1, 2]
    assert book.orders()["side"] == [BUY, BUY] and book.orders()["account"] == [0, 0]
    trades, _ = run(book, order(3, SELL, 100, qty + 1))
    assert trade_rows(trades) == [(100, qty, 3, 1), (100, 1, 3, 2)]


@pytest.mark.parametrize("price, qty", [(100, 6), (99, 5), (101, 1)])
def test_modify_increase_or_price_change_loses_priority(price, qty):
    book = two_bids()
    trades, events = run(book, order(1, BUY, price, qty, kind=MODIFY, ts=9))
    assert trades["seq"] == [] and event_rows(events) == [(1, MODIFIED, NO_REASON, price, qty)]
    expected = sorted([(100, 2, 5, 2), (price, 1, qty, 9)], key=lambda r: -r[0])
    rows = book.orders()
    assert list(zip(rows["price"], rows["order_id"], rows["qty"], rows["ts"])) == expected


def test_marketable_modify_trades_as_gtc_limit_without_accepted():
    book = ReferenceBook(stp="cancel-maker")
    run(book, order(1, BUY, 99, 5, account=3), order(2, SELL, 101, 2, account=4),
        order(3, SELL, 102, 1, account=4))
    trades, events = run(book, order(1, SELL, 101, 5, kind=MODIFY, tif=IOC, ts=9))
    assert trades == dict(seq=[0], ts=[9], symbol=[0], price=[101], qty=[2], taker_order_id=[1],
                          maker_order_id=[2], taker_side=[BUY], taker_account=[3],
                          maker_account=[4])
    assert event_rows(events) == [(1, MODIFIED, NO_REASON, 101, 5), (2, FILLED, NO_REASON, 101, 0)]
    assert resting(book) == [(BUY, 101, 1, 3), (SELL, 102, 3, 1)]
    assert book.orders()["ts"] == [9, 0]
    _, events = run(book, order(1, BUY, 102, 1, kind=MODIFY))  # fully filled by the modify
    assert event_rows(events)[-1] == (1, FILLED, NO_REASON, 102, 0)


def test_cancel_reports_remaining_qty_and_cancel_ts():
    book = seeded_book()
    run(book, order(9, SELL, 99, 2))
    trades, events = run(book, order(1, kind=CANCEL, side=0, price=0, qty=0, ts=42))
    assert trades["seq"] == [] and events["ts"] == [42]
    assert event_rows(events) == [(1, CANCELLED, NO_REASON, 99, 3)]
    assert resting(book) == [(SELL, 101, 2, 5)]


def test_symbols_are_independent_books():
    book = ReferenceBook(max_span_ticks=10)
    run(book, order(1, SELL, 100, 5, symbol=3), order(1, BUY, 101, 5, symbol=-2),
        order(2, BUY, 500, 1, symbol=7))
    assert book.orders()["symbol"] == [-2, 3, 7]
    assert book.bbo(3) == (None, 0, 100, 5) and book.bbo(-2) == (101, 5, None, 0)
    trades, events = run(book, order(2, BUY, 100, 2, symbol=3))
    assert trades["symbol"] == [3] and trade_rows(trades) == [(100, 2, 2, 1)]
    assert book.bbo(-2) == (101, 5, None, 0) and book.bbo(1) == (None, 0, None, 0)
    _, events = run(book, order(1, kind=CANCEL, symbol=7))
    assert events["reason"] == [UNKNOWN_ID]


def test_ids_of_finished_orders_can_be_reused():
    book = ReferenceBook()
    run(book, order(1, SELL, 100, 2), order(5, BUY, 100, 2), order(6, BUY, 90, 1),
        order(6, kind=CANCEL))
    _, events = run(book, order(1, SELL, 100, 1), order(5, BUY, 90, 1), order(6, BUY, 90, 1),
                    order(6, BUY, 90, 1))
    assert events["event"] == [ACCEPTED] * 3 + [REJECTED]
    assert events["reason"][-1] == DUPLICATE_ID
    assert resting(book) == [(BUY, 90, 5, 1), (BUY, 90, 6, 1), (SELL, 100, 1, 1)]


def test_sequence_numbers_are_gap_free_across_calls():
    book = ReferenceBook()
    all_trades, all_events = [], []
    for batch in ([order(1, SELL, 100, 3), order(2, SELL, 101, 3)],
                  [order(3, BUY, 0, 4, kind=MARKET), order(9, side=0)],
                  [order(4, BUY, 101, 5)]):
        trades, events = run(book, *batch)
        assert list(trades) == list(TRADE_COLUMNS) and list(events) == list(EVENT_COLUMNS)
        all_trades += trades["seq"]
        all_events += events["seq"]
    assert all_trades == list(range(3)) and all_events == list(range(len(all_events)))
    assert len(all_events) == 8  # 2 ACCEPTED; ACCEPTED, 2 FILLED, REJECTED; ACCEPTED, FILLED


def test_numpy_input_defaults_and_outputs_are_python_ints():
    book = ReferenceBook()
    trades, events = book.submit({
        "ts": np.array([1, 2], dtype="datetime64[ns]"), "order_id": np.array([1, 2]),
        "kind": np.zeros(2, np.int8), "side": np.array([-1, 1], np.int8),
        "price": np.array([100, 100]), "qty": np.array([3, 3]),
    })
    assert trades["ts"] == [2] and all(type(v) is int for c in events.values() for v in c)
    assert book.submit({"ts": [3], "order_id": [5], "kind": [LIMIT]})[1]["reason"] == [BAD_SIDE]


@pytest.mark.parametrize("orders", [{"ts": [1], "kind": [0]},
                                    {"ts": [1, 2], "order_id": [1], "kind": [0, 0]}])
def test_malformed_input_raises(orders):
    with pytest.raises(ValueError):
        ReferenceBook().submit(orders)


def test_unknown_stp_mode_raises():
    with pytest.raises(ValueError, match="stp"):
        ReferenceBook(stp="cancel-newest")


def test_depth_and_bbo_aggregate_levels():
    book = ReferenceBook()
    run(book, order(1, BUY, 99, 2), order(2, BUY, 99, 3), order(3, BUY, 98, 1),
        order(4, BUY, 97, 1), order(5, SELL, 101, 4))
    assert book.bbo() == (99, 5, 101, 4)
    assert book.depth(levels=2) == dict(side=[BUY, BUY, SELL], level=[0, 1, 0],
                                        price=[99, 98, 101], qty=[5, 1, 4], orders=[2, 1, 1])


def test_validate_book_catches_corruption():
    book = seeded_book()
    book.validate_book()
    book._books[0].levels[BUY][100] = deque()
    with pytest.raises(AssertionError, match="empty level"):
        book.validate_book()


flows = st.lists(st.fixed_dictionaries({
    "order_id": st.integers(0, 6), "side": st.sampled_from([BUY, SELL, 0]),
    "kind": st.sampled_from([LIMIT, LIMIT, MARKET, CANCEL, MODIFY, 9]),
    "tif": st.sampled_from([GTC, GTC, IOC, FOK, POST_ONLY]), "price": st.integers(0, 12),
    "qty": st.integers(0, 5), "account": st.integers(0, 2), "symbol": st.integers(0, 1),
}), max_size=60)


@settings(max_examples=150, deadline=None)
@given(flows, st.sampled_from(["none", "cancel-taker", "cancel-maker", "cancel-both"]))
def test_random_flows_keep_invariants(rows, stp):
    book = ReferenceBook(stp=stp, max_span_ticks=8)
    n_events = n_trades = 0
    for ts, row in enumerate(rows):
        before = book.state_hash()
        trades, events = run(book, {**row, "ts": ts})
        book.validate_book()
        assert events["seq"] == list(range(n_events, n_events + len(events["seq"])))
        assert trades["seq"] == list(range(n_trades, n_trades + len(trades["seq"])))
        n_events, n_trades = n_events + len(events["seq"]), n_trades + len(trades["seq"])
        assert events["event"][0] != FILLED  # every row starts with its own event
        if events["event"] == [REJECTED]:
            assert book.state_hash() == before and trades["seq"] == []
