"""Rich display of book views and results: HTML for Jupyter, short text for terminals.

Jupyter calls an object's ``_repr_html_`` when it is the value of a cell. The public
objects delegate to the functions here: `Ladder` (``Engine.ladder``) renders bids and
asks side by side, `result_html` a ``SubmitResult``'s counts and first rows, `engine_html`
an ``Engine``'s books. The HTML uses inline styles only (no CSS framework) and escapes
every piece of text with ``html.escape``; the values themselves are integers.
"""

import html
from typing import NamedTuple

import numpy as np

from .codes import BUY, EVENT_NAMES, REASON_NAMES, REJECTED, SELL

RESULT_ROWS = 5
"""Rows of trades and of events a result shows in HTML."""

ENGINE_BOOKS = 20
"""Books an engine lists in HTML; the rest are counted."""

_BID_COLOUR = "rgba(0, 140, 70, 0.22)"
_ASK_COLOUR = "rgba(200, 40, 40, 0.22)"
_CELL = "padding: 1px 8px; text-align: right"


class Levels(NamedTuple):
    """One side of a ladder, best level first: int64 arrays of equal length."""

    price: np.ndarray
    qty: np.ndarray
    orders: np.ndarray


class Ladder:
    """The top levels of one book, bids and asks side by side (``Engine.ladder``).

    Parameters
    ----------
    symbol : int
    depth : pyarrow.Table
        ``Engine.depth(symbol, levels)``: rows of ``schema.DEPTH_SCHEMA``.
    levels : int
        The number of levels per side that was asked for.

    Attributes
    ----------
    symbol, levels : int
    depth : pyarrow.Table
        The depth table the ladder was built from.
    bids, asks : Levels
        Price, quantity and order count of each level, best first.

    Examples
    --------
    >>> import nbengine
    >>> eng = nbengine.Engine()
    >>> _ = eng.submit({"ts": [1, 2, 3], "order_id": [1, 2, 3], "kind": [0, 0, 0],
    ...                 "side": [1, 1, -1], "price": [99, 99, 101], "qty": [5, 2, 3]})
    >>> ladder = eng.ladder(0, levels=5)
    >>> ladder
    <Ladder symbol 0: bid 99 x 7 (1 level) | ask 101 x 3 (1 level), spread 2>
    >>> print(ladder)
    symbol 0, spread 2, mid 100
    orders    qty    bid |    ask    qty orders
         2      7     99 |    101      3      1
    """

    def __init__(self, symbol, depth, levels):
        self.symbol = int(symbol)
        self.levels = int(levels)
        self.depth = depth
        columns = {name: np.asarray(depth.column(name)) for name in ("side", "price", "qty", "orders")}
        self.bids, self.asks = (
            Levels(*(columns[name][columns["side"] == side] for name in ("price", "qty", "orders")))
            for side in (BUY, SELL)
        )

    @property
    def best_bid(self):
        """Best bid price in ticks, or None when there are no bids."""
        return int(self.bids.price[0]) if len(self.bids.price) else None

    @property
    def best_ask(self):
        """Best ask price in ticks, or None when there are no asks."""
        return int(self.asks.price[0]) if len(self.asks.price) else None

    @property
    def spread(self):
        """Best ask minus best bid in ticks, or None when a side is empty."""
        if self.best_bid is None or self.best_ask is None:
            return None
        return self.best_ask - self.best_bid

    @property
    def mid(self):
        """Mean of the best bid and ask (a float), or None when a side is empty."""
        if self.spread is None:
            return None
        return (self.best_bid + self.best_ask) / 2

    def __repr__(self):
        if not len(self.bids.price) and not len(self.asks.price):
            return f"<Ladder symbol {self.symbol}: empty book>"
        return (
            f"<Ladder symbol {self.symbol}: bid {_side_summary(self.bids)} | ask {_side_summary(self.asks)}, "
            f"spread {_text(self.spread)}>"
        )

    def __str__(self):
        return ladder_text(self)

    def _repr_html_(self):
        return ladder_html(self)


