"""``nbengine lobster-check``: replay a LOBSTER day and compare the engine's book with the exchange's.

What the data does and does not tell (``shared/data/lobster/README.md``, "Replaying
message files"): a ``message_L`` file lists only events inside the top ``L`` levels, so
liquidity can enter the window from below unseen, and liquidity cancelled while outside
the window can drift back in. The checker therefore works like this.

- The engine starts from orderbook row 0 (the book after message 0), one placeholder
  order per level, and replays messages 1.. as the loader maps them (type 1 LIMIT,
  2 MODIFY down, 3 CANCEL, 4 an opposite IOC at the price for the size; 5, 6, 7 change
  no visible book). Rows are submitted with ``ts`` = their message row, so a resting
  order's ``ts`` is the row that added it.
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
- Every type 4 is submitted as an IOC and the engine's maker (``trades.maker_order_id``)
  is compared with the named order: *as named*; *explainable* when the named order or
  every maker taken instead is uncertain liquidity; an *exchange priority exception* when
  the engine took a certain order that rests ahead of the named certain order (NASDAQ
  skipped it; a price-time engine cannot); *wrong maker* otherwise. When the maker
  differs, the level's queue is then rebuilt (cancel and re-add from the first
  difference, ids and add rows kept) so the engine holds what the exchange holds: the
  named order reduced; uncertain liquidity that was ahead of it moved behind it.

Most rows never reach Python: `replay_kernel.replay_until_exception` applies and
compares rows in one kernel and stops only where this module has to decide.

Notes
-----
The engine has no public way to run another kernel against its state, so this module
reads ``Engine._state`` / ``Engine._out`` and calls ``Engine._grow(status)`` when the
kernel reports a full buffer (the same protocol ``Engine.submit_one`` follows). Every
book change still goes through the engine's own ``match_one``.
"""

import time
from dataclasses import dataclass, field

import numpy as np

from ..codes import BUY, CANCEL, GTC, IOC, LIMIT, SELL
from ..engine import Engine
from ..kernels.views import book_depth
from . import lobster
from . import replay_kernel as rk

SYNC_ID_BASE = 1 << 42
"""Placeholders added by syncs and reattributions take ids from here on."""

DEPTH_LEVELS_READ = 64
"""Engine levels read per side when Python compares a row (doubled when not enough)."""

NO_BID_FLOOR = 0
"""Window floor of a row that shows fewer bids than its depth: every bid is inside."""

NO_ASK_CEILING = 1 << 62
"""Window ceiling of a row that shows fewer asks than its depth: every ask is inside."""


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


class _Day:
    """A message file and its orderbook file as tick arrays, with the window of every row."""

    def __init__(self, messages, orderbook, price_unit):
        if messages.num_rows != orderbook.shape[0]:
            raise ValueError(f"files disagree: {messages.num_rows} messages, {orderbook.shape[0]} orderbook rows")
        self.type = messages.column("type").to_numpy().astype(np.int64)
        self.order_id = messages.column("order_id").to_numpy()
        self.size = messages.column("size").to_numpy()
        self.side = messages.column("direction").to_numpy().astype(np.int64)
        prices = messages.column("price").to_numpy()
        self.price = self._ticks(prices, price_unit, "message price", self.type <= lobster.EXECUTE)
        self.ask_qty = np.ascontiguousarray(orderbook[:, :, 1])
        self.bid_qty = np.ascontiguousarray(orderbook[:, :, 3])
        self.ask_px = self._ticks(orderbook[:, :, 0], price_unit, "orderbook ask price", self.ask_qty > 0)
        self.bid_px = self._ticks(orderbook[:, :, 2], price_unit, "orderbook bid price", self.bid_qty > 0)
        self.levels = orderbook.shape[1]
        full_bids = self.bid_qty[:, -1] > 0
        full_asks = self.ask_qty[:, -1] > 0
        self.bid_floor = np.where(full_bids, self.bid_px[:, -1], NO_BID_FLOOR)
        self.ask_ceiling = np.where(full_asks, self.ask_px[:, -1], NO_ASK_CEILING)

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


