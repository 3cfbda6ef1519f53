"""The faithful replay of a LOBSTER day: one replay for ``lobster-check`` and for backtests.

What the data does and does not tell (``shared/data/lobster/README.md``, "Replaying
message files"): a ``message_L`` file lists only events inside the top ``L`` levels, so
liquidity can enter the window from below unseen, and liquidity cancelled while outside
the window can drift back in. The replay therefore works like this.

- The engine starts from orderbook row 0 (the book after message 0), one placeholder
  order per level, and replays messages 1.. as the loader maps them (type 1 LIMIT,
  2 MODIFY down, or CANCEL when it removes the whole remaining size, 3 CANCEL, 4 an
  opposite IOC at the price for the size; 5, 6, 7 change no visible book). Rows are
  submitted with ``ts`` = their message row, so a resting order's ``ts`` is the row that
  added it.
- An order is *certain* while its price stayed inside the window of every row since it
  was added (bids: at or above the row's L-th bid when the row shows L bids, asks
  mirrored); placeholders are never certain.
- After every message, each side is compared level by level inside the row's window.
  A difference at a price inside the previous row's window is a **mismatch** (only the
  message could have changed it). A difference at a price that entered the window from
  below is **synced** and counted: a placeholder adds missing liquidity (*entering*), or
  uncertain orders give up liquidity the exchange no longer has (*stale*, latest first).
  After a mismatch the engine is forced to the exchange's level so later rows are still
  checked; the mismatch is counted and the first one reported in full.
- A type 2 / 3 on an id the engine does not hold (an order from before the file, or
  one added below the window) takes its size from the uncertain orders at its price,
  front first (*unseen-id reductions*).
- Every type 4 is classified by the maker(s) a price-time IOC would take from the
  engine's queue: *as named*; *explainable* when the named order or every maker it
  would take instead is uncertain liquidity; an *exchange priority exception* when it
  would take a certain order that rests ahead of the named certain order (NASDAQ
  skipped it; a price-time engine cannot); *wrong maker* otherwise. When that maker is
  not the named order alone, the level is rebuilt **before** the IOC so that the IOC
  takes exactly one maker for the whole size: the named order (moved to the front and
  holding at least the size; uncertain liquidity gives up what it lacks, *reattributed
  shares*), or, when the engine does not hold the named id, one placeholder of the size
  (the size taken from uncertain liquidity first). After the IOC the level is what the
  exchange holds (a priority exception's skipped orders go back ahead of a remainder).
  Levels are rewritten by MODIFY down and CANCEL where the order of the queue allows,
  else cancelled and re-added from the first difference (ids and add rows kept).

Every order the replay submits goes through one public engine call (``Engine.submit``,
``Engine.submit_one`` or ``Engine.run_kernel`` with the kernels of ``replay_kernel``,
which submit through ``kernels.match.match_one``) and is logged in order. That log is the
**faithful order flow** (`Faithful`): submitted to a fresh ``Engine`` it rebuilds the
replay's book and trades exactly the file's visible executions.

Most rows never reach Python: `replay_kernel.replay_until_exception` applies and
compares rows in one kernel and stops only where this module has to decide.
"""

import time
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from ..codes import BUY, CANCEL, GTC, IOC, LIMIT, MODIFY, SELL
from ..engine import Engine
from ..schema import order_columns
from . import lobster
from . import replay_kernel as rk

__all__ = [
    "CheckReport",
    "Faithful",
    "Mismatch",
    "ORIGIN_MESSAGE",
    "ORIGIN_OPENING",
    "ORIGIN_REBUILD",
    "ORIGIN_SYNC",
    "faithful",
    "replay_day",
]

SYNC_ID_BASE = 1 << 42
"""Placeholders added by syncs, reattributions and executions of unheld ids take ids from here on."""

DEPTH_LEVELS_READ = 64
"""Engine levels read per side when Python compares a row (doubled when not enough)."""

NO_BID_FLOOR = 0
"""Window floor of a row that shows fewer bids than its depth: every bid is inside."""

NO_ASK_CEILING = 1 << 62
"""Window ceiling of a row that shows fewer asks than its depth: every ask is inside."""

ORIGIN_OPENING = 0
"""Flow row origin: a placeholder of the opening book (orderbook row 0)."""
ORIGIN_MESSAGE = rk.ORIGIN_MESSAGE
"""Flow row origin: the message's own order (type 1 LIMIT, 2 MODIFY/CANCEL, 3 CANCEL, 4 IOC)."""
ORIGIN_SYNC = 2
"""Flow row origin: a sync of a level that entered the window from below (or a forced mismatch)."""
ORIGIN_REBUILD = 3
"""Flow row origin: a level rewritten around a message (unseen ids, reattribution, an execution's maker)."""


