"""The strategy backtest loop: replayed flow and own orders matched in time order, reports delayed.

`StrategyLoop` drives an `Engine` through ``Engine.run_kernel`` and ``kernels.stepping.match_until``: the
kernel matches replayed rows until the next due item (an own order's arrival, a report to
deliver, a timer) or a best-price change of a watched symbol, and this module acts there.
Everything it does depends on the replayed rows and the strategy only, never on where
the input was cut into batches (``docs/strategy.md`` states the timing rules).

Own orders take ids -1, -2, ... and the account ``OWN_ACCOUNT``; replayed rows may use
neither.
"""

import heapq
import itertools
import math

import numpy as np
import pyarrow as pa

from ..codes import (
    ACCEPTED,
    BAD_PRICE,
    BAD_QTY,
    BAD_SIDE,
    BAD_TIF,
    BUY,
    CANCEL,
    CANCELLED,
    EXPIRED,
    FILLED,
    FOK,
    FOK_UNFILLABLE,
    GTC,
    IOC,
    LIMIT,
    MARKET,
    MAX_QTY,
    MODIFIED,
    MODIFY,
    NO_REASON,
    POST_ONLY,
    QTY_LIMIT,
    REASON_NAMES,
    REJECTED,
    SELL,
    UNKNOWN_ID,
    WOULD_TAKE,
)
from ..kernels import stepping
from ..state import (
    E_EVENT,
    E_LEAVES,
    E_ORDER_ID,
    E_PRICE,
    E_REASON,
    E_TS,
    ORDER_DTYPES,
    T_MAKER_ACCOUNT,
    T_MAKER_ID,
    T_PRICE,
    T_QTY,
    T_TAKER_ACCOUNT,
    T_TAKER_ID,
    T_TAKER_SIDE,
    T_TS,
    OrderColumns,
)
from .strategy import Context, Fees, Fill, Latency, OrderUpdate, OwnOrder

OWN_ACCOUNT = -1
"""The account of every own order."""

WAKE_ON = (None, "bbo")
"""``wake_on`` values."""

IMPACTS = ("full", "none")
"""``impact`` values: own fills take replayed liquidity away, or never change the replayed market."""

TOUCHED_ROWS = 256
"""Watched books one group of equal timestamps may change before it counts as a change anyway."""

MAX_STEPS_AT_ONE_TIME = 1_000_000
"""Items handled at one market time before the loop gives up (a strategy answering its own
zero-latency reports with new zero-latency orders forever)."""

_ARRIVAL, _REPORT, _WAKE = 0, 1, 2  # order of items due at one time
_TIMER, _WAKE_AT = 0, 1
_NEVER = np.iinfo(np.int64).max
_UPDATE_NAMES = {ACCEPTED: "ack", REJECTED: "reject", CANCELLED: "cancel", EXPIRED: "expire", MODIFIED: "modify"}
_REQUESTS = {LIMIT: "new", MARKET: "new", CANCEL: "cancel", MODIFY: "modify"}

FILLS_SCHEMA = pa.schema(
    [
        ("ts", pa.int64()), ("report_ts", pa.int64()), ("order_id", pa.int64()), ("symbol", pa.int32()),
        ("side", pa.int8()), ("price", pa.int64()), ("qty", pa.int64()), ("leaves", pa.int64()),
        ("liquidity", pa.string()), ("fee", pa.float64()),
    ]
)
"""``own_fills.parquet``: every own fill, in exchange order."""

UPDATES_SCHEMA = pa.schema(
    [
        ("order_id", pa.int64()), ("symbol", pa.int32()), ("request", pa.string()), ("event", pa.int8()),
        ("reason", pa.int16()), ("price", pa.int64()), ("leaves", pa.int64()), ("decision_ts", pa.int64()),
        ("arrival_ts", pa.int64()), ("exchange_ts", pa.int64()), ("report_ts", pa.int64()),
    ]
)
"""``own_orders.parquet``: every exchange event of an own order, with the times of the request behind it."""

RECORDS_SCHEMA = pa.schema(
    [
        ("ts", pa.int64()), ("symbol", pa.int32()), ("bid", pa.int64()), ("ask", pa.int64()),
        ("position", pa.int64()), ("cash", pa.float64()), ("fees", pa.float64()), ("pnl", pa.float64()),
    ]
)
"""``strategy.parquet``: one row per symbol at every ``on_wake`` (P&L marked at that symbol's mid, net of fees)."""


