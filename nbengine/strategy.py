"""Strategy hook for backtests: a read-only book view, own-order merging, an example quoter.

A strategy is any object with ``on_batch(result, book)`` returning its own orders (a dict
of order columns, or None). It sees each batch's ``SubmitResult`` and a `BookView`; the
orders it returns are merged into the replayed flow by timestamp (`merge_orders`) and
matched with it, so they wait in the queue behind what already rests at their price.
"""

import numpy as np

from . import display
from .codes import BUY, GTC, LIMIT, MODIFY, SELL
from .state import ORDER_DTYPES, OrderColumns

STRATEGY_ACCOUNT = -1
"""Account of the example strategy's orders (replayed flows use accounts >= 0)."""

STRATEGY_FIRST_ID = 1 << 62
"""First order id of the example strategy (far above replayed ids)."""


class BookView:
    """What a strategy may read of the engine: quotes, depth and its own resting orders.

    Parameters
    ----------
    engine : Engine
    account : int
        The strategy's account: `own_orders` lists resting orders of this account.
    """

    def __init__(self, engine, account):
        self._engine = engine
        self.account = account

    def bbo(self, symbol=0):
        """Best bid and offer (``Engine.bbo``)."""
        return self._engine.bbo(symbol)

    def depth(self, symbol=0, levels=10):
        """Aggregated levels (``Engine.depth``)."""
        return self._engine.depth(symbol, levels)

    def ladder(self, symbol=0, levels=10):
        """Bids and asks side by side (``Engine.ladder``)."""
        return self._engine.ladder(symbol, levels)

    def _repr_html_(self):
        return display.engine_html(self._engine, title=f"BookView (account {self.account})")

    def own_orders(self, symbol=0):
        """This account's resting orders in ``symbol``, in priority order (a ``pa.Table``)."""
        resting = self._engine.orders(symbol)
        return resting.filter(np.asarray(resting.column("account")) == self.account)


def empty_orders():
    """Zero-row order columns (writable numpy arrays of the contract dtypes)."""
    return {name: np.zeros(0, dtype) for name, dtype in ORDER_DTYPES.items()}


def as_columns(orders):
    """``orders`` (dict of array-likes; absent optional columns are 0) as contract-typed numpy."""
    n = len(orders["ts"])
    return {name: np.asarray(orders.get(name, np.zeros(n)), dtype=dtype) for name, dtype in ORDER_DTYPES.items()}


def merge_orders(replayed, own):
    """Insert ``own`` orders into ``replayed`` by timestamp; replayed rows keep their order.

    Each own order goes right after the last replayed row whose ``ts`` is <= its own (so a
    replayed row wins a tie); own orders that land at the same place keep their relative
    order. Replayed ``ts`` are assumed non-decreasing, as exchange feeds are.

    Parameters
    ----------
    replayed : OrderColumns or dict of numpy arrays
    own : dict of numpy arrays
        Contract dtypes (see `as_columns`).

    Returns
    -------
    dict of numpy arrays

    Examples
    --------
    >>> replay = as_columns({"ts": [1, 2, 2, 5], "order_id": [1, 2, 3, 4], "kind": [0, 0, 0, 0]})
    >>> mine = as_columns({"ts": [2, 0], "order_id": [90, 91], "kind": [0, 0]})
    >>> merge_orders(replay, mine)["order_id"].tolist()
    [91, 1, 2, 3, 90, 4]
    """
    replayed = replayed._asdict() if isinstance(replayed, OrderColumns) else replayed
    n_own = len(own["ts"])
    if n_own == 0:
        return dict(replayed)
    after = np.searchsorted(replayed["ts"], own["ts"], side="right")
    order = np.argsort(after, kind="stable")
    slots = after[order] + np.arange(n_own)
    total = len(replayed["ts"]) + n_own
    is_own = np.zeros(total, dtype=bool)
    is_own[slots] = True
    merged = {}
    for name in ORDER_DTYPES:
        column = np.empty(total, dtype=ORDER_DTYPES[name])
        column[is_own] = own[name][order]
        column[~is_own] = replayed[name]
        merged[name] = column
    return merged


class QuoteAroundMid:
    """Example market maker: one bid and one ask ``half_spread`` ticks around the mid.

    After every batch it re-prices its two quotes to the current mid (a MODIFY, which
    keeps queue position when only the size shrinks and goes to the back otherwise), or
    posts them when missing. Quotes are stamped ``latency_ns`` after the batch's last
    order, so they join the flow that follows.

    Parameters
    ----------
    symbol : int
    half_spread : int
        Ticks between the mid and each quote.
    size : int
        Lots per quote.
    latency_ns : int
        Reaction time added to the last seen timestamp.
    """

    def __init__(self, symbol=0, half_spread=2, size=5, latency_ns=1_000):
        self.symbol = symbol
        self.half_spread = half_spread
        self.size = size
        self.latency_ns = latency_ns
        self.account = STRATEGY_ACCOUNT
        self._next_id = STRATEGY_FIRST_ID
        self._quote_ids = {BUY: None, SELL: None}

    def on_batch(self, result, book):
        """Quote around the mid after ``result``; return the orders (or None)."""
        quote = book.bbo(self.symbol)
        if quote.bid_price is None or quote.ask_price is None or result.events.num_rows == 0:
            return None
        mid = (quote.bid_price + quote.ask_price) // 2
        ts = int(np.max(result.events.column("ts").to_numpy())) + self.latency_ns
        live = set(book.own_orders(self.symbol).column("order_id").to_pylist())
        rows = []
        for side in (BUY, SELL):
            price = mid - side * self.half_spread
            order_id = self._quote_ids[side]
            if order_id in live:
                rows.append((ts, order_id, side, MODIFY, price))
            else:
                order_id = self._quote_ids[side] = self._next_id
                self._next_id += 1
                rows.append((ts, order_id, side, LIMIT, price))
        columns = dict(zip(("ts", "order_id", "side", "kind", "price"), map(list, zip(*rows))))
        n = len(rows)
        columns.update(symbol=[self.symbol] * n, tif=[GTC] * n, qty=[self.size] * n, account=[self.account] * n)
        return as_columns(columns)


def own_fill_summary(fills, account, mark_price):
    """Inventory, cash and mark-to-market P&L of ``account`` from its fills.

    Parameters
    ----------
    fills : pyarrow.Table
        Trades in which ``account`` took part (``TRADES_SCHEMA``).
    account : int
    mark_price : int or None
        Price (ticks) to value the inventory at; None leaves ``pnl`` out.

    Returns
    -------
    dict
        ``fills``, ``volume``, ``inventory`` (lots, + long), ``cash`` and ``pnl`` (ticks x lots).
    """
    qty = np.asarray(fills.column("qty"), dtype=np.int64)
    price = np.asarray(fills.column("price"), dtype=np.int64)
    taker_side = np.asarray(fills.column("taker_side"), dtype=np.int64)
    own_side = np.where(np.asarray(fills.column("taker_account")) == account, taker_side, -taker_side)
    inventory = int(np.sum(own_side * qty))
    cash = int(-np.sum(own_side * qty * price))
    summary = {"fills": int(qty.size), "volume": int(qty.sum()), "inventory": inventory, "cash": cash}
    if mark_price is not None:
        summary["mark_price"] = int(mark_price)
        summary["pnl"] = cash + inventory * int(mark_price)
    return summary