@dataclass
class Mismatch:
    """One level where the engine and the exchange differ inside the certain window.

    Attributes
    ----------
    row : int
        Message row (the book compared is orderbook row ``row``, after that message).
    message : tuple
        The message: type, order id, size, price (ticks), direction.
    side : {"bid", "ask"}
    level : int
        1 at the best price, counted over the prices of both books.
    expected, got : tuple
        ``(price in ticks, qty)`` of the exchange and of the engine at that price.
    """

    row: int
    message: tuple
    side: str
    level: int
    expected: tuple
    got: tuple

    def __str__(self):
        t, order_id, size, price, direction = self.message
        return (
            f"row {self.row} (message type {t}, id {order_id}, size {size}, price {price}, direction {direction}): "
            f"{self.side} level {self.level}: expected (price, qty) {self.expected}, got {self.got}"
        )


@dataclass
class CheckReport:
    """The counts of one `check` run (see the module docstring for the terms)."""

    messages: int = 0
    levels: int = 0
    rows_compared: int = 0
    rows_equal: int = 0
    rows_synced: int = 0
    mismatches: int = 0
    order_mismatches: int = 0
    syncs_entering: int = 0
    shares_entering: int = 0
    syncs_stale: int = 0
    shares_stale: int = 0
    unseen_id_reductions: int = 0
    reattributed_shares: int = 0
    executions: int = 0
    named: int = 0
    explainable: int = 0
    explainable_unseen: int = 0
    explainable_uncertain_named: int = 0
    explainable_uncertain_ahead: int = 0
    priority_exceptions: int = 0
    wrong_maker: int = 0
    hidden_executions: int = 0
    cross_trades: int = 0
    halts: int = 0
    rows_in_python: int = 0
    seconds: float = 0.0
    first_mismatch: Mismatch | None = None
    first_wrong_maker: str | None = None
    first_order_mismatch: str | None = None
    exceptions: list = field(default_factory=list)

    @property
    def ok(self):
        """True when no level or certain order differs and no execution took a wrong maker."""
        return self.mismatches == 0 and self.order_mismatches == 0 and self.wrong_maker == 0

    def __str__(self):
        lines = [
            f"messages                 {self.messages:>9,}  (orderbook depth {self.levels}; row 0 is the opening book)",
            f"rows compared            {self.rows_compared:>9,}",
            f"rows equal               {self.rows_equal:>9,}  ({self.rows_synced:,} of them after syncs)",
            f"mismatches               {self.mismatches:>9,}",
            f"order mismatches         {self.order_mismatches:>9,}  (a type 2/3 disagrees with a certain order's size)",
            f"syncs entering           {self.syncs_entering:>9,}  ({self.shares_entering:,} shares)",
            f"syncs stale              {self.syncs_stale:>9,}  ({self.shares_stale:,} shares)",
            f"unseen-id reductions     {self.unseen_id_reductions:>9,}  (type 2/3 on ids the engine does not hold)",
            f"reattributed shares      {self.reattributed_shares:>9,}  (an uncertain order's size disagreed with a message)",
            f"visible executions       {self.executions:>9,}",
            f"  as named               {self.named:>9,}",
            f"  explainable            {self.explainable:>9,}  (uncertain or placeholder liquidity:)",
            f"    named id not held    {self.explainable_unseen:>9,}  (added before the file or below the window, or taken as stale)",
            f"    named uncertain      {self.explainable_uncertain_named:>9,}",
            f"    uncertain ahead      {self.explainable_uncertain_ahead:>9,}  (engine took uncertain orders ahead of it)",
            f"  priority exceptions    {self.priority_exceptions:>9,}  (the exchange skipped an earlier certain order)",
            f"  wrong maker            {self.wrong_maker:>9,}",
            f"hidden executions        {self.hidden_executions:>9,}  (type 5: no visible book change)",
            f"cross trades / halts     {self.cross_trades:>9,} / {self.halts:,}",
            f"rows handled in Python   {self.rows_in_python:>9,}",
            f"seconds                  {self.seconds:>9.2f}",
        ]
        if self.exceptions:
            lines.append("priority exceptions (row: named, engine took): " + "; ".join(self.exceptions))
        if self.first_mismatch is not None:
            lines.append(f"first mismatch: {self.first_mismatch}")
        if self.first_order_mismatch is not None:
            lines.append(f"first order mismatch: {self.first_order_mismatch}")
        if self.first_wrong_maker is not None:
            lines.append(f"first wrong maker: {self.first_wrong_maker}")
        lines.append("OK" if self.ok else "FAILED")
        return "\n".join(lines)


