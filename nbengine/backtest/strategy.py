"""The strategy API of backtests: `Strategy`, what it reads and sends (`Context`), `Latency`, `Fees`.

A strategy subclasses `Strategy` and overrides any of its no-op methods. The backtest
(``nbengine.backtest(..., strategy=S())``) replays the order flow and calls them at market
times (the timing rules are in ``docs/strategy.md``); through the `Context` the strategy
reads the books, its own orders, position, cash and fees, and sends orders that reach the
book ``Latency.entry_ns`` later.

Examples
--------
>>> import nbengine
>>> class Join(nbengine.Strategy):
...     '''Keep one 10-lot bid at the best bid.'''
...     def on_wake(self, ctx):
...         quote = ctx.bbo(0)
...         mine = ctx.own_orders(0)
...         if quote.bid_price is not None and not mine:
...             ctx.submit(0, nbengine.BUY, quote.bid_price, 10)
"""

from typing import NamedTuple

import numpy as np

from ..codes import GTC, LIMIT

LIQUIDITY = ("maker", "taker")
"""``Fill.liquidity`` values."""

FEE_BASES = ("lot", "bps")
"""``Fees(per=...)`` values."""


class Strategy:
    """Base class of strategies: every method is optional and does nothing here.

    Attributes
    ----------
    symbols : list of int or None
        The symbols whose best bid or ask changes wake the strategy with
        ``wake_on="bbo"`` and that ``strategy.parquet`` records; None (default) = every
        symbol of the replay.
    """

    symbols = None

    def on_start(self, ctx):
        """Called once before the first replayed event (``ctx.now`` is its time)."""

    def on_wake(self, ctx):
        """A wake-up: a timer (``wake_every_ns``, ``ctx.wake_at``) or a best-price change."""

    def on_fill(self, ctx, fill):
        """One fill of an own order (a `Fill`), at its exchange time + response latency."""

    def on_order(self, ctx, update):
        """Any other update of an own order (an `OrderUpdate`): ack, reject, cancel, expiry, modify."""

    def on_end(self, ctx):
        """Called once after the last replayed event."""


class Fill(NamedTuple):
    """A fill of an own order, as the strategy receives it.

    ``ts`` is the exchange time of the trade, ``report_ts`` when the strategy learns of it
    (``ts`` + response latency); ``price`` in ticks, ``qty`` in lots; ``leaves`` the
    order's remaining quantity after it (0: done); ``fee`` (negative: a rebate) in the
    unit of `Fees`.
    """

    ts: int
    report_ts: int
    order_id: int
    symbol: int
    side: int
    price: int
    qty: int
    leaves: int
    liquidity: str
    fee: float


class OrderUpdate(NamedTuple):
    """An update of an own order other than a fill.

    ``event`` is one of "ack", "reject", "cancel", "expire", "modify"; ``reason`` the reject
    or cancel reason's name (``codes.REASON_NAMES``) or None; ``price`` and ``leaves`` as
    the exchange reported them; ``request`` the request it answers: "new", "cancel" or
    "modify" (a rejected cancel leaves the order as it was).
    """

    ts: int
    report_ts: int
    order_id: int
    symbol: int
    event: str
    reason: str | None
    price: int
    leaves: int
    request: str


class OwnOrder(NamedTuple):
    """An own order as ``ctx.own_orders`` lists it.

    ``state`` is "in_flight" until its ack reaches the strategy, then "resting".
    ``qty_ahead`` is the resting quantity ahead of it in its level's queue now (None in
    flight, or when the exchange no longer holds it but the report has not arrived yet).
    ``qty`` is the remaining quantity as the strategy knows it.
    """

    order_id: int
    symbol: int
    side: int
    price: int
    qty: int
    state: str
    qty_ahead: int | None


def _draw(value, rng, what):
    """A latency in ns from a constant or a callable of a numpy Generator."""
    ns = value(rng) if callable(value) else value
    ns = int(ns)
    if ns < 0:
        raise ValueError(f"Latency: {what} must be >= 0 ns, got {ns}")
    return ns