def _text(value):
    """A number for people: thousands separated, None as a dash, halves kept."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.1f}" if value % 1 else f"{int(value):,}"
    return f"{int(value):,}"


def _side_summary(levels):
    """``best price x qty (n levels)`` of one side, or ``none``."""
    n = len(levels.price)
    if n == 0:
        return "none"
    return f"{_text(levels.price[0])} x {_text(levels.qty[0])} ({n} level{'s' if n > 1 else ''})"


def _caption(ladder):
    """The line above a ladder: symbol, spread and mid."""
    return f"symbol {ladder.symbol}, spread {_text(ladder.spread)}, mid {_text(ladder.mid)}"


def _row_cells(ladder, i):
    """The six cells of row ``i`` (bid orders, qty, price, ask price, qty, orders); None where absent."""
    bid = [None] * 3 if i >= len(ladder.bids.price) else [ladder.bids.orders[i], ladder.bids.qty[i], ladder.bids.price[i]]
    ask = [None] * 3 if i >= len(ladder.asks.price) else [ladder.asks.price[i], ladder.asks.qty[i], ladder.asks.orders[i]]
    return bid + ask


def ladder_text(ladder):
    """A fixed-width text ladder: bids on the left, asks on the right, best level first."""
    rows = max(len(ladder.bids.price), len(ladder.asks.price))
    lines = [_caption(ladder), "orders    qty    bid |    ask    qty orders"]
    for i in range(rows):
        cells = [_text(v) if v is not None else "" for v in _row_cells(ladder, i)]
        lines.append("{:>6} {:>6} {:>6} | {:>6} {:>6} {:>6}".format(*cells).rstrip())
    if rows == 0:
        lines.append("(empty book)")
    return "\n".join(lines)


def _bar(qty, largest, colour, towards):
    """Inline style drawing ``qty`` as a bar growing ``towards`` ('left' or 'right')."""
    share = 0 if not largest else round(100 * int(qty) / largest, 1)
    return f"background: linear-gradient(to {towards}, {colour} {share}%, transparent {share}%)"


def ladder_html(ladder):
    """An HTML table of ``ladder``: bid orders, qty, price | ask price, qty, orders.

    Quantities carry a bar proportional to the largest level shown, bids in green
    growing leftwards and asks in red growing rightwards; the caption gives the symbol,
    spread and mid.
    """
    rows = max(len(ladder.bids.price), len(ladder.asks.price))
    largest = int(max([0, *ladder.bids.qty, *ladder.asks.qty]))
    head = "".join(
        f'<th style="{_CELL}">{html.escape(name)}</th>' for name in ("orders", "qty", "bid", "ask", "qty", "orders")
    )
    body = []
    for i in range(rows):
        cells = _row_cells(ladder, i)
        styles = [_CELL] * 6
        if cells[1] is not None:
            styles[1] += "; " + _bar(cells[1], largest, _BID_COLOUR, "left")
            styles[2] += "; font-weight: bold; color: #08683a"
        if cells[4] is not None:
            styles[4] += "; " + _bar(cells[4], largest, _ASK_COLOUR, "right")
            styles[3] += "; font-weight: bold; color: #a32020"
        tds = "".join(
            f'<td style="{style}">{html.escape(_text(v)) if v is not None else ""}</td>' for v, style in zip(cells, styles)
        )
        body.append(f"<tr>{tds}</tr>")
    if rows == 0:
        body.append(f'<tr><td colspan="6" style="{_CELL}; text-align: center">empty book</td></tr>')
    return (
        '<table class="nbengine-ladder" style="border-collapse: collapse">'
        f'<caption style="text-align: left">{html.escape(_caption(ladder))}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def _named(column, value):
    """An events cell as text: codes of ``event`` and ``reason`` get their names."""
    if column == "event":
        return f"{value} {EVENT_NAMES.get(value, '?')}"
    if column == "reason" and value:
        return f"{value} {REASON_NAMES.get(value, '?')}"
    return str(value)


def table_html(table, rows):
    """The first ``rows`` rows of a ``pyarrow.Table`` as HTML, with a count of the rest."""
    shown = table.slice(0, rows).to_pydict()
    head = "".join(f'<th style="{_CELL}">{html.escape(name)}</th>' for name in table.column_names)
    body = []
    for i in range(min(rows, table.num_rows)):
        tds = "".join(
            f'<td style="{_CELL}">{html.escape(_named(name, shown[name][i]))}</td>' for name in table.column_names
        )
        body.append(f"<tr>{tds}</tr>")
    more = table.num_rows - rows
    tail = f"<p>… and {more:,} more row{'' if more == 1 else 's'}</p>" if more > 0 else ""
    return f'<table style="border-collapse: collapse"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>{tail}'


def event_counts(events):
    """``{event name: rows}`` of an events table, and ``{reason name: rows}`` of its rejects."""
    event = np.asarray(events.column("event"))
    reason = np.asarray(events.column("reason"))
    by_event = {EVENT_NAMES.get(int(code), str(code)): int(n) for code, n in zip(*np.unique(event, return_counts=True))}
    rejected = reason[event == REJECTED]
    by_reason = {
        REASON_NAMES.get(int(code), str(code)): int(n) for code, n in zip(*np.unique(rejected, return_counts=True))
    }
    return by_event, by_reason


def _counts_text(counts):
    """``NAME n, NAME n`` of a ``{name: count}``, or ``none``."""
    return ", ".join(f"{name} {n:,}" for name, n in counts.items()) or "none"


def result_html(result, rows=RESULT_ROWS):
    """A ``SubmitResult`` as HTML: its sequence range, counts by event and reason, first rows."""
    trades, events = result.trades, result.events
    volume = int(np.sum(np.asarray(trades.column("qty")))) if trades.num_rows else 0
    by_event, by_reason = event_counts(events)
    summary = (
        f"input seq {result.seq_start:,}..{result.seq_end:,} ({result.seq_end - result.seq_start:,} orders): "
        f"{trades.num_rows:,} trades (volume {volume:,}), {events.num_rows:,} events"
    )
    parts = [
        f"<p><b>SubmitResult</b> {html.escape(summary)}</p>",
        f"<p>events: {html.escape(_counts_text(by_event))}; rejects: {html.escape(_counts_text(by_reason))}</p>",
    ]
    for name, table in (("trades", trades), ("events", events)):
        if table.num_rows:
            parts.append(f"<p><b>{name}</b></p>{table_html(table, rows)}")
    return '<div class="nbengine-result">' + "".join(parts) + "</div>"


def books_html(engine, symbols, limit=ENGINE_BOOKS):
    """One row per book of ``symbols`` (up to ``limit``): best bid and ask with sizes, spread."""
    head = "".join(
        f'<th style="{_CELL}">{name}</th>' for name in ("symbol", "bid qty", "bid", "ask", "ask qty", "spread")
    )
    body = []
    for symbol in symbols[:limit]:
        quote = engine.bbo(symbol)
        bid_qty = quote.bid_qty if quote.bid_price is not None else None
        ask_qty = quote.ask_qty if quote.ask_price is not None else None
        spread = None if None in (quote.bid_price, quote.ask_price) else quote.ask_price - quote.bid_price
        cells = (symbol, bid_qty, quote.bid_price, quote.ask_price, ask_qty, spread)
        body.append("<tr>" + "".join(f'<td style="{_CELL}">{html.escape(_text(v))}</td>' for v in cells) + "</tr>")
    more = len(symbols) - limit
    tail = f"<p>… and {more:,} more books</p>" if more > 0 else ""
    return f'<table style="border-collapse: collapse"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>{tail}'


def engine_html(engine, title="Engine"):
    """An ``Engine`` as HTML: its counters and settings, then each book's best quotes."""
    symbols = engine.symbols()
    summary = (
        f"{len(symbols):,} book{'' if len(symbols) == 1 else 's'}, {engine.live_orders:,} resting orders, next seq {engine.next_seq:,}, "
        f"stp={engine.stp}, durability={engine.durability}"
    )
    books = books_html(engine, symbols) if symbols else ""
    return f'<div class="nbengine-engine"><p><b>{html.escape(title)}</b> {html.escape(summary)}</p>{books}</div>'


__all__ = [
    "ENGINE_BOOKS",
    "Ladder",
    "Levels",
    "RESULT_ROWS",
    "books_html",
    "engine_html",
    "event_counts",
    "ladder_html",
    "ladder_text",
    "result_html",
    "table_html",
]