class Faithful(NamedTuple):
    """The faithful order flow of a LOBSTER day (`faithful`), and the replay's report.

    Attributes
    ----------
    orders : dict of str to numpy.ndarray
        Order columns in the contract dtypes (``state.ORDER_DTYPES``): every order the
        replay submitted to its engine, in order. ``ts`` is int64 ns after midnight: the
        time of the message row each order belongs to (non-decreasing); prices in ticks.
        ``Engine().submit(orders)`` (in one call or any split into batches) rebuilds the
        replay's book, and its trades are the file's visible executions: one per type-4
        message, with its time, price and size (IOC ids ``lobster.EXECUTION_ID_BASE + row``).
    source_row : numpy.ndarray of int64
        The message row each order row belongs to (0 for the opening book, which is
        orderbook row 0, the book after message 0).
    origin : numpy.ndarray of int8
        Why each row was submitted: ``ORIGIN_OPENING``, ``ORIGIN_MESSAGE`` (the message's
        own order), ``ORIGIN_SYNC`` or ``ORIGIN_REBUILD``.
    counts : dict of str to int
        The replay's counts for a summary (see `CheckReport` and ``flow_*`` keys):
        syncs entering / stale with shares, unseen-id reductions, reattributed shares,
        executions as named / explainable / priority exceptions / wrong maker, hidden
        executions and shares, and for the flow: rows by origin, ``makers_named``
        (executions whose trade's maker is the named order), ``makers_substituted``
        (named id not held: one placeholder or uncertain order holding at least the size),
        ``priority_corrections`` (priority exceptions made to trade with the named maker).
    report : CheckReport
        The same replay as ``lobster-check`` reports it.
    """

    orders: dict
    source_row: np.ndarray
    origin: np.ndarray
    counts: dict
    report: "CheckReport"


