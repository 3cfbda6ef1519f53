"""A plain-Python reference order book: the oracle the numba kernels are tested against.

It implements ``docs/semantics.md`` rule by rule with dicts, deques and ``sorted``.
Nothing here is fast; everything here is meant to be obviously right.

Examples
--------
>>> book = ReferenceBook()
>>> _ = book.submit({"ts": [1], "order_id": [7], "kind": [0], "side": [-1],
...                  "price": [101], "qty": [5]})
>>> trades, events = book.submit({"ts": [2], "order_id": [8], "kind": [0], "side": [1],
...                               "price": [101], "qty": [2]})
>>> trades["price"], trades["qty"], trades["maker_order_id"]
([101], [2], [7])
>>> book.bbo()
(None, 0, 101, 3)
"""

from collections import deque
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from nbengine import codes
from nbengine.statehash import HASH_COLUMNS, state_hash

__all__ = [
    "TRADE_COLUMNS",
    "EVENT_COLUMNS",
    "DEPTH_COLUMNS",
    "ReferenceBook",
]


TRADE_COLUMNS = (
    "seq", "ts", "symbol", "price", "qty", "taker_order_id", "maker_order_id",
    "taker_side", "taker_account", "maker_account",
)
EVENT_COLUMNS = ("seq", "ts", "symbol", "order_id", "event", "reason", "price", "leaves_qty")
DEPTH_COLUMNS = ("side", "level", "price", "qty", "orders")

_SIDES = (codes.BUY, codes.SELL)
_TIFS = (codes.GTC, codes.IOC, codes.FOK, codes.POST_ONLY)


class _Row(NamedTuple):
    """One input row, every field a Python int."""

    ts: int
    order_id: int
    symbol: int
    side: int
    kind: int
    tif: int
    price: int
    qty: int
    account: int


_REQUIRED_COLUMNS = ("ts", "order_id", "kind")
_COLUMN_DEFAULTS = {"symbol": 0, "side": 0, "tif": codes.GTC, "price": 0, "qty": 0, "account": 0}


@dataclass(eq=False)
class _Order:
    """A resting order, or a taker being matched. ``qty`` is the quantity left.

    ``eq=False`` makes equality identity, so ``deque.remove`` removes this very order.
    """

    order_id: int
    side: int
    price: int
    qty: int
    account: int
    ts: int


class _Book:
    """One symbol's book: per side a dict price -> FIFO deque, and order_id -> live order."""

    def __init__(self):
        self.levels = {codes.BUY: {}, codes.SELL: {}}
        self.live = {}

    def prices_best_first(self, side):
        """Prices of ``side`` that hold orders, best first (bids high to low, asks low to high)."""
        return sorted(self.levels[side], reverse=side == codes.BUY)

    def best(self, side):
        """Best price of ``side``, or None when the side is empty."""
        if not self.levels[side]:
            return None
        return max(self.levels[side]) if side == codes.BUY else min(self.levels[side])

    def side_total(self, side):
        """Total quantity resting on ``side``."""
        return sum(order.qty for order in self.live.values() if order.side == side)

    def resting_prices(self):
        """Prices of every resting order of both sides (the set ``R`` of the span rule)."""
        return [*self.levels[codes.BUY], *self.levels[codes.SELL]]

    def add(self, order):
        """Put ``order`` at the back of its price level."""
        self.levels[order.side].setdefault(order.price, deque()).append(order)
        self.live[order.order_id] = order

    def remove(self, order):
        """Take ``order`` out of the book, dropping its level if it empties."""
        level = self.levels[order.side][order.price]
        level.remove(order)
        if not level:
            del self.levels[order.side][order.price]
        del self.live[order.order_id]


def _crosses(taker_side, limit_price, maker_price):
    """Whether a taker with ``limit_price`` (None for MARKET) may trade at ``maker_price``."""
    if limit_price is None:
        return True
    if taker_side == codes.BUY:
        return maker_price <= limit_price
    return maker_price >= limit_price


def _read_rows(orders):
    """Turn a mapping of column name -> sequence into a list of ``_Row``."""
    missing = [name for name in _REQUIRED_COLUMNS if name not in orders]
    if missing:
        raise ValueError(f"orders lack required column(s) {missing}; got {sorted(orders)}")
    n_rows = len(orders["ts"])
    columns = []
    for name in _Row._fields:
        values = orders[name] if name in orders else [_COLUMN_DEFAULTS[name]] * n_rows
        values = np.asarray(values, dtype=np.int64).reshape(-1).tolist()
        if len(values) != n_rows:
            raise ValueError(f"column {name!r} has {len(values)} rows, expected {n_rows}")
        columns.append(values)
    return [_Row(*fields) for fields in zip(*columns)]