class _Ledger:
    """Position, cash and fees per symbol from fills."""

    def __init__(self):
        self.position = {}
        self.cash = {}
        self.fees = {}

    def add(self, symbol, side, price, qty, fee):
        self.position[symbol] = self.position.get(symbol, 0) + side * qty
        self.cash[symbol] = self.cash.get(symbol, 0) - side * price * qty
        self.fees[symbol] = self.fees.get(symbol, 0.0) + fee

    def total_cash(self):
        return sum(self.cash.values())

    def total_fees(self):
        return sum(self.fees.values())

    def pnl(self, symbol, mid):
        """Cash + position at ``mid`` - fees of ``symbol``; None without a mid."""
        if mid is None:
            return None
        return self.cash.get(symbol, 0) + self.position.get(symbol, 0) * mid - self.fees.get(symbol, 0.0)


class _Reports:
    """What one exchange row tells the strategy, in the order it learns it."""

    __slots__ = ("first", "fills", "last", "silent")

    def __init__(self):
        self.first = []
        """Acks, rejects, cancels, modifies."""
        self.fills = []
        self.last = []
        """Expiries (after the fills of the same row)."""
        self.silent = []
        """``own_orders.parquet`` rows reported through fills (FILLED)."""

    def empty(self):
        return not (self.first or self.fills or self.last or self.silent)


class _Order:
    """One own order: what the strategy sent and knows, and what the exchange holds."""

    __slots__ = ("order_id", "symbol", "side", "kind", "price", "leaves", "state", "decision_ts", "arrival_ts",
                 "exchange_leaves")

    def __init__(self, order_id, symbol, side, kind, price, qty, decision_ts, arrival_ts):
        self.order_id = order_id
        self.symbol = symbol
        self.side = side
        self.kind = kind
        self.price = price
        self.leaves = qty
        self.state = "in_flight"
        self.decision_ts = decision_ts
        self.arrival_ts = arrival_ts
        self.exchange_leaves = qty


def _mid(quote):
    if quote.bid_price is None or quote.ask_price is None:
        return None
    return (quote.bid_price + quote.ask_price) / 2


def _int(name, value, column=None):
    """``value`` as a Python int that fits the order ``column``'s dtype; else an error naming the argument."""
    try:
        value = int(value.__index__())
    except AttributeError:
        raise TypeError(f"{name}: expected an integer, got {value!r}") from None
    if column is not None:
        limits = np.iinfo(ORDER_DTYPES[column])
        if not limits.min <= value <= limits.max:
            raise ValueError(f"{name}: expected {ORDER_DTYPES[column]} ({limits.min}..{limits.max}), got {value}")
    return value


