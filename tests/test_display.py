"""Rich display: ladders, results and engines as HTML and text, checked against the engine's own views."""

from html.parser import HTMLParser

import pytest

import nbengine
from nbengine import BUY, LIMIT, MARKET, SELL
from nbengine.display import engine_html


class _Cells(HTMLParser):
    """Collects the text of every ``<td>`` / ``<th>`` by table row, and the caption."""

    def __init__(self, text):
        super().__init__()
        self.rows, self.caption, self._cell, self._in_caption = [], "", None, False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = ""
        elif tag == "caption":
            self._in_caption = True

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.rows[-1].append(self._cell)
            self._cell = None
        elif tag == "caption":
            self._in_caption = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data
        elif self._in_caption:
            self.caption += data


def _number(text):
    return int(text.replace(",", "")) if text else None


def _book(rows):
    """An engine holding LIMIT orders given as (side, price, qty) rows, ids 1.."""
    eng = nbengine.Engine()
    n = len(rows)
    eng.submit({
        "ts": list(range(1, n + 1)), "order_id": list(range(1, n + 1)), "kind": [LIMIT] * n,
        "side": [r[0] for r in rows], "price": [r[1] for r in rows], "qty": [r[2] for r in rows],
    })
    return eng


TWO_SIDED = [
    (BUY, 99, 5), (BUY, 99, 2), (BUY, 97, 1_500), (BUY, 95, 8),
    (SELL, 102, 3), (SELL, 103, 4), (SELL, 103, 6),
]


def test_ladder_html_rows_equal_the_engines_depth():
    eng = _book(TWO_SIDED)
    cells = _Cells(eng.ladder(0, levels=10)._repr_html_())
    header, *rows = cells.rows
    assert header == ["orders", "qty", "bid", "ask", "qty", "orders"]
    depth = eng.depth(0, 10).to_pydict()
    expected = {BUY: [], SELL: []}
    for side, price, qty, orders in zip(depth["side"], depth["price"], depth["qty"], depth["orders"]):
        expected[side].append((price, qty, orders))
    assert len(rows) == max(len(expected[BUY]), len(expected[SELL])) == 3
    for i, row in enumerate(rows):
        values = [_number(v) for v in row]
        bid = expected[BUY][i] if i < len(expected[BUY]) else (None, None, None)
        ask = expected[SELL][i] if i < len(expected[SELL]) else (None, None, None)
        assert values == [bid[2], bid[1], bid[0], ask[0], ask[1], ask[2]]
    assert rows[1][1] == "1,500"
    assert "spread 3" in cells.caption and "mid 100.5" in cells.caption


def test_ladder_levels_limit_the_rows_and_attributes_match_bbo():
    eng = _book(TWO_SIDED)
    ladder = eng.ladder(0, levels=2)
    assert len(_Cells(ladder._repr_html_()).rows) == 1 + 2
    quote = eng.bbo(0)
    assert (ladder.best_bid, ladder.best_ask) == (quote.bid_price, quote.ask_price) == (99, 102)
    assert ladder.bids.qty.tolist() == [7, 1_500] and ladder.asks.orders.tolist() == [1, 2]
    assert ladder.spread == 3 and ladder.mid == 100.5


def test_ladder_repr_is_one_short_line():
    text = repr(_book(TWO_SIDED).ladder(0, levels=10))
    assert text == "<Ladder symbol 0: bid 99 x 7 (3 levels) | ask 102 x 3 (2 levels), spread 3>"


def test_ladder_text_aligns_bids_left_asks_right():
    lines = str(_book(TWO_SIDED).ladder(0, levels=10)).splitlines()
    assert lines[0] == "symbol 0, spread 3, mid 100.5"
    assert lines[2].split() == ["2", "7", "99", "|", "102", "3", "1"]
    assert lines[4].split() == ["1", "8", "95", "|"]


def test_empty_book_ladder():
    ladder = nbengine.Engine().ladder(5, levels=10)
    assert repr(ladder) == "<Ladder symbol 5: empty book>"
    assert (ladder.best_bid, ladder.best_ask, ladder.spread, ladder.mid) == (None, None, None, None)
    cells = _Cells(ladder._repr_html_())
    assert cells.rows[1:] == [["empty book"]]
    assert "spread —" in cells.caption
    assert str(ladder).endswith("(empty book)")


def test_one_sided_book_ladder():
    eng = _book([(SELL, 110, 4), (SELL, 111, 2)])
    ladder = eng.ladder(0, levels=10)
    assert repr(ladder) == "<Ladder symbol 0: bid none | ask 110 x 4 (2 levels), spread —>"
    assert ladder.spread is None and ladder.mid is None
    cells = _Cells(ladder._repr_html_())
    assert [r[:3] for r in cells.rows[1:]] == [["", "", ""], ["", "", ""]]
    assert [_number(r[3]) for r in cells.rows[1:]] == [110, 111]
    assert "spread —, mid —" in cells.caption


def test_result_html_counts_names_and_first_rows():
    eng = _book(TWO_SIDED)
    result = eng.submit({
        "ts": [10, 11, 12, 13], "order_id": [20, 21, 1, 22], "kind": [MARKET, LIMIT, LIMIT, LIMIT],
        "side": [BUY, BUY, BUY, SELL], "price": [0, 98, 98, 100], "qty": [5, 0, 1, 1],
    })
    text = result._repr_html_()
    assert f"{result.n_trades} trades (volume 5)" in text
    assert "REJECTED 2" in text and "BAD_QTY 1" in text and "DUPLICATE_ID 1" in text
    cells = _Cells(text)
    event_rows = [row for row in cells.rows if len(row) == len(result.events.column_names)]
    assert event_rows[0] == result.events.column_names
    assert len(event_rows) == 1 + 5
    assert result.events.num_rows == 6 and "… and 1 more row<" in text
    assert event_rows[1][4] == "1 ACCEPTED"
    assert repr(result).startswith("<SubmitResult seq 7..11:")


def test_engine_and_book_view_html_list_every_book():
    eng = _book(TWO_SIDED)
    eng.submit({"ts": [1, 2], "order_id": [1, 1], "symbol": [7, 3], "kind": [LIMIT, LIMIT],
                "side": [SELL, BUY], "price": [50, 40], "qty": [1, 2]})
    assert eng.symbols() == [0, 3, 7]
    cells = _Cells(eng._repr_html_())
    assert [row[0] for row in cells.rows[1:]] == ["0", "3", "7"]
    assert cells.rows[1] == ["0", "7", "99", "102", "3", "3"]
    assert cells.rows[2] == ["3", "2", "40", "—", "—", "—"]
    assert "3 books, 9 resting orders" in eng._repr_html_()


@pytest.mark.parametrize("title", ["<script>alert(1)</script>", "a & b"])
def test_text_is_escaped(title):
    text = engine_html(nbengine.Engine(), title=title)
    assert "<script>" not in text and "a & b" not in text
    assert "&lt;script&gt;" in text or "a &amp; b" in text
