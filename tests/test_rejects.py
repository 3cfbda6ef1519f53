"""One test per reject reason: a REJECTED event with the reason, and the book untouched."""

import pytest

import nbengine
from nbengine import codes

BUY, SELL, LIMIT, MARKET, CANCEL, MODIFY = (
    codes.BUY, codes.SELL, codes.LIMIT, codes.MARKET, codes.CANCEL, codes.MODIFY
)


def _book():
    engine = nbengine.Engine(stp="cancel-taker", max_span_ticks=64, max_price_ticks=10_000)
    engine.submit(
        {
            "ts": [1, 2, 3],
            "order_id": [1, 2, 3],
            "kind": [LIMIT] * 3,
            "side": [BUY, SELL, SELL],
            "price": [100, 102, 103],
            "qty": [5, 5, 5],
            "account": [1, 2, 2],
        }
    )
    return engine


CASES = {
    "BAD_SIDE": (dict(kind=LIMIT, side=0, price=100, qty=1), codes.BAD_SIDE),
    "BAD_TIF": (dict(kind=LIMIT, side=BUY, price=100, qty=1, tif=7), codes.BAD_TIF),
    "BAD_TIF market post-only": (dict(kind=MARKET, side=BUY, qty=1, tif=codes.POST_ONLY), codes.BAD_TIF),
    "BAD_QTY zero": (dict(kind=LIMIT, side=BUY, price=100, qty=0), codes.BAD_QTY),
    "BAD_QTY negative": (dict(kind=MARKET, side=SELL, qty=-4), codes.BAD_QTY),
    "BAD_QTY modify": (dict(kind=MODIFY, order_id=1, price=100, qty=0), codes.BAD_QTY),
    "OFF_TICK": (dict(kind=LIMIT, side=BUY, price=codes.PRICE_OFF_TICK, qty=1), codes.OFF_TICK),
    "BAD_PRICE zero": (dict(kind=LIMIT, side=BUY, price=0, qty=1), codes.BAD_PRICE),
    "BAD_PRICE above max": (dict(kind=LIMIT, side=SELL, price=10_001, qty=1), codes.BAD_PRICE),
    "BAD_PRICE modify": (dict(kind=MODIFY, order_id=1, price=-1, qty=1), codes.BAD_PRICE),
    "BAD_KIND": (dict(kind=4, side=BUY, price=100, qty=1), codes.BAD_KIND),
    "DUPLICATE_ID": (dict(kind=LIMIT, order_id=2, side=BUY, price=99, qty=1), codes.DUPLICATE_ID),
    "UNKNOWN_ID cancel": (dict(kind=CANCEL, order_id=42), codes.UNKNOWN_ID),
    "UNKNOWN_ID cancel other symbol": (dict(kind=CANCEL, order_id=1, symbol=5), codes.UNKNOWN_ID),
    "UNKNOWN_ID modify": (dict(kind=MODIFY, order_id=42, price=100, qty=1), codes.UNKNOWN_ID),
    "WOULD_TAKE": (dict(kind=LIMIT, side=BUY, price=102, qty=1, tif=codes.POST_ONLY), codes.WOULD_TAKE),
    "FOK_UNFILLABLE": (dict(kind=LIMIT, side=BUY, price=103, qty=11, tif=codes.FOK), codes.FOK_UNFILLABLE),
    "FOK_UNFILLABLE self-trade": (
        dict(kind=LIMIT, side=BUY, price=103, qty=1, tif=codes.FOK, account=2), codes.FOK_UNFILLABLE
    ),
    "PRICE_SPAN": (dict(kind=LIMIT, side=SELL, price=100 + 64, qty=1), codes.PRICE_SPAN),
    "PRICE_SPAN modify": (dict(kind=MODIFY, order_id=1, price=103 - 64, qty=5), codes.PRICE_SPAN),
    "QTY_LIMIT": (dict(kind=MARKET, side=BUY, qty=codes.MAX_QTY + 1), codes.QTY_LIMIT),
    "QTY_LIMIT side total": (dict(kind=LIMIT, side=SELL, price=110, qty=codes.MAX_QTY - 9), codes.QTY_LIMIT),
    "QTY_LIMIT modify": (dict(kind=MODIFY, order_id=2, price=102, qty=codes.MAX_QTY), codes.QTY_LIMIT),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_row_is_rejected_and_book_untouched(case):
    fields, reason = CASES[case]
    engine = _book()
    before = engine.state_hash()
    row = {"ts": 9, "order_id": 77, "side": BUY, "price": 0, "qty": 0, "tif": codes.GTC, "symbol": 0, "account": 0}
    row.update(fields)
    result = engine.submit({name: [value] for name, value in row.items()})
    events = result.events.to_pylist()
    assert events == [
        {"seq": 3, "ts": 9, "symbol": row["symbol"], "order_id": row["order_id"], "event": codes.REJECTED,
         "reason": reason, "price": row["price"], "leaves_qty": row["qty"]}
    ]
    assert result.trades.num_rows == 0
    assert engine.state_hash() == before
    engine.check()


def test_every_reason_code_is_exercised():
    used = {reason for _, reason in CASES.values()}
    reasons = set(codes.REASON_NAMES) - {codes.NO_REASON, codes.SELF_TRADE, codes.MEMORY_BUDGET}  # budget: test_hostile
    assert reasons <= used


def test_self_trade_cancel_is_reported_with_reason():
    engine = _book()
    result = engine.submit({"ts": [9], "order_id": [9], "kind": [LIMIT], "side": [BUY], "price": [102],
                            "qty": [1], "account": [2]})
    assert [(e["event"], e["reason"]) for e in result.events.to_pylist()] == [
        (codes.ACCEPTED, 0), (codes.CANCELLED, codes.SELF_TRADE)
    ]
    assert result.trades.num_rows == 0