class StrategyLoop:
    """Replay order batches through ``engine`` with ``strategy`` acting on them.

    Parameters
    ----------
    engine : Engine
        An engine without a WAL, used only by this loop.
    strategy : nbengine.Strategy
    latency : Latency, optional
    fees : Fees, optional
    wake_every_ns : int, optional
        ``on_wake`` at every multiple of this many ns of market time.
    wake_on : {None, "bbo"}
        ``"bbo"``: ``on_wake`` at every time whose events changed the best bid or ask
        (price or quantity) of a symbol in ``strategy.symbols`` (all when None).
    impact : {"full", "none"}
        ``"none"``: own orders never change the replayed market (``docs/strategy.md``).
    flush : callable
        ``flush(trades, events)`` takes the int64 output rows (``state.T_*`` / ``E_*``) as
        they accumulate, in order; they are views, valid during the call.
    flush_rows : int
        Output rows gathered before ``flush`` is called.
    """

    def __init__(self, engine, strategy, *, latency=None, fees=None, wake_every_ns=None, wake_on=None,
                 impact="full", flush, flush_rows=1 << 16):
        if impact not in IMPACTS:
            raise ValueError(f"impact: expected one of {IMPACTS}, got {impact!r}")
        if wake_on not in WAKE_ON:
            raise ValueError(f"wake_on: expected one of {WAKE_ON}, got {wake_on!r}")
        if wake_every_ns is not None and _int("wake_every_ns", wake_every_ns) <= 0:
            raise ValueError(f"wake_every_ns: expected a positive number of ns, got {wake_every_ns}")
        self.engine = engine
        self.account = OWN_ACCOUNT
        self.strategy = strategy
        self.latency = latency if latency is not None else Latency()
        self.fees = fees if fees is not None else Fees()
        self.wake_every_ns = None if wake_every_ns is None else int(wake_every_ns)
        symbols = getattr(strategy, "symbols", None)
        self.symbols = None if symbols is None else sorted({_int("Strategy.symbols", s) for s in symbols})
        watch = stepping.WATCH_NONE if wake_on is None else (
            stepping.WATCH_ALL if self.symbols is None else stepping.WATCH_LISTED
        )
        self.watched = np.array(self.symbols or [], dtype=np.int64)
        self.ctl = stepping.new_control(OWN_ACCOUNT, watch)
        self.touched = np.zeros((TOUCHED_ROWS, 5), dtype=np.int64)
        self.own_row = OrderColumns(*(np.zeros(1, dtype=dtype) for dtype in ORDER_DTYPES.values()))
        self.shadowed = impact == "none"
        self.shadow = np.zeros((16 if self.shadowed else 0, stepping.S_FIELDS), dtype=np.int64)
        self.shadow_fills = np.zeros((self.shadow.shape[0], stepping.F_FIELDS), dtype=np.int64)
        self.shadow_rows = {}
        self.free_shadow_rows = []
        self.crossing = np.zeros((64, 2), dtype=np.int64)
        self.flush = flush
        self.flush_rows = flush_rows
        self.heap = []
        self.tiebreak = itertools.count()
        self.orders = {}
        self.open = {}
        self.next_id = -1
        self.known = _Ledger()
        self.truth = _Ledger()
        self.ctx = Context(self)
        self.fills = []
        self.updates = []
        self.records = []
        self.scanned_trades = 0
        self.scanned_events = 0
        self.last_report_ts = np.iinfo(np.int64).min
        self.last_ts = None
        self.sent = {"new": 0, "cancel": 0, "modify": 0}
        self.sent_qty = 0
        self.max_position = {}
        self.turnover = 0
        self.consumed = set()
        self.on_consumed = {"rejected": 0, "modified": 0}

    # -- what the strategy calls (through Context) ---------------------------------------

    def send_new(self, symbol, side, price, qty, kind, tif):
        symbol, side, price, qty, kind, tif = (
            _int(f"submit: {n}", v, n) for n, v in
            (("symbol", symbol), ("side", side), ("price", price), ("qty", qty), ("kind", kind), ("tif", tif))
        )
        if kind not in (LIMIT, MARKET):
            raise ValueError(f"submit: kind must be LIMIT or MARKET (use cancel/modify), got {kind}")
        order_id = self.next_id
        self.next_id -= 1
        now = self.ctx.now
        arrival = now + self.latency.entry()
        self.orders[order_id] = self.open[order_id] = _Order(order_id, symbol, side, kind, price, qty, now, arrival)
        self.sent["new"] += 1
        self.sent_qty += max(qty, 0)
        self._push(arrival, _ARRIVAL, (now, arrival, order_id, symbol, side, kind, tif, price, qty))
        return order_id

    def _own(self, order_id, what):
        order = self.orders.get(order_id)
        if order is None:
            raise ValueError(f"{what}: {order_id!r} is not an order this strategy sent")
        return order

    def send_cancel(self, order_id):
        order = self._own(order_id, "cancel")
        now = self.ctx.now
        self.sent["cancel"] += 1
        self._push(now + self.latency.entry(), _ARRIVAL, (now, None, order_id, order.symbol, 0, CANCEL, 0, 0, 0))

    def send_modify(self, order_id, qty, price):
        order = self._own(order_id, "modify")
        qty = order.leaves if qty is None else _int("modify: qty", qty, "qty")
        price = order.price if price is None else _int("modify: price", price, "price")
        now = self.ctx.now
        self.sent["modify"] += 1
        self._push(now + self.latency.entry(), _ARRIVAL, (now, None, order_id, order.symbol, 0, MODIFY, 0, price, qty))

    def wake_at(self, ts):
        ts = _int("wake_at", ts, "ts")
        if ts <= self.ctx.now:
            raise ValueError(f"wake_at: expected a time after now ({self.ctx.now}), got {ts}")
        self._push(ts, _WAKE, _WAKE_AT)

    def own_orders(self, symbol):
        listed = [order for order in self.open.values() if symbol is None or order.symbol == symbol]
        resting = [order for order in listed if order.state == "resting"]
        ahead = {}
        if resting and self.shadowed:
            rows = self.shadow_rows
            ahead = {o.order_id: int(self.shadow[rows[o.order_id], stepping.S_AHEAD]) for o in resting
                     if o.order_id in rows}
        elif resting:
            queue = self.engine.qty_ahead([o.symbol for o in resting], [o.order_id for o in resting]).tolist()
            ahead = {order.order_id: None if n < 0 else n for order, n in zip(resting, queue)}
        return [
            OwnOrder(order.order_id, order.symbol, order.side, order.price, order.leaves, order.state,
                     ahead.get(order.order_id))
            for order in listed
        ]

    # -- the replay -----------------------------------------------------------------------

    def run(self, batches):
        """Replay ``batches`` (``OrderColumns``), then end; returns the strategy's summary."""
        started = False
        for columns in batches:
            if columns.ts.shape[0] == 0:
                continue
            self._check_replayed(columns)
            if not started:
                started = True
                self._start(int(columns.ts[0]))
            self._replay(columns)
        if started:
            self._end()
        return self.summary()

    def _check_replayed(self, columns):
        ts = columns.ts
        bad = np.flatnonzero(ts[1:] < ts[:-1])
        if bad.size or (self.last_ts is not None and ts[0] < self.last_ts):
            at = int(bad[0]) + 1 if bad.size else 0
            before = int(ts[at - 1]) if at else self.last_ts
            raise ValueError(f"ts: a strategy backtest needs non-decreasing times, got {int(ts[at])} after {before}")
        if (columns.order_id < 0).any():
            raise ValueError(f"order_id: negative ids are the strategy's, got {int(columns.order_id.min())} in the replay")
        if (columns.account == OWN_ACCOUNT).any():
            raise ValueError(f"account: {OWN_ACCOUNT} is the strategy's account, found in the replay")
        self.last_ts = int(ts[-1])

    def _start(self, first_ts):
        self.ctx.now = first_ts
        if self.wake_every_ns is not None:
            every = self.wake_every_ns
            self._push(-(-first_ts // every) * every, _WAKE, _TIMER)
        self.strategy.on_start(self.ctx)

    def _replay(self, columns):
        ctl = self.ctl
        ctl[stepping.C_ROW] = 0
        ctl[stepping.C_REPLAYED] = 1
        while True:
            ctl[stepping.C_BOUND] = self.heap[0][0] if self.heap else _NEVER
            _, code = self.engine.run_kernel(stepping.match_until, columns, ctl, self.touched, self.watched,
                                             self.shadow, self.shadow_fills)
            if code == stepping.STOP_OWN and self.shadowed:
                self._shadow_filled()
            elif code == stepping.STOP_OWN:
                self._harvest(int(columns.ts[ctl[stepping.C_ROW] - 1]), None)
            elif code == stepping.STOP_BOUND:
                self._step(int(ctl[stepping.C_BOUND]))
            elif code == stepping.STOP_BBO:
                self._step(int(ctl[stepping.C_STOP_TS]), wake=True)
            else:
                break
            self._maybe_flush()
        self._maybe_flush()

    def _end(self):
        end = self.last_ts
        while True:
            while self.heap and self.heap[0][0] <= end:
                due = self.heap[0][0]
                self._close_group_before(due)
                if self.heap and self.heap[0][0] == due:
                    self._step(due)
            if self.ctl[stepping.C_GROUP_TS] == stepping.NO_GROUP:
                break
            # The last group may wake the strategy, whose orders may arrive by the end.
            self._close_group_before(_NEVER)
        self.ctx.now = end
        self.strategy.on_end(self.ctx)
        self._maybe_flush(at_least=1)

    def _close_group_before(self, ts):
        """Close the open group if it is older than ``ts``; wake the strategy if it changed a best price."""
        group_ts = int(self.ctl[stepping.C_GROUP_TS])
        if group_ts == stepping.NO_GROUP or group_ts >= ts:
            return
        if self.engine.run_kernel(stepping.close_group, self.ctl, self.touched)[1]:
            self._step(group_ts, wake=True)

    def _push(self, ts, kind, payload):
        heapq.heappush(self.heap, (ts, kind, next(self.tiebreak), payload))

    def _step(self, now, wake=False):
        """Handle everything due at ``now``: arrivals, then reports, then one ``on_wake``."""
        self.ctx.now = now
        heap = self.heap
        for _ in range(MAX_STEPS_AT_ONE_TIME):
            if heap and heap[0][0] == now:
                _, kind, _, payload = heapq.heappop(heap)
                if kind == _ARRIVAL:
                    self._arrive(now, payload)
                elif kind == _REPORT:
                    self._deliver(payload)
                else:
                    wake = True
                    if payload == _TIMER:
                        self._push(now + self.wake_every_ns, _WAKE, _TIMER)
                continue
            if wake and self.ctl[stepping.C_WAKE_TS] != now:
                self.ctl[stepping.C_WAKE_TS] = now
                wake = False
                self._record(now)
                self.strategy.on_wake(self.ctx)
                continue
            return
        raise RuntimeError(f"the strategy handled {MAX_STEPS_AT_ONE_TIME:,} items at time {now} without time moving on")

    def _arrive(self, now, payload):
        if self.shadowed:
            self._arrive_shadowed(now, payload)
            return
        decision_ts, _, order_id, symbol, side, kind, tif, price, qty = payload
        columns = self.own_row
        for column, value in zip(columns, (now, order_id, symbol, side, kind, tif, price, qty, OWN_ACCOUNT)):
            column[0] = value
        ctl = self.ctl
        row, replayed = ctl[stepping.C_ROW], ctl[stepping.C_REPLAYED]
        ctl[stepping.C_ROW] = 0
        ctl[stepping.C_REPLAYED] = 0
        ctl[stepping.C_BOUND] = now
        _, code = self.engine.run_kernel(stepping.match_until, columns, ctl, self.touched, self.watched,
                                         self.shadow, self.shadow_fills)
        if code != stepping.STOP_INPUT:
            raise RuntimeError(f"an own order arriving at {now} stopped the kernel with code {code}")
        ctl[stepping.C_ROW] = row
        ctl[stepping.C_REPLAYED] = replayed
        self._harvest(now, (kind, decision_ts, now))

    # -- impact="none": own orders outside the book ----------------------------------------

    def _arrive_shadowed(self, now, payload):
        """Apply an own request to the shadow book (``kernels.stepping``): the replayed book is only read."""
        decision_ts, _, order_id, symbol, side, kind, tif, price, qty = payload
        order = self.orders[order_id]
        request = (kind, decision_ts, now)
        reports = _Reports()
        row = self.shadow_rows.get(order_id)
        if kind == CANCEL:
            if row is None:
                self._event(reports, order, request, REJECTED, UNKNOWN_ID, 0, 0, now)
            else:
                self._event(reports, order, request, CANCELLED, NO_REASON, int(self.shadow[row, stepping.S_PRICE]),
                            int(self.shadow[row, stepping.S_LEAVES]), now)
                self._unshadow(order_id)
        elif kind == MODIFY:
            reason = BAD_QTY if qty <= 0 else QTY_LIMIT if qty > MAX_QTY else self._price_reason(price)
            if reason == NO_REASON and row is None:
                reason = UNKNOWN_ID
            if reason != NO_REASON:
                self._event(reports, order, request, REJECTED, reason, price, qty, now)
            elif price == self.shadow[row, stepping.S_PRICE] and qty <= self.shadow[row, stepping.S_LEAVES]:
                self.shadow[row, stepping.S_LEAVES] = qty
                self._event(reports, order, request, MODIFIED, NO_REASON, price, qty, now)
            else:
                side = int(self.shadow[row, stepping.S_SIDE])
                self._unshadow(order_id)
                self._event(reports, order, request, MODIFIED, NO_REASON, price, qty, now)
                self._take_shadowed(reports, order, request, now, side, LIMIT, GTC, price, qty)
        else:
            reason = self._new_order_reason(side, kind, tif, price, qty)
            if reason != NO_REASON:
                self._event(reports, order, request, REJECTED, reason, price, qty, now)
            else:
                self._take_shadowed(reports, order, request, now, side, kind, tif, price, qty, accept=True)
        self._schedule(now, reports)

    def _price_reason(self, price):
        return BAD_PRICE if price < 1 or price > self.engine.max_price_ticks else NO_REASON

    def _new_order_reason(self, side, kind, tif, price, qty):
        """The engine's checks of a new order (docs/semantics.md) that apply outside the book."""
        if side not in (BUY, SELL):
            return BAD_SIDE
        if tif not in (GTC, IOC, FOK, POST_ONLY) or (kind == MARKET and tif == POST_ONLY):
            return BAD_TIF
        if qty <= 0:
            return BAD_QTY
        if qty > MAX_QTY:
            return QTY_LIMIT
        return NO_REASON if kind == MARKET else self._price_reason(price)

    def _take_shadowed(self, reports, order, request, now, side, kind, tif, price, qty, accept=False):
        """Take the displayed liquidity an order crosses without removing it; rest or expire the rest."""
        is_market = kind == MARKET
        while True:
            _, n, same = self.engine.run_kernel(stepping.crossing_levels, order.symbol, side, price, is_market,
                                                self.crossing)
            if n < self.crossing.shape[0]:
                break
            self.crossing = np.zeros((2 * n, 2), dtype=np.int64)
        levels = self.crossing[:n].tolist()
        event_price = 0 if is_market else price
        if tif == FOK and sum(level_qty for _, level_qty in levels) < qty:
            self._event(reports, order, request, REJECTED, FOK_UNFILLABLE, event_price, qty, now)
            return
        if tif == POST_ONLY and levels:
            self._event(reports, order, request, REJECTED, WOULD_TAKE, event_price, qty, now)
            return
        if accept:
            self._event(reports, order, request, ACCEPTED, NO_REASON, event_price, qty, now)
        order.exchange_leaves = leaves = qty
        for level_price, level_qty in levels:
            if leaves == 0:
                break
            fill = min(leaves, level_qty)
            leaves -= fill
            self._fill(reports, order, now, side, level_price, fill, "taker")
        if leaves == 0:
            self._event(reports, order, request, FILLED, NO_REASON, event_price, 0, now)
        elif is_market or tif in (IOC, FOK):
            self._event(reports, order, request, EXPIRED, NO_REASON, event_price, leaves, now)
        else:
            self._shadow_rest(order, side, price, leaves, now, same)

    def _shadow_rest(self, order, side, price, leaves, now, ahead):
        if self.free_shadow_rows:
            row = self.free_shadow_rows.pop()
        else:
            row = int(self.ctl[stepping.C_N_SHADOW])
            if row == self.shadow.shape[0]:
                self.shadow = np.concatenate([self.shadow, np.zeros_like(self.shadow)])
                self.shadow_fills = np.zeros((self.shadow.shape[0], stepping.F_FIELDS), dtype=np.int64)
            self.ctl[stepping.C_N_SHADOW] = row + 1
        self.shadow[row] = (order.order_id, order.symbol, side, price, leaves, now, ahead, 1)
        self.shadow_rows[order.order_id] = row

    def _unshadow(self, order_id):
        row = self.shadow_rows.pop(order_id)
        self.shadow[row, stepping.S_LIVE] = 0
        self.free_shadow_rows.append(row)

    def _shadow_filled(self):
        """Report the shadow fills the kernel wrote for the replayed row it stopped after."""
        count = int(self.ctl[stepping.C_N_FILLS])
        self.ctl[stepping.C_N_FILLS] = 0
        reports = _Reports()
        ts = None
        for ts, _, row, qty in self.shadow_fills[:count].tolist():
            order_id = int(self.shadow[row, stepping.S_ID])
            order = self.orders[order_id]
            side, price = int(self.shadow[row, stepping.S_SIDE]), int(self.shadow[row, stepping.S_PRICE])
            self._fill(reports, order, ts, side, price, qty, "maker")
            if self.shadow[row, stepping.S_LIVE] == 0:
                self._event(reports, order, None, FILLED, NO_REASON, price, 0, ts)
                self.shadow_rows.pop(order_id)
                self.free_shadow_rows.append(row)
        if ts is not None:
            self._schedule(ts, reports)

    def _harvest(self, exchange_ts, request):
        """Turn the own orders' new output rows into reports, delivered after a response latency.

        ``request`` is ``(kind, decision_ts, arrival_ts)`` of an own row, None for a replayed
        row that filled own orders.
        """
        trades, events = self.engine.output_rows()
        new_trades = trades[self.scanned_trades:]
        new_events = events[self.scanned_events:]
        self.scanned_trades = trades.shape[0]
        self.scanned_events = events.shape[0]
        reports = _Reports()
        orders = self.orders
        for event in new_events[new_events[:, E_ORDER_ID] < 0].tolist():
            self._event(reports, orders[event[E_ORDER_ID]], request, event[E_EVENT], event[E_REASON], event[E_PRICE],
                        event[E_LEAVES], event[E_TS])
        own = (new_trades[:, T_TAKER_ACCOUNT] == OWN_ACCOUNT) | (new_trades[:, T_MAKER_ACCOUNT] == OWN_ACCOUNT)
        for trade in new_trades[own].tolist():
            taker_side = trade[T_TAKER_SIDE]
            if trade[T_TAKER_ACCOUNT] == OWN_ACCOUNT:
                if trade[T_MAKER_ACCOUNT] != OWN_ACCOUNT:
                    self.consumed.add(trade[T_MAKER_ID])
                self._fill(reports, orders[trade[T_TAKER_ID]], trade[T_TS], taker_side, trade[T_PRICE], trade[T_QTY],
                           "taker")
            if trade[T_MAKER_ACCOUNT] == OWN_ACCOUNT:
                self._fill(reports, orders[trade[T_MAKER_ID]], trade[T_TS], -taker_side, trade[T_PRICE], trade[T_QTY],
                           "maker")
        self._schedule(exchange_ts, reports)

    def _event(self, reports, order, request, code, reason, price, leaves, exchange_ts):
        """Record an exchange event of an own order; queue its report (fills report FILLED)."""
        kind, decision_ts, arrival_ts = request if request is not None else (
            order.kind, order.decision_ts, order.arrival_ts
        )
        self.updates.append([order.order_id, order.symbol, _REQUESTS[kind], code, reason, price, leaves, decision_ts,
                             arrival_ts, exchange_ts])
        if code == MODIFIED:
            order.exchange_leaves = leaves
        index = len(self.updates) - 1
        if code in _UPDATE_NAMES:
            update = [exchange_ts, order.order_id, order.symbol, _UPDATE_NAMES[code],
                      REASON_NAMES[reason] if reason else None, price, leaves, _REQUESTS[kind]]
            (reports.last if code == EXPIRED else reports.first).append(("update", update, index))
        else:
            reports.silent.append(index)

    def _fill(self, reports, order, ts, side, price, qty, liquidity):
        """Record a fill of an own order in the exchange's books of the run; queue its report."""
        order.exchange_leaves -= qty
        fee = self.fees.fee(liquidity, price, qty)
        self.truth.add(order.symbol, side, price, qty, fee)
        position = abs(self.truth.position[order.symbol])
        self.max_position[order.symbol] = max(self.max_position.get(order.symbol, 0), position)
        self.turnover += price * qty
        fill = [ts, order.order_id, order.symbol, side, price, qty, order.exchange_leaves, liquidity, fee]
        self.fills.append(fill)
        reports.fills.append(("fill", fill, len(self.fills) - 1))

    def _schedule(self, exchange_ts, reports):
        """Deliver ``reports`` at ``exchange_ts`` + a response latency, never before earlier reports."""
        if reports.empty():
            return
        report_ts = max(exchange_ts + self.latency.response(), self.last_report_ts)
        self.last_report_ts = report_ts
        for _, _, index in reports.first + reports.last:
            self.updates[index].append(report_ts)
        for index in reports.silent:
            self.updates[index].append(report_ts)
        for _, fill, _ in reports.fills:
            fill.insert(1, report_ts)
        self._push(report_ts, _REPORT, reports.first + reports.fills + reports.last)

    def _deliver(self, reports):
        """Hand reports to the strategy, updating what it knows first."""
        strategy, ctx = self.strategy, self.ctx
        for what, row, _ in reports:
            if what == "fill":
                fill = Fill(*row)
                order = self.orders[fill.order_id]
                self.known.add(fill.symbol, fill.side, fill.price, fill.qty, fill.fee)
                order.leaves = fill.leaves
                if fill.leaves == 0:
                    self._done(order)
                strategy.on_fill(ctx, fill)
                continue
            update = OrderUpdate(row[0], ctx.now, *row[1:])
            order = self.orders[update.order_id]
            if update.event == "ack":
                order.state = "resting"
            elif update.event == "modify":
                order.price, order.leaves = update.price, update.leaves
            elif update.event in ("cancel", "expire") or (update.event == "reject" and update.request == "new"):
                self._done(order)
            strategy.on_order(ctx, update)

    def _done(self, order):
        order.state = "done"
        self.open.pop(order.order_id, None)

    # -- outputs -------------------------------------------------------------------------

    def _record(self, now):
        """One ``strategy.parquet`` row per symbol for a wake-up at ``now``."""
        symbols = self.symbols if self.symbols is not None else self.engine.symbols()
        known = self.known
        for symbol in symbols:
            quote = self.engine.bbo(symbol)
            self.records.append(
                (now, symbol, quote.bid_price, quote.ask_price, known.position.get(symbol, 0),
                 known.cash.get(symbol, 0), known.fees.get(symbol, 0.0), known.pnl(symbol, _mid(quote)))
            )

    def _maybe_flush(self, at_least=None):
        trades, events = self.engine.output_rows()
        if events.shape[0] >= (self.flush_rows if at_least is None else at_least):
            self._count_on_consumed(events)
            self.flush(trades, events)
            self._cleared()

    def _count_on_consumed(self, events):
        """Count replayed rows that met an order the strategy's takers had consumed (``impact="full"``)."""
        if not self.consumed:
            return
        replayed = events[events[:, E_ORDER_ID] >= 0]
        hit = np.isin(replayed[:, E_ORDER_ID], np.fromiter(self.consumed, dtype=np.int64))
        codes = replayed[hit]
        self.on_consumed["rejected"] += int(np.count_nonzero(
            (codes[:, E_EVENT] == REJECTED) & (codes[:, E_REASON] == UNKNOWN_ID)))
        self.on_consumed["modified"] += int(np.count_nonzero(codes[:, E_EVENT] == MODIFIED))

    def _cleared(self):
        self.engine.clear_outputs()
        self.scanned_trades = 0
        self.scanned_events = 0

    def tables(self):
        """``{file name: table}`` of the strategy's outputs."""
        fills = [dict(zip(FILLS_SCHEMA.names, row)) for row in self.fills]
        updates = [dict(zip(UPDATES_SCHEMA.names, row)) for row in self.updates]
        records = [dict(zip(RECORDS_SCHEMA.names, row)) for row in self.records]
        return {
            "own_fills.parquet": pa.Table.from_pylist(fills, schema=FILLS_SCHEMA),
            "own_orders.parquet": pa.Table.from_pylist(updates, schema=UPDATES_SCHEMA),
            "strategy.parquet": pa.Table.from_pylist(records, schema=RECORDS_SCHEMA),
        }

    def summary(self):
        """The ``"strategy"`` entry of ``summary.json`` (exchange truth: every fill, reported or not)."""
        truth = self.truth
        symbols = sorted(set(truth.position) | set(self.symbols or []))
        pnl = {str(symbol): truth.pnl(symbol, _mid(self.engine.bbo(symbol))) for symbol in symbols}
        filled = sum(row[6] for row in self.fills)
        return {
            "orders": self.sent["new"],
            "cancels": self.sent["cancel"],
            "modifies": self.sent["modify"],
            "fills": len(self.fills),
            "filled_qty": filled,
            "fill_ratio": round(filled / self.sent_qty, 6) if self.sent_qty else None,
            "turnover": self.turnover,
            "position": {str(symbol): truth.position.get(symbol, 0) for symbol in symbols},
            "max_position": {str(symbol): self.max_position.get(symbol, 0) for symbol in symbols},
            "cash": truth.total_cash(),
            "fees": truth.total_fees(),
            "pnl": pnl,
            "pnl_total": None if any(v is None for v in pnl.values()) else sum(pnl.values()),
            "max_drawdown": self._max_drawdown(),
            "replayed_on_consumed": dict(self.on_consumed),
        }

    def _max_drawdown(self):
        """Largest fall of the summed P&L from its running peak over the wake-up records."""
        totals = {}
        for ts, _, _, _, _, _, _, pnl in self.records:
            if pnl is not None and not math.isnan(pnl):
                totals[ts] = totals.get(ts, 0.0) + pnl
        peak, worst = -math.inf, 0.0
        for value in totals.values():
            peak = max(peak, value)
            worst = max(worst, peak - value)
        return worst


__all__ = ["FILLS_SCHEMA", "IMPACTS", "OWN_ACCOUNT", "RECORDS_SCHEMA", "UPDATES_SCHEMA", "WAKE_ON", "StrategyLoop"]