class Latency:
    """Order-entry and response latency (hftbacktest's two legs; feed latency folds into entry).

    An order decided at ``ctx.now = T`` reaches the book at ``T + entry``; what the exchange
    reports about it (acks, fills, cancels) reaches the strategy at the exchange time of
    the report + ``response``.

    Parameters
    ----------
    entry_ns, response_ns : int or callable
        Constants in ns, or callables ``f(rng) -> ns`` drawn per order (entry) and per
        exchange event (response) from a ``numpy.random.Generator`` seeded with ``seed``,
        so a run repeats exactly. Reports of one order keep their exchange order.
    seed : int

    Examples
    --------
    >>> Latency(entry_ns=50_000, response_ns=lambda rng: int(rng.exponential(20_000)), seed=1)
    Latency(entry_ns=50000, response_ns=<callable>, seed=1)
    """

    def __init__(self, entry_ns=0, response_ns=0, *, seed=0):
        for name, value in (("entry_ns", entry_ns), ("response_ns", response_ns)):
            if not callable(value):
                _draw(value, None, name)
        self.entry_ns = entry_ns
        self.response_ns = response_ns
        self.seed = seed
        self._rng = np.random.default_rng(seed)

    def entry(self):
        """The entry latency of the next order (ns)."""
        return _draw(self.entry_ns, self._rng, "entry_ns")

    def response(self):
        """The response latency of the next exchange event (ns)."""
        return _draw(self.response_ns, self._rng, "response_ns")

    def __repr__(self):
        def show(value):
            return "<callable>" if callable(value) else repr(value)

        return f"Latency(entry_ns={show(self.entry_ns)}, response_ns={show(self.response_ns)}, seed={self.seed})"


class Fees:
    """Maker and taker fees of own fills; negative values are rebates.

    Parameters
    ----------
    maker, taker : float
        Per lot (``per="lot"``: fee = rate x qty, in the unit of prices: ticks, or currency
        once a tick size is known) or in basis points of the traded value (``per="bps"``:
        fee = rate / 10,000 x price x qty).
    per : {"lot", "bps"}

    Examples
    --------
    >>> Fees(maker=-0.2, taker=0.3).fee("taker", price=10_000, qty=5)
    1.5
    >>> Fees(maker=-1, taker=2, per="bps").fee("maker", price=10_000, qty=5)
    -5.0
    """

    def __init__(self, maker=0.0, taker=0.0, *, per="lot"):
        if per not in FEE_BASES:
            raise ValueError(f"Fees: per must be one of {FEE_BASES}, got {per!r}")
        self.maker = float(maker)
        self.taker = float(taker)
        self.per = per

    def fee(self, liquidity, price, qty):
        """The fee of one fill (``liquidity`` "maker" or "taker")."""
        rate = self.maker if liquidity == "maker" else self.taker
        if self.per == "lot":
            return rate * qty
        return rate * price * qty / 10_000

    def __repr__(self):
        return f"Fees(maker={self.maker}, taker={self.taker}, per={self.per!r})"


class Context:
    """What a strategy reads and does; passed to every `Strategy` method.

    Attributes
    ----------
    now : int
        Exchange time of the call (ns, the replayed flow's ``ts`` unit).
    """

    def __init__(self, loop):
        self._loop = loop
        self.now = 0

    def bbo(self, symbol=0, *, own=True):
        """Best bid and offer of ``symbol`` now (``nbengine.BBO``).

        ``own=False``: the market without the strategy's own resting orders (the best
        levels holding others' orders, and only their quantity), so a quoter does not
        price off its own quotes.
        """
        if own:
            return self._loop.engine.bbo(symbol)
        return self._loop.engine.bbo(symbol, without_account=self._loop.account)

    def depth(self, symbol=0, levels=10):
        """Up to ``levels`` aggregated levels per side now (``Engine.depth``, a ``pa.Table``)."""
        return self._loop.engine.depth(symbol, levels)

    def own_orders(self, symbol=None):
        """Own orders not known to be done, in the order they were sent (`OwnOrder` list)."""
        return self._loop.own_orders(symbol)

    def position(self, symbol=0):
        """Lots held in ``symbol`` (+ long), from the fills received so far."""
        return self._loop.known.position.get(symbol, 0)

    @property
    def cash(self):
        """Cash from the fills received so far (price units x lots; buys negative), before fees."""
        return self._loop.known.total_cash()

    @property
    def fees(self):
        """Fees of the fills received so far (negative: net rebates)."""
        return self._loop.known.total_fees()

    def submit(self, symbol, side, price, qty, kind=LIMIT, tif=GTC):
        """Send a new order; it reaches the book ``Latency.entry_ns`` from now.

        Returns
        -------
        int
            The order's id (assigned by the engine; negative, never a replayed id).
        """
        return self._loop.send_new(symbol, side, price, qty, kind, tif)

    def cancel(self, order_id):
        """Send a cancel of own order ``order_id`` (its confirmation arrives as an `OrderUpdate`)."""
        self._loop.send_cancel(order_id)

    def modify(self, order_id, qty=None, price=None):
        """Send a modify: new remaining ``qty`` and/or ``price`` (None keeps the current one)."""
        self._loop.send_modify(order_id, qty, price)

    def wake_at(self, ts):
        """Ask for an ``on_wake`` at market time ``ts`` (> ``now``)."""
        self._loop.wake_at(ts)


__all__ = ["FEE_BASES", "LIQUIDITY", "Context", "Fees", "Fill", "Latency", "OrderUpdate", "OwnOrder", "Strategy"]
