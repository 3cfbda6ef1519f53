"""Two example strategies: a mid quoter with an inventory limit, and a queue-position joiner.

Both use only the public `Strategy` API; ``docs/strategy.md`` walks through them, and
``nbengine backtest ... --strategy nbengine.backtest.examples:MidQuoter`` runs one from the
command line (``--strategy-args '{"half_spread": 2}'`` sets its arguments).
"""

from ..codes import BUY, SELL
from .strategy import Strategy


class MidQuoter(Strategy):
    """One bid and one ask ``half_spread`` ticks around the mid, ``size`` lots each.

    At every wake-up it re-prices a quote whose price is off (cancel, then a new order)
    and stops quoting the side that would take its position beyond ``max_position``. The
    mid is the market's without its own quotes (``ctx.bbo(symbol, own=False)``), so it
    does not chase itself.

    Parameters
    ----------
    symbol : int
    half_spread : int
        Ticks between the mid and each quote.
    size : int
        Lots per quote.
    max_position : int
        Largest position (either sign) it may reach if both quotes filled.
    """

    def __init__(self, symbol=0, half_spread=2, size=5, max_position=50):
        self.symbol = symbol
        self.symbols = [symbol]
        self.half_spread = half_spread
        self.size = size
        self.max_position = max_position
        self.cancelling = set()

    def on_wake(self, ctx):
        quote = ctx.bbo(self.symbol, own=False)
        if quote.bid_price is None or quote.ask_price is None:
            return
        mid = (quote.bid_price + quote.ask_price) // 2
        position = ctx.position(self.symbol)
        mine = {order.side: order for order in ctx.own_orders(self.symbol) if order.order_id not in self.cancelling}
        for side in (BUY, SELL):
            price = mid - side * self.half_spread
            allowed = abs(position + side * self.size) <= self.max_position
            order = mine.get(side)
            if order is not None and (order.price != price or not allowed):
                ctx.cancel(order.order_id)
                self.cancelling.add(order.order_id)
                order = None
            if order is None and allowed:
                ctx.submit(self.symbol, side, price, self.size)

    def on_order(self, ctx, update):
        if update.request == "cancel":
            self.cancelling.discard(update.order_id)


class QueueJoiner(Strategy):
    """Join the best bid with ``size`` lots; leave when too much is queued ahead, sell what fills.

    Uses ``qty_ahead``: a resting bid with more than ``max_ahead`` lots ahead of it is
    cancelled and re-joined at the back of the then-best bid; every lot bought is offered
    ``take_profit`` ticks higher.

    Parameters
    ----------
    symbol, size : int
    max_ahead : int
        Lots queued ahead of the bid that it tolerates.
    take_profit : int
        Ticks above the buy price at which it offers what it bought.
    """

    def __init__(self, symbol=0, size=5, max_ahead=200, take_profit=2):
        self.symbol = symbol
        self.symbols = [symbol]
        self.size = size
        self.max_ahead = max_ahead
        self.take_profit = take_profit
        self.cancelling = set()

    def on_wake(self, ctx):
        quote = ctx.bbo(self.symbol)
        if quote.bid_price is None:
            return
        bids = []
        for order in ctx.own_orders(self.symbol):
            if order.side != BUY or order.order_id in self.cancelling:
                continue
            if order.qty_ahead is not None and (order.qty_ahead > self.max_ahead or order.price < quote.bid_price):
                ctx.cancel(order.order_id)
                self.cancelling.add(order.order_id)
            else:
                bids.append(order)
        if not bids and ctx.position(self.symbol) < 4 * self.size:
            ctx.submit(self.symbol, BUY, quote.bid_price, self.size)

    def on_order(self, ctx, update):
        if update.request == "cancel":
            self.cancelling.discard(update.order_id)

    def on_fill(self, ctx, fill):
        if fill.side == BUY:
            ctx.submit(self.symbol, SELL, fill.price + self.take_profit, fill.qty)


__all__ = ["MidQuoter", "QueueJoiner"]