class ReferenceBook:
    """An obviously-correct matching engine over many symbols.

    Parameters
    ----------
    stp : {"none", "cancel-taker", "cancel-maker", "cancel-both"}
        Self-trade prevention mode.
    max_span_ticks : int
        A limit price is rejected (PRICE_SPAN) when the book's resting prices and it would
        span ``max_span_ticks`` ticks or more.
    max_price_ticks : int
        Highest valid limit price.
    """

    def __init__(self, *, stp="none", max_span_ticks=1 << 20, max_price_ticks=1 << 53):
        if stp not in codes.STP_MODES:
            raise ValueError(f"stp must be one of {sorted(codes.STP_MODES)}, got {stp!r}")
        if max_span_ticks < 1 or max_price_ticks < 1:
            raise ValueError(
                f"max_span_ticks and max_price_ticks must be >= 1, "
                f"got {max_span_ticks} and {max_price_ticks}"
            )
        self._stp = codes.STP_MODES[stp]
        self._max_span_ticks = max_span_ticks
        self._max_price_ticks = max_price_ticks
        self._books = {}
        self._next_trade_seq = 0
        self._next_event_seq = 0
        self._trades = None
        self._events = None

    # ------------------------------------------------------------------ submitting

    def submit(self, orders):
        """Process rows in the order given.

        Parameters
        ----------
        orders : mapping of str to sequence
            Columns ``ts``, ``order_id``, ``kind`` (required), ``symbol``, ``side``, ``tif``,
            ``price``, ``qty``, ``account`` (0 / GTC when absent).

        Returns
        -------
        trades, events : dict of str to list of int
            Columns ``TRADE_COLUMNS`` and ``EVENT_COLUMNS``. Sequence numbers continue from
            the previous call.
        """
        rows = _read_rows(orders)
        self._trades = {name: [] for name in TRADE_COLUMNS}
        self._events = {name: [] for name in EVENT_COLUMNS}
        for row in rows:
            self._process(row)
        trades, events = self._trades, self._events
        self._trades = self._events = None
        return trades, events

    def _process(self, row):
        book = self._books.setdefault(row.symbol, _Book())
        if row.kind in (codes.LIMIT, codes.MARKET):
            self._new_order(book, row)
        elif row.kind == codes.CANCEL:
            self._cancel(book, row)
        elif row.kind == codes.MODIFY:
            self._modify(book, row)
        else:
            self._reject(row, codes.BAD_KIND)

    def _new_order(self, book, row):
        reason = self._new_order_reason(book, row)
        if reason:
            self._reject(row, reason)
            return
        is_market = row.kind == codes.MARKET
        taker = _Order(row.order_id, row.side, 0 if is_market else row.price, row.qty,
                       row.account, row.ts)
        self._event(row.ts, row.symbol, taker.order_id, codes.ACCEPTED, codes.NO_REASON,
                    taker.price, taker.qty)
        self._execute(book, row.symbol, taker, is_market, row.tif)

    def _cancel(self, book, row):
        order = book.live.get(row.order_id)
        if order is None:
            self._reject(row, codes.UNKNOWN_ID)
            return
        book.remove(order)
        self._event(row.ts, row.symbol, order.order_id, codes.CANCELLED, codes.NO_REASON,
                    order.price, order.qty)

    def _modify(self, book, row):
        reason = self._modify_reason(book, row)
        if reason:
            self._reject(row, reason)
            return
        order = book.live[row.order_id]
        if row.price == order.price and row.qty <= order.qty:
            order.qty = row.qty
            self._event(row.ts, row.symbol, order.order_id, codes.MODIFIED, codes.NO_REASON,
                        order.price, order.qty)
            return
        book.remove(order)
        self._event(row.ts, row.symbol, order.order_id, codes.MODIFIED, codes.NO_REASON,
                    row.price, row.qty)
        order.price, order.qty, order.ts = row.price, row.qty, row.ts
        self._execute(book, row.symbol, order, False, codes.GTC)

    # ------------------------------------------------------------------ validation

    def _price_reason(self, price):
        if price == codes.PRICE_OFF_TICK:
            return codes.OFF_TICK
        if price < 1 or price > self._max_price_ticks:
            return codes.BAD_PRICE
        return codes.NO_REASON

    def _span_ok(self, book, price):
        prices = [*book.resting_prices(), price]
        return max(prices) - min(prices) < self._max_span_ticks

    def _new_order_reason(self, book, row):
        is_limit = row.kind == codes.LIMIT
        if row.side not in _SIDES:
            return codes.BAD_SIDE
        if row.tif not in _TIFS or (not is_limit and row.tif == codes.POST_ONLY):
            return codes.BAD_TIF
        if row.qty <= 0:
            return codes.BAD_QTY
        if row.qty > codes.MAX_QTY:
            return codes.QTY_LIMIT
        if is_limit:
            price_reason = self._price_reason(row.price)
            if price_reason:
                return price_reason
        if row.order_id in book.live:
            return codes.DUPLICATE_ID
        rests = is_limit and row.tif in (codes.GTC, codes.POST_ONLY)
        if rests and book.side_total(row.side) + row.qty > codes.MAX_QTY:
            return codes.QTY_LIMIT
        if is_limit and not self._span_ok(book, row.price):
            return codes.PRICE_SPAN
        limit_price = row.price if is_limit else None
        if row.tif == codes.FOK and not self._fok_fillable(book, row, limit_price):
            return codes.FOK_UNFILLABLE
        if row.tif == codes.POST_ONLY:
            best_opposite = book.best(-row.side)
            if best_opposite is not None and _crosses(row.side, row.price, best_opposite):
                return codes.WOULD_TAKE
        return codes.NO_REASON

    def _modify_reason(self, book, row):
        if row.qty <= 0:
            return codes.BAD_QTY
        if row.qty > codes.MAX_QTY:
            return codes.QTY_LIMIT
        price_reason = self._price_reason(row.price)
        if price_reason:
            return price_reason
        if row.order_id not in book.live:
            return codes.UNKNOWN_ID
        target = book.live[row.order_id]
        if book.side_total(target.side) - target.qty + row.qty > codes.MAX_QTY:
            return codes.QTY_LIMIT
        if not self._span_ok(book, row.price):
            return codes.PRICE_SPAN
        return codes.NO_REASON

    def _fok_fillable(self, book, row, limit_price):
        """Walk the opposite side as matching would and count what the FOK could take."""
        counted = 0
        opposite = -row.side
        for price in book.prices_best_first(opposite):
            if not _crosses(row.side, limit_price, price):
                break
            for maker in book.levels[opposite][price]:
                if self._stp != codes.STP_NONE and maker.account == row.account:
                    if self._stp == codes.STP_CANCEL_MAKER:
                        continue
                    return False
                counted += maker.qty
                if counted >= row.qty:
                    return True
        return False

    # ------------------------------------------------------------------ matching

    def _execute(self, book, symbol, taker, is_market, tif):
        """Match ``taker`` (steps 2 and 3 of the spec), then fill, expire or rest it."""
        limit_price = None if is_market else taker.price
        if self._match(book, symbol, taker, limit_price):
            return
        if taker.qty == 0:
            self._event(taker.ts, symbol, taker.order_id, codes.FILLED, codes.NO_REASON,
                        taker.price, 0)
        elif is_market or tif in (codes.IOC, codes.FOK):
            self._event(taker.ts, symbol, taker.order_id, codes.EXPIRED, codes.NO_REASON,
                        taker.price, taker.qty)
        else:
            book.add(taker)

    def _match(self, book, symbol, taker, limit_price):
        """Trade ``taker`` against the opposite side. Returns True if STP cancelled the taker."""
        opposite = -taker.side
        while taker.qty > 0:
            best_price = book.best(opposite)
            if best_price is None or not _crosses(taker.side, limit_price, best_price):
                return False
            maker = book.levels[opposite][best_price][0]
            if self._stp != codes.STP_NONE and maker.account == taker.account:
                if self._stp in (codes.STP_CANCEL_MAKER, codes.STP_CANCEL_BOTH):
                    book.remove(maker)
                    self._event(taker.ts, symbol, maker.order_id, codes.CANCELLED,
                                codes.SELF_TRADE, maker.price, maker.qty)
                if self._stp in (codes.STP_CANCEL_TAKER, codes.STP_CANCEL_BOTH):
                    self._event(taker.ts, symbol, taker.order_id, codes.CANCELLED,
                                codes.SELF_TRADE, taker.price, taker.qty)
                    return True
                continue
            qty = min(taker.qty, maker.qty)
            self._trade(taker, maker, symbol, qty)
            taker.qty -= qty
            maker.qty -= qty
            if maker.qty == 0:
                book.remove(maker)
                self._event(taker.ts, symbol, maker.order_id, codes.FILLED, codes.NO_REASON,
                            maker.price, 0)
        return False

    # ------------------------------------------------------------------ output rows

    def _reject(self, row, reason):
        self._event(row.ts, row.symbol, row.order_id, codes.REJECTED, reason, row.price, row.qty)

    def _event(self, ts, symbol, order_id, event, reason, price, leaves_qty):
        values = (self._next_event_seq, ts, symbol, order_id, event, reason, price, leaves_qty)
        for name, value in zip(EVENT_COLUMNS, values):
            self._events[name].append(value)
        self._next_event_seq += 1

    def _trade(self, taker, maker, symbol, qty):
        values = (self._next_trade_seq, taker.ts, symbol, maker.price, qty, taker.order_id,
                  maker.order_id, taker.side, taker.account, maker.account)
        for name, value in zip(TRADE_COLUMNS, values):
            self._trades[name].append(value)
        self._next_trade_seq += 1

    # ------------------------------------------------------------------ views

    def _resting(self, symbol):
        """Resting orders of one book in priority order: bids best first, then asks, FIFO."""
        book = self._books.get(symbol, _Book())
        for side in _SIDES:
            for price in book.prices_best_first(side):
                yield from book.levels[side][price]

    def orders(self, symbol=None):
        """Resting orders in priority order.

        Parameters
        ----------
        symbol : int, optional
            One book; None lists every book by ascending symbol.

        Returns
        -------
        dict of str to list of int
            Columns ``symbol, side, price, order_id, qty, account, ts``.
        """
        symbols = sorted(self._books) if symbol is None else [symbol]
        columns = {name: [] for name in HASH_COLUMNS}
        for book_symbol in symbols:
            for order in self._resting(book_symbol):
                columns["symbol"].append(book_symbol)
                for name in HASH_COLUMNS[1:]:
                    columns[name].append(getattr(order, name))
        return columns

    def state_hash(self):
        """SHA-256 hex digest of every resting order (``nbengine.statehash.state_hash``)."""
        return state_hash(self.orders())

    def bbo(self, symbol=0):
        """Best bid and ask of one book.

        Returns
        -------
        tuple
            ``(bid_price, bid_qty, ask_price, ask_qty)``; an empty side gives ``None, 0``.
        """
        book = self._books.get(symbol, _Book())
        quote = []
        for side in _SIDES:
            price = book.best(side)
            quote += [price, 0 if price is None else sum(o.qty for o in book.levels[side][price])]
        return tuple(quote)

    def depth(self, symbol=0, levels=10):
        """Aggregated price levels of one book.

        Returns
        -------
        dict of str to list of int
            Columns ``side, level, price, qty, orders``: up to ``levels`` bid levels best
            first, then up to ``levels`` ask levels best first. Empty levels are not listed.
        """
        book = self._books.get(symbol, _Book())
        columns = {name: [] for name in DEPTH_COLUMNS}
        for side in _SIDES:
            for level, price in enumerate(book.prices_best_first(side)[:levels]):
                queue = book.levels[side][price]
                values = (side, level, price, sum(o.qty for o in queue), len(queue))
                for name, value in zip(DEPTH_COLUMNS, values):
                    columns[name].append(value)
        return columns

    def validate_book(self):
        """Assert the reference's own invariants; raises AssertionError on the first broken one.

        Every level is non-empty and holds only live orders of its side and price with
        ``qty > 0``; the id map holds exactly the orders in the levels; no book is crossed;
        prices lie in ``[1, max_price_ticks]`` and span less than ``max_span_ticks``.
        """
        for symbol, book in self._books.items():
            in_levels = 0
            for side in _SIDES:
                for price, queue in book.levels[side].items():
                    if not (queue):
                        raise AssertionError(f"symbol {symbol}: empty level {side} @ {price} kept")
                    if not (1 <= price <= self._max_price_ticks):
                        raise AssertionError(f"symbol {symbol}: price {price}")
                    for order in queue:
                        if not ((order.side, order.price) == (side, price)):
                            raise AssertionError((symbol, order))
                        if not (order.qty > 0):
                            raise AssertionError((symbol, order))
                        if not (book.live.get(order.order_id) is order):
                            raise AssertionError((symbol, order))
                        in_levels += 1
            if not (in_levels == len(book.live)):
                raise AssertionError(f"symbol {symbol}: id map holds stale orders")
            bid, ask = book.best(codes.BUY), book.best(codes.SELL)
            if not (bid is None or ask is None or bid < ask):
                raise AssertionError(f"symbol {symbol}: {bid} >= {ask}")
            prices = book.resting_prices()
            if not (not prices or max(prices) - min(prices) < self._max_span_ticks):
                raise AssertionError(symbol)