class _Day:
    """A message file and its orderbook file as tick arrays, with the window of every row."""

    def __init__(self, messages, orderbook, price_unit):
        if messages.num_rows != orderbook.shape[0]:
            raise ValueError(f"files disagree: {messages.num_rows} messages, {orderbook.shape[0]} orderbook rows")
        if messages.num_rows == 0:
            raise ValueError("no messages: a day needs at least its first row (the opening book)")
        if orderbook.ndim != 3 or orderbook.shape[1] < 1 or orderbook.shape[2] != 4:
            raise ValueError(f"orderbook: expected rows of 4 columns per level, got shape {orderbook.shape}")
        if not isinstance(price_unit, (int, np.integer)) or price_unit < 1:
            raise ValueError(f"price_unit: expected an integer >= 1, got {price_unit!r}")
        self.ts = messages.column("ts").to_numpy()
        self.type = messages.column("type").to_numpy().astype(np.int64)
        self.order_id = messages.column("order_id").to_numpy()
        self.size = messages.column("size").to_numpy()
        self.side = messages.column("direction").to_numpy().astype(np.int64)
        back = np.flatnonzero(self.ts[1:] < self.ts[:-1])
        if back.size:
            raise ValueError(
                f"message time: expected non-decreasing times, row {back[0] + 1} is earlier than row {back[0]}"
            )
        visible = self.type <= lobster.EXECUTE
        self._check(visible & (self.size <= 0), "message size: expected > 0", self.size)
        self._check(visible & ((self.order_id < 0) | (self.order_id >= lobster.EXECUTION_ID_BASE)),
                    f"message order id: expected in [0, {lobster.EXECUTION_ID_BASE})", self.order_id)
        prices = messages.column("price").to_numpy()
        self._check(visible & (prices <= 0), "message price: expected > 0", prices)
        self.price = self._ticks(prices, price_unit, "message price", visible)
        self._check(orderbook[:, :, 1::2] < 0, "orderbook size: expected >= 0", orderbook[:, :, 1::2])
        self.ask_qty = np.ascontiguousarray(orderbook[:, :, 1])
        self.bid_qty = np.ascontiguousarray(orderbook[:, :, 3])
        self._check(((self.ask_qty > 0) & (orderbook[:, :, 0] <= 0)) | ((self.bid_qty > 0) & (orderbook[:, :, 2] <= 0)),
                    "orderbook price: expected > 0 at a level with shares", orderbook[:, :, 0])
        self.ask_px = self._ticks(orderbook[:, :, 0], price_unit, "orderbook ask price", self.ask_qty > 0)
        self.bid_px = self._ticks(orderbook[:, :, 2], price_unit, "orderbook bid price", self.bid_qty > 0)
        self.levels = orderbook.shape[1]
        full_bids = self.bid_qty[:, -1] > 0
        full_asks = self.ask_qty[:, -1] > 0
        self.bid_floor = np.where(full_bids, self.bid_px[:, -1], NO_BID_FLOOR)
        self.ask_ceiling = np.where(full_asks, self.ask_px[:, -1], NO_ASK_CEILING)

    @staticmethod
    def _check(bad, what, values):
        if bad.any():
            where = np.argwhere(bad)[0]
            raise ValueError(f"{what}, got {values[tuple(where)]} at {tuple(map(int, where))}")

    @staticmethod
    def _ticks(prices, price_unit, what, used):
        off = used & (prices % price_unit != 0)
        if off.any():
            where = np.argwhere(off)[0]
            raise ValueError(
                f"{what}: expected multiples of {price_unit}, got {prices[tuple(where)]} at {tuple(map(int, where))}"
            )
        return np.where(used, prices // price_unit, 0).astype(np.int64)

    def in_window(self, row, side, price):
        """Whether ``price`` on ``side`` is inside the visible window of orderbook ``row``."""
        return price >= self.bid_floor[row] if side == BUY else price <= self.ask_ceiling[row]

    def expected_levels(self, row, side):
        """``{price: qty}`` of one side of orderbook ``row``."""
        px, qty = (self.bid_px, self.bid_qty) if side == BUY else (self.ask_px, self.ask_qty)
        shown = qty[row] > 0
        return dict(zip(px[row][shown].tolist(), qty[row][shown].tolist()))

    def stayed_in_window(self, first_row, last_row, side, price):
        """Whether ``price`` was inside the window of every row ``first_row .. last_row``."""
        if first_row > last_row:
            return True
        if side == BUY:
            return price >= self.bid_floor[first_row : last_row + 1].max()
        return price <= self.ask_ceiling[first_row : last_row + 1].min()



class _Replay:
    """One replay: an engine, the day, the report being filled and the flow log."""

    def __init__(self, day, report):
        self.day = day
        self.report = report
        self.engine = Engine()
        self.next_placeholder = SYNC_ID_BASE
        self.scratch = np.zeros((1024, 3), dtype=np.int64)
        self.depth = np.zeros((2 * DEPTH_LEVELS_READ, 5), dtype=np.int64)
        self.counts = np.zeros(rk.C_FIELDS, dtype=np.int64)
        self.log = np.zeros((len(day.type) + 4096, rk.F_FIELDS), dtype=np.int64)
        self.flow = dict.fromkeys(
            ("makers_named", "makers_substituted", "priority_corrections", "maker_failures"), 0
        )
        opening = lobster.opening_book(
            np.stack([day.ask_px[0], day.ask_qty[0], day.bid_px[0], day.bid_qty[0]], axis=1), price_unit=1
        )
        n = opening["ts"].size
        self.log[:n, rk.F_ID] = opening["order_id"]
        self.log[:n, rk.F_SIDE] = opening["side"]
        self.log[:n, rk.F_KIND] = opening["kind"]
        self.log[:n, rk.F_TIF] = opening["tif"]
        self.log[:n, rk.F_PRICE] = opening["price"]
        self.log[:n, rk.F_QTY] = opening["qty"]
        self.log[:n, rk.F_ORIGIN] = ORIGIN_OPENING
        self.counts[rk.C_LOGGED] = n
        self.engine.submit(opening)

    # -- the flow log -----------------------------------------------------------------------

    def grow_log(self):
        """Double the flow log's capacity."""
        log = np.zeros((2 * self.log.shape[0], rk.F_FIELDS), dtype=np.int64)
        log[: self.log.shape[0]] = self.log
        self.log = log

    def submit(self, row, ts, order_id, side, kind, price=0, qty=0, tif=GTC, origin=ORIGIN_REBUILD):
        """Submit one order to the engine (``ts``: the add row it keeps) and log it under message ``row``."""
        n = int(self.counts[rk.C_LOGGED])
        if n == self.log.shape[0]:
            self.grow_log()
        self.log[n] = (row, order_id, side, kind, tif, price, qty, origin)
        self.counts[rk.C_LOGGED] = n + 1
        return self.engine.submit_one(ts, order_id, side, kind, price, qty, tif=tif)

    def orders(self, symbol):
        """The flow log as order columns (``state.ORDER_DTYPES``), ts from the message times."""
        log = self.log[: int(self.counts[rk.C_LOGGED])]
        rows = log[:, rk.F_ROW]
        columns = {
            "ts": self.day.ts[rows], "order_id": log[:, rk.F_ID], "symbol": np.full(rows.size, symbol),
            "side": log[:, rk.F_SIDE], "kind": log[:, rk.F_KIND], "tif": log[:, rk.F_TIF],
            "price": log[:, rk.F_PRICE], "qty": log[:, rk.F_QTY], "account": np.zeros(rows.size),
        }
        orders = order_columns(columns)
        return orders, rows.copy(), log[:, rk.F_ORIGIN].astype(np.int8)

    # -- reading and rewriting one price level -------------------------------------------

    def queue(self, side, price):
        """The orders resting at ``price`` on ``side``, FIFO: list of [order_id, qty, add_row].

        A price holds orders of one side only; ``side`` says which one the caller expects.
        """
        while True:
            _, n = self.engine.run_kernel(rk.level_orders, 0, price, self.scratch)
            if n >= 0:
                break
            self.scratch = np.zeros((2 * self.scratch.shape[0], 3), dtype=np.int64)
        if n and not self.on_side(side, price):
            return []
        return self.scratch[:n].tolist()

    def best(self, side):
        """The engine's best price on ``side`` (None when empty)."""
        bbo = self.engine.bbo()
        return bbo.bid_price if side == BUY else bbo.ask_price

    def on_side(self, side, price):
        """Whether the engine's orders at ``price`` are on ``side`` (the level is on the side of its best)."""
        best = self.best(side)
        return best is not None and (price <= best if side == BUY else price >= best)

    def certain(self, order, side, price, row):
        """Whether a resting ``order`` ([id, qty, add_row]) is certain when row ``row`` arrives."""
        order_id, _, add_row = order
        return order_id < lobster.OPENING_ID_BASE and self.day.stayed_in_window(add_row, row - 1, side, price)

    def set_queue(self, side, price, desired, row, origin, message_id=-1):
        """Make the level's FIFO equal ``desired`` ([id, qty, add_row] entries; qty 0 = gone).

        When the orders kept are in the queue's order, no larger, and the new ones come
        last, the queue is rewritten in place (CANCEL, MODIFY down, then LIMITs at the back);
        otherwise it is cancelled and re-added from the first difference (ids and add rows
        kept). Rows on ``message_id`` are logged as ``ORIGIN_MESSAGE``, others as ``origin``.
        """
        desired = [order for order in desired if order[1] > 0]
        current = self.queue(side, price)
        now = {entry[0]: (k, entry) for k, entry in enumerate(current)}
        kept = 0
        last = -1
        in_place = True
        for index, (order_id, qty, add_row) in enumerate(desired):
            held = now.get(order_id)
            if held is None:
                continue
            k, entry = held
            if index != kept or k < last or qty > entry[1] or add_row != entry[2]:
                in_place = False
                break
            kept += 1
            last = k
        if in_place:
            wanted = {order_id: qty for order_id, qty, _ in desired[:kept]}
            for order_id, qty, _ in current:
                why = ORIGIN_MESSAGE if order_id == message_id else origin
                if order_id not in wanted:
                    self.submit(row, row, order_id, 0, CANCEL, origin=why)
                elif wanted[order_id] < qty:
                    self.submit(row, row, order_id, 0, MODIFY, price, wanted[order_id], origin=why)
            first = kept
        else:
            first = 0
            while first < min(len(current), len(desired)) and current[first] == desired[first]:
                first += 1
            for order_id, _, _ in current[first:]:
                self.submit(row, row, order_id, 0, CANCEL, origin=ORIGIN_MESSAGE if order_id == message_id else origin)
        for order_id, qty, add_row in desired[first:]:
            self.submit(row, add_row, order_id, side, LIMIT, price, qty, origin=origin)

    def placeholder(self, qty, row):
        """A new placeholder order [id, qty, add_row]."""
        self.next_placeholder += 1
        return [self.next_placeholder, qty, row]

    def take(self, queue, qty, side, price, row, *, latest_first=False, certain_too=False):
        """Remove ``qty`` from the uncertain orders of ``queue`` (in place); return what was not found."""
        order = reversed(queue) if latest_first else queue
        for entry in order:
            if qty == 0:
                break
            if certain_too or not self.certain(entry, side, price, row):
                part = min(qty, entry[1])
                entry[1] -= part
                qty -= part
        return qty

    # -- rows the kernel hands over --------------------------------------------------------

    def apply(self, row):
        """Apply message ``row`` where the kernel could not (see the module docstring)."""
        day = self.day
        kind, order_id, size = int(day.type[row]), int(day.order_id[row]), int(day.size[row])
        side, price = int(day.side[row]), int(day.price[row])
        queue = self.queue(side, price)
        position = next((k for k, entry in enumerate(queue) if entry[0] == order_id), None)
        if kind == lobster.EXECUTE:
            self.execute(row, queue, position, order_id, size, side, price)
            return
        if position is None:
            self.report.unseen_id_reductions += 1
            self.take(queue, size, side, price, row)
        else:
            named = queue[position]
            left = named[1] - size
            # A type 2 may cancel the whole remaining size: the order is then gone, as after a type 3.
            if (left != 0 if kind == lobster.DELETE else left < 0) and self.certain(named, side, price, row):
                self.report.order_mismatches += 1
                self.report.first_order_mismatch = self.report.first_order_mismatch or (
                    f"row {row}: type {kind} of {size} on certain order {order_id}, "
                    f"which holds {named[1]} in the engine"
                )
            if kind == lobster.DELETE and left > 0:
                queue.append(self.placeholder(left, row))
                self.report.reattributed_shares += left
            named[1] = max(left, 0) if kind == lobster.PARTIAL_CANCEL else 0
            if left < 0:
                self.report.reattributed_shares += -left
                self.take(queue, -left, side, price, row)
        self.set_queue(side, price, queue, row, ORIGIN_REBUILD, order_id)

    def execute(self, row, queue, position, order_id, size, side, price):
        """Classify execution ``row``, make the level give it one maker, submit its IOC (module docstring)."""
        report = self.report
        report.executions += 1
        at_best = bool(queue) and self.best(side) == price
        if at_best:
            makers, filled, after = self.simulate(queue, size)
            at_price = True
        else:  # the IOC would not meet the level alone: submit it as it is and see (a wrong maker)
            trades = self.ioc(row, side, price, size).trades
            makers = trades.column("maker_order_id").to_pylist()
            filled = sum(trades.column("qty").to_pylist())
            at_price = set(trades.column("price").to_pylist()) <= {price}
        by_id = {entry[0]: entry for entry in queue}
        named = queue[position] if position is not None else None
        others = [m for m in makers if m != order_id]
        if makers == [order_id] and filled == size and at_price:
            report.named += 1
        elif at_price and filled == size and named is None:
            report.explainable += 1
            report.explainable_unseen += 1
        elif at_price and filled == size and not self.certain(named, side, price, row):
            report.explainable += 1
            report.explainable_uncertain_named += 1
        elif at_price and filled == size and all(m in by_id and queue.index(by_id[m]) < position for m in others):
            if any(self.certain(by_id[m], side, price, row) for m in others):
                report.priority_exceptions += 1
                report.exceptions.append(f"{row}: {order_id}, {', '.join(map(str, others))}")
                self.flow["priority_corrections"] += 1
            else:
                report.explainable += 1
                report.explainable_uncertain_ahead += 1
        else:
            report.wrong_maker += 1
            if report.first_wrong_maker is None:
                report.first_wrong_maker = (
                    f"row {row}: named {order_id} for {size} @ {price}, engine took makers {makers}"
                )
        if at_best and makers == [order_id] and filled == size:
            self.ioc_with_maker(row, side, price, size, order_id, "makers_named")
            return
        # What the exchange holds after the execution (the named order reduced; uncertain
        # liquidity that was ahead of it moved behind it).
        held = [list(entry) for entry in queue]
        if named is None:
            self.take(held, size, side, price, row)
        else:
            ahead = held[:position]
            named = held[position]
            if ahead and not any(self.certain(entry, side, price, row) for entry in ahead):
                held = [named] + ahead + held[position + 1 :]
            left = named[1] - size
            named[1] = max(left, 0)
            if left < 0:
                report.reattributed_shares += -left
                self.take(held, -left, side, price, row)
        wanted = [entry for entry in held if entry[1] > 0]
        if not at_best:
            self.set_queue(side, price, wanted, row, ORIGIN_REBUILD)
            return
        if named is None and len(makers) == 1 and filled == size and after == wanted:
            # One uncertain order at the front holds the size of an id the engine does not hold.
            self.ioc_with_maker(row, side, price, size, makers[0], "makers_substituted")
            return
        if named is None:
            maker = self.placeholder(size, row)
            before = [maker] + wanted
            counter = "makers_substituted"
        else:
            maker = [order_id, size + named[1], named[2]]
            before = [maker] + [entry for entry in wanted if entry[0] != order_id]
            counter = "makers_named"
        self.set_queue(side, price, before, row, ORIGIN_REBUILD)
        self.ioc_with_maker(row, side, price, size, maker[0], counter)
        if self.queue(side, price) != wanted:  # a priority exception's skipped orders go back ahead
            self.set_queue(side, price, wanted, row, ORIGIN_REBUILD)

    def simulate(self, queue, size):
        """What a price-time IOC of ``size`` takes from ``queue``: (makers, filled, queue after)."""
        makers, left, after = [], size, []
        for order_id, qty, add_row in queue:
            part = min(qty, left)
            if part:
                makers.append(order_id)
                left -= part
            if qty > part:
                after.append([order_id, qty - part, add_row])
        return makers, size - left, after

    def ioc(self, row, side, price, size):
        """Submit execution ``row``'s IOC (the message's own order)."""
        return self.submit(row, row, lobster.EXECUTION_ID_BASE + row, -side, LIMIT, price, size, IOC, ORIGIN_MESSAGE)

    def ioc_with_maker(self, row, side, price, size, maker, counter):
        """Submit execution ``row``'s IOC, which must take ``size`` from ``maker`` in one trade."""
        trades = self.ioc(row, side, price, size).trades
        if trades.num_rows == 1 and trades.column("maker_order_id")[0].as_py() == maker:
            self.flow[counter] += 1
        else:
            self.flow["maker_failures"] += 1

    def compare(self, row):
        """Compare ``row`` after its message: count it equal, sync it, or record a mismatch."""
        report = self.report
        report.rows_compared += 1
        synced = mismatched = False
        for side in (BUY, SELL):
            for level, price, expected, got in self.differences(row, side):
                strict = self.day.in_window(row - 1, side, price)
                queue = self.queue(side, price)
                if expected > got:
                    queue.append(self.placeholder(expected - got, row))
                    if not strict:
                        report.syncs_entering += 1
                        report.shares_entering += expected - got
                elif not strict:
                    missing = self.take(queue, got - expected, side, price, row, latest_first=True)
                    strict = missing > 0
                    if not strict:
                        report.syncs_stale += 1
                        report.shares_stale += got - expected
                if strict:
                    mismatched = True
                    self.record_mismatch(row, side, level, price, expected, got)
                    if expected < got:
                        self.take(queue, got - expected, side, price, row, latest_first=True, certain_too=True)
                synced = synced or not strict
                self.set_queue(side, price, queue, row, ORIGIN_SYNC)
        if mismatched:
            report.mismatches += 1
        else:
            report.rows_equal += 1
            report.rows_synced += synced

    def differences(self, row, side):
        """``(level, price, expected qty, engine qty)`` where one side differs inside row ``row``'s window.

        ``level`` counts from 1 at the best price, over the prices of both books.
        """
        expected = self.day.expected_levels(row, side)
        full = len(expected) == self.day.levels
        while True:
            _, n = self.engine.run_kernel(rk.depth, 0, self.depth.shape[0] // 2, self.depth)
            rows = self.depth[:n][self.depth[:n, 0] == side]
            prices = rows[:, 2].tolist()
            if len(prices) < self.depth.shape[0] // 2 or (full and not self.day.in_window(row, side, prices[-1])):
                break
            self.depth = np.zeros((2 * self.depth.shape[0], 5), dtype=np.int64)
        got = dict(zip(prices, rows[:, 3].tolist()))
        if full:
            got = {p: q for p, q in got.items() if self.day.in_window(row, side, p)}
        best_first = sorted(set(expected) | set(got), reverse=side == BUY)
        return [
            (level, p, expected.get(p, 0), got.get(p, 0))
            for level, p in enumerate(best_first, 1)
            if expected.get(p, 0) != got.get(p, 0)
        ]

    def record_mismatch(self, row, side, level, price, expected, got):
        """Keep the first mismatch in full."""
        if self.report.first_mismatch is not None:
            return
        day = self.day
        message = (int(day.type[row]), int(day.order_id[row]), int(day.size[row]), int(day.price[row]),
                   int(day.side[row]))
        self.report.first_mismatch = Mismatch(row, message, "bid" if side == BUY else "ask", level,
                                              (price, expected), (price, got))

    def run(self, progress=None):
        """Replay every row after row 0; fill the report."""
        day, report, counts, engine = self.day, self.report, self.counts, self.engine
        depth = np.zeros((2 * (day.levels + 2), 5), dtype=np.int64)
        stop = len(day.type)
        counts[rk.C_NEXT_ROW] = 1
        while True:
            _, code, row = engine.run_kernel(
                rk.replay_until_exception, 0, stop, lobster.EXECUTION_ID_BASE, day.type, day.order_id, day.size,
                day.price, day.side, day.ask_px, day.ask_qty, day.bid_px, day.bid_qty, depth, counts, self.log,
            )
            if code == rk.STOP_END:
                break
            if code == rk.STOP_LOG_FULL:
                self.grow_log()
                continue
            report.rows_in_python += 1
            if code == rk.STOP_APPLY:
                self.apply(row)
            elif code == rk.STOP_MAKER:
                report.executions += 1
                report.wrong_maker += 1
                report.first_wrong_maker = report.first_wrong_maker or f"row {row}: the named order was first in line"
            self.compare(row)
            counts[rk.C_NEXT_ROW] = row + 1
            if progress is not None:
                progress(row + 1)
        report.rows_compared += int(counts[rk.C_COMPARED])
        report.rows_equal += int(counts[rk.C_EQUAL])
        report.executions += int(counts[rk.C_NAMED])
        report.named += int(counts[rk.C_NAMED])
        self.flow["makers_named"] += int(counts[rk.C_NAMED])
        if progress is not None:
            progress(stop)


_REPORT_COUNTS = (
    "messages", "rows_compared", "rows_equal", "rows_synced", "mismatches", "order_mismatches", "syncs_entering",
    "shares_entering", "syncs_stale", "shares_stale", "unseen_id_reductions", "reattributed_shares", "executions",
    "named", "explainable", "explainable_unseen", "explainable_uncertain_named", "explainable_uncertain_ahead",
    "priority_exceptions", "wrong_maker", "hidden_executions", "cross_trades", "halts",
)


def replay_day(messages, orderbook, *, price_unit=lobster.DEFAULT_PRICE_UNIT, symbol=0, progress=None):
    """The faithful replay of a day already read (``lobster.read_messages`` / ``lobster.read_orderbook``).

    Parameters
    ----------
    messages : pyarrow.Table
        ``lobster.MESSAGE_SCHEMA``.
    orderbook : numpy.ndarray
        ``lobster.read_orderbook``'s array, one row per message.
    price_unit : int
        LOBSTER price units per tick (default one cent); every visible price must be on it.
    symbol : int
        The ``symbol`` column of the flow.
    progress : callable, optional
        Called as ``progress(rows_done)`` from time to time (for a progress bar).

    Returns
    -------
    Faithful

    Raises
    ------
    ValueError
        When the files disagree in rows, are empty, or hold values the replay cannot take
        (off-grid or non-positive prices, non-positive sizes, times going back); the
        message names the value and where it is.
    """
    started = time.perf_counter()
    day = _Day(messages, orderbook, price_unit)
    report = CheckReport(messages=len(day.type), levels=day.levels)
    types = np.bincount(day.type[1:], minlength=8)
    report.hidden_executions = int(types[lobster.EXECUTE_HIDDEN])
    report.cross_trades = int(types[lobster.CROSS_TRADE])
    report.halts = int(types[lobster.HALT])
    replay = _Replay(day, report)
    replay.run(progress)
    orders, source_row, origin = replay.orders(symbol)
    report.seconds = time.perf_counter() - started
    counts = {name: int(getattr(report, name)) for name in _REPORT_COUNTS}
    hidden = day.type[1:] == lobster.EXECUTE_HIDDEN
    counts["hidden_shares"] = int(day.size[1:][hidden].sum())
    counts["executed_shares"] = int(day.size[1:][day.type[1:] == lobster.EXECUTE].sum())
    by_origin = np.bincount(origin, minlength=ORIGIN_REBUILD + 1)
    counts["flow_rows"] = int(origin.size)
    for name, code in (("opening", ORIGIN_OPENING), ("message", ORIGIN_MESSAGE), ("sync", ORIGIN_SYNC),
                       ("rebuild", ORIGIN_REBUILD)):
        counts[f"flow_rows_{name}"] = int(by_origin[code])
    counts.update({name: int(value) for name, value in replay.flow.items()})
    return Faithful(orders, source_row, origin, counts, report)


def faithful(messages_path, orderbook_path, *, price_unit=lobster.DEFAULT_PRICE_UNIT, rows=None, symbol=0,
             progress=None):
    """Read a LOBSTER day and replay it faithfully: the order flow that trades the file's executions.

    Parameters
    ----------
    messages_path, orderbook_path : str or Path
        The pair of files of one day and depth (CSV, ``.gz`` allowed).
    price_unit : int
        LOBSTER price units (dollars x 10000) per tick; default 100, one cent.
    rows : int, optional
        Replay only the first ``rows`` messages.
    symbol : int
        The flow's ``symbol`` column.
    progress : callable, optional
        Called as ``progress(rows_done)``.

    Returns
    -------
    Faithful
        ``orders`` (contract dtypes, ts in ns after midnight), ``source_row``, ``origin``,
        ``counts`` and the ``CheckReport`` (``lobster-check``'s) of the same replay.

    Examples
    --------
    On the AMZN level-5 sample (``tests/test_lobster_faithful.py`` runs this)::

        day = faithful("AMZN_..._message_5.csv.gz", "AMZN_..._orderbook_5.csv.gz")
        trades = nbengine.Engine().submit(day.orders).trades
        assert trades.num_rows == day.counts["executions"]
    """
    messages = lobster.read_messages(messages_path)
    orderbook = lobster.read_orderbook(orderbook_path)
    if rows is not None:
        messages, orderbook = messages.slice(0, rows), orderbook[:rows]
    return replay_day(messages, orderbook, price_unit=price_unit, symbol=symbol, progress=progress)