class _Checker:
    """One replay: an engine, the day, and the report being filled."""

    def __init__(self, day, report):
        self.day = day
        self.report = report
        self.engine = Engine()
        self.next_placeholder = SYNC_ID_BASE
        self.scratch = np.zeros((1024, 3), dtype=np.int64)
        self.depth = np.zeros((2 * DEPTH_LEVELS_READ, 5), dtype=np.int64)
        opening = lobster.opening_book(
            np.stack([day.ask_px[0], day.ask_qty[0], day.bid_px[0], day.bid_qty[0]], axis=1), price_unit=1
        )
        self.engine.submit(opening)

    # -- reading and rewriting one price level -------------------------------------------

    def queue(self, side, price):
        """The orders resting at ``price`` on ``side``, FIFO: list of [order_id, qty, add_row].

        A price holds orders of one side only; ``side`` says which one the caller expects.
        """
        while True:
            n = rk.level_orders(self.engine._state, 0, price, self.scratch)
            if n >= 0:
                break
            self.scratch = np.zeros((2 * self.scratch.shape[0], 3), dtype=np.int64)
        if n and not self.on_side(side, price):
            return []
        return self.scratch[:n].tolist()

    def on_side(self, side, price):
        """Whether the engine's orders at ``price`` are on ``side`` (the level is on the side of its best)."""
        bbo = self.engine.bbo()
        if side == BUY:
            return bbo.bid_price is not None and price <= bbo.bid_price
        return bbo.ask_price is not None and price >= bbo.ask_price

    def certain(self, order, side, price, row):
        """Whether a resting ``order`` ([id, qty, add_row]) is certain when row ``row`` arrives."""
        order_id, _, add_row = order
        return order_id < lobster.OPENING_ID_BASE and self.day.stayed_in_window(add_row, row - 1, side, price)

    def set_queue(self, side, price, desired, row):
        """Make the level's FIFO equal ``desired``: cancel from the first difference, re-add the rest."""
        desired = [order for order in desired if order[1] > 0]
        current = self.queue(side, price)
        first = 0
        while first < min(len(current), len(desired)) and current[first] == desired[first]:
            first += 1
        for order_id, _, _ in current[first:]:
            self.engine.submit_one(row, order_id, 0, CANCEL)
        for order_id, qty, add_row in desired[first:]:
            self.engine.submit_one(add_row, order_id, side, LIMIT, price, qty, tif=GTC)

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
            if (left != 0 if kind == lobster.DELETE else left <= 0) and self.certain(named, side, price, row):
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
        self.set_queue(side, price, queue, row)

    def execute(self, row, queue, position, order_id, size, side, price):
        """Submit execution ``row`` as an IOC, classify the maker, rebuild the level if it differs."""
        report = self.report
        result = self.engine.submit_one(row, lobster.EXECUTION_ID_BASE + row, -side, LIMIT, price, size, tif=IOC)
        trades = result.trades
        makers = trades.column("maker_order_id").to_pylist()
        filled = sum(trades.column("qty").to_pylist())
        at_price = set(trades.column("price").to_pylist()) <= {price}
        report.executions += 1
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
            else:
                report.explainable += 1
                report.explainable_uncertain_ahead += 1
        else:
            report.wrong_maker += 1
            if report.first_wrong_maker is None:
                report.first_wrong_maker = (
                    f"row {row}: named {order_id} for {size} @ {price}, engine traded "
                    f"{list(zip(makers, trades.column('qty').to_pylist(), trades.column('price').to_pylist()))}"
                )
        if makers == [order_id] and filled == size:
            return
        if named is None:
            self.take(queue, size, side, price, row)
        else:
            ahead = queue[:position]
            if ahead and not any(self.certain(entry, side, price, row) for entry in ahead):
                queue = [named] + ahead + queue[position + 1 :]
            left = named[1] - size
            named[1] = max(left, 0)
            if left < 0:
                report.reattributed_shares += -left
                self.take(queue, -left, side, price, row)
        self.set_queue(side, price, queue, row)

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
                self.set_queue(side, price, queue, row)
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
            n = book_depth(self.engine._state, 0, self.depth.shape[0] // 2, self.depth)
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


def check(messages_path, orderbook_path, *, price_unit=lobster.DEFAULT_PRICE_UNIT, rows=None, progress=None):
    """Replay a LOBSTER message file and compare the engine's book with the orderbook file.

    Parameters
    ----------
    messages_path, orderbook_path : str or Path
        The pair of files of one day and depth.
    price_unit : int
        LOBSTER price units per tick (default one cent); every price must be on that grid.
    rows : int, optional
        Replay only the first ``rows`` messages.
    progress : callable, optional
        Called as ``progress(rows_done)`` from time to time (for a progress bar).

    Returns
    -------
    CheckReport
        ``report.ok`` is False on any mismatch or wrong maker; ``str(report)`` prints it.
    """
    messages = lobster.read_messages(messages_path)
    orderbook = lobster.read_orderbook(orderbook_path)
    if rows is not None:
        messages, orderbook = messages.slice(0, rows), orderbook[:rows]
    return check_day(messages, orderbook, price_unit=price_unit, progress=progress)


def check_day(messages, orderbook, *, price_unit=lobster.DEFAULT_PRICE_UNIT, progress=None):
    """`check` on tables already read (``lobster.read_messages`` / ``lobster.read_orderbook``)."""
    started = time.perf_counter()
    day = _Day(messages, orderbook, price_unit)
    report = CheckReport(messages=len(day.type), levels=day.levels)
    types = np.bincount(day.type[1:], minlength=8)
    report.hidden_executions = int(types[lobster.EXECUTE_HIDDEN])
    report.cross_trades = int(types[lobster.CROSS_TRADE])
    report.halts = int(types[lobster.HALT])
    checker = _Checker(day, report)
    engine = checker.engine
    counts = np.zeros(rk.C_FIELDS, dtype=np.int64)
    depth = np.zeros((2 * (day.levels + 2), 5), dtype=np.int64)
    row, stop = 1, len(day.type)
    while row < stop:
        code, row, status = rk.replay_until_exception(
            engine._state, engine._out, 0, row, stop, lobster.EXECUTION_ID_BASE, day.type, day.order_id,
            day.size, day.price, day.side, day.ask_px, day.ask_qty, day.bid_px, day.bid_qty, depth, counts,
        )
        if code == rk.STOP_END:
            break
        if code == rk.STOP_GROW:
            engine._grow(status)
            continue
        report.rows_in_python += 1
        if code == rk.STOP_APPLY:
            checker.apply(row)
        elif code == rk.STOP_MAKER:
            report.executions += 1
            report.wrong_maker += 1
            report.first_wrong_maker = report.first_wrong_maker or f"row {row}: the named order was first in line"
        checker.compare(row)
        row += 1
        if progress is not None:
            progress(row)
    report.rows_compared += int(counts[rk.C_COMPARED])
    report.rows_equal += int(counts[rk.C_EQUAL])
    report.executions += int(counts[rk.C_NAMED])
    report.named += int(counts[rk.C_NAMED])
    report.seconds = time.perf_counter() - started
    if progress is not None:
        progress(stop)
    return report
