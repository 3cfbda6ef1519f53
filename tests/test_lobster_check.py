"""lobster-check on hand-made days (each rule once, and failures it must catch) and on the AMZN days."""

import os
import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from nbengine.cli import main
from nbengine.loaders import lobster
from nbengine.loaders.lobster_check import check, check_day

DATA = Path(__file__).resolve().parents[2] / "shared/data/lobster"
DAY = "AMZN_2012-06-21_34200000_57600000"
JIT_DISABLED = os.environ.get("NUMBA_DISABLE_JIT", "0") == "1"

LEVELS = 2
D = 10_000  # one dollar in LOBSTER price units


class Exchange:
    """The whole book of a tiny exchange, written as the two LOBSTER files would show it."""

    def __init__(self, bids, asks):
        self.book = {1: dict(bids), -1: dict(asks)}
        self.messages = []
        self.rows = []

    def change(self, side, price, qty):
        """A change the message file does not show (or the effect of one it shows)."""
        level = self.book[side]
        level[price] = level.get(price, 0) + qty
        if level[price] == 0:
            del level[price]

    def message(self, kind, order_id, size, price, direction):
        """Append one message and the orderbook row after it."""
        if kind == 1:
            self.change(direction, price, size)
        elif kind in (2, 3, 4):
            self.change(direction, price, -size)
        self.messages.append((f"{34200 + len(self.messages)}.5", kind, order_id, size, price, direction))
        bids = sorted(self.book[1].items(), reverse=True)[:LEVELS]
        asks = sorted(self.book[-1].items())[:LEVELS]
        row = []
        for level in range(LEVELS):
            ask = asks[level] if level < len(asks) else (9999999999, 0)
            bid = bids[level] if level < len(bids) else (-9999999999, 0)
            row += [ask[0], ask[1], bid[0], bid[1]]
        self.rows.append(row)

    def tables(self):
        columns = list(zip(*self.messages))
        names = ["time", "type", "order_id", "size", "price", "direction"]
        messages = lobster.messages_table(pa.table(dict(zip(names, map(list, columns)))))
        return messages, np.array(self.rows, dtype=np.int64).reshape(len(self.rows), LEVELS, 4)


def every_rule():
    """A day that needs every rule of the checker once, and is consistent throughout."""
    ex = Exchange(bids={99 * D: 100, 98 * D: 200, 97 * D: 300}, asks={101 * D: 100, 102 * D: 50})
    ex.message(5, 0, 1, 100 * D, -1)  # row 0: the opening book
    ex.message(1, 1, 10, 99 * D, 1)
    ex.message(1, 2, 20, 99 * D, 1)
    ex.message(4, 500, 30, 99 * D, 1)  # an order from before the open: explainable
    ex.message(4, 1, 10, 99 * D, 1)  # 70 opening shares still ahead in the engine: explainable
    ex.message(3, 501, 70, 99 * D, 1)  # unseen id: taken from the opening placeholder
    ex.message(3, 2, 20, 99 * D, 1)  # 99 empties; 97 enters the window from below: sync entering
    ex.message(1, 6, 10, 99 * D + 5_000, 1)  # 97 leaves the window again
    ex.change(1, 97 * D, -300)  # cancelled while outside the window: no message
    ex.message(3, 6, 10, 99 * D + 5_000, 1)  # 97 would come back in the engine: sync stale
    ex.message(3, 600, 100, 101 * D, -1)
    ex.message(1, 3, 5, 101 * D, -1)
    ex.message(1, 4, 7, 101 * D, -1)
    ex.message(4, 4, 7, 101 * D, -1)  # NASDAQ fills order 4 ahead of order 3: a priority exception
    ex.message(2, 3, 2, 101 * D, -1)
    ex.message(4, 3, 3, 101 * D, -1)
    return ex


def run(ex):
    messages, orderbook = ex.tables()
    return check_day(messages, orderbook)


def test_every_rule_counted():
    report = run(every_rule())
    assert report.ok, str(report)
    assert (report.rows_compared, report.rows_equal, report.rows_synced, report.mismatches) == (14, 14, 2, 0)
    assert (report.syncs_entering, report.shares_entering) == (1, 300)
    assert (report.syncs_stale, report.shares_stale) == (1, 300)
    assert report.unseen_id_reductions == 2
    assert (report.executions, report.named, report.explainable) == (4, 1, 2)
    assert (report.explainable_unseen, report.explainable_uncertain_ahead) == (1, 1)
    assert report.priority_exceptions == 1 and report.exceptions == ["12: 4, 3"]
    assert report.wrong_maker == 0 and report.hidden_executions == 0


def test_a_level_that_differs_inside_the_window_is_a_mismatch():
    ex = every_rule()
    ex.rows[2][3] += 1  # row 2: best bid one share more than the messages explain
    report = run(ex)
    # The engine is forced to the bad row, so the row after it differs too.
    assert not report.ok and report.mismatches == 2
    first = report.first_mismatch
    assert (first.row, first.side, first.level) == (2, "bid", 1)
    assert first.expected == (9900, 131) and first.got == (9900, 130)
    assert "row 2 (message type 1, id 2, size 20" in str(report)


def test_an_execution_of_a_later_order_beyond_the_first_one_is_a_wrong_maker():
    ex = Exchange(bids={}, asks={101 * D: 5})
    ex.message(3, 900, 5, 101 * D, -1)
    ex.message(1, 3, 5, 101 * D, -1)
    ex.message(1, 4, 7, 101 * D, -1)
    ex.message(4, 3, 6, 101 * D, -1)  # order 3 holds 5: the sixth share comes from order 4
    report = run(ex)
    assert report.wrong_maker == 1 and not report.ok
    assert report.first_wrong_maker.startswith("row 3: named 3 for 6 @ 10100")


def test_a_delete_that_disagrees_with_a_certain_order_fails():
    ex = Exchange(bids={}, asks={101 * D: 5})
    ex.message(3, 900, 5, 101 * D, -1)
    ex.message(1, 3, 5, 101 * D, -1)
    ex.message(1, 4, 7, 101 * D, -1)
    ex.message(3, 3, 4, 101 * D, -1)
    report = run(ex)
    assert report.order_mismatches == 1 and not report.ok


def test_cli_exit_status(tmp_path, capsys):
    for name, ex in (("good", every_rule()), ("bad", every_rule())):
        if name == "bad":
            ex.rows[5][1] -= 1
        messages = tmp_path / f"{name}_message_2.csv"
        orderbook = tmp_path / f"{name}_orderbook_2.csv"
        messages.write_text("".join(",".join(map(str, m)) + "\n" for m in ex.messages))
        orderbook.write_text("".join(",".join(map(str, r)) + "\n" for r in ex.rows))
        status = main(["lobster-check", str(messages), str(orderbook), "--quiet"])
        out = capsys.readouterr().out
        assert status == (0 if name == "good" else 1), out
        assert ("OK" if name == "good" else "first mismatch: row 5") in out


def _day_files(level):
    messages = DATA / f"{DAY}_message_{level}.csv.gz"
    orderbook = DATA / f"{DAY}_orderbook_{level}.csv.gz"
    if not (messages.exists() and orderbook.exists()):
        pytest.skip(f"LOBSTER sample not found at {DATA} (CI keeps shared/ beside the clone)")
    return messages, orderbook


@pytest.mark.slow
@pytest.mark.parametrize("level", [1, 5])
def test_amzn_day_has_no_mismatch_and_no_wrong_maker(level):
    messages, orderbook = _day_files(level)
    # Kernels as plain Python replay ~3,500 messages a second (the whole day takes ~5 s
    # compiled): under NUMBA_DISABLE_JIT check the first 10,000 messages only.
    rows = 10_000 if JIT_DISABLED else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lobster.SubNanosecondTimeWarning)
        report = check(messages, orderbook, rows=rows)
    assert report.ok, str(report)
    assert report.rows_compared == report.rows_equal == report.messages - 1
    if rows is None:
        assert report.executions == 8_974
        assert report.named + report.explainable + report.priority_exceptions == 8_974
        assert report.priority_exceptions <= 10  # "a handful per day" (data README)


def test_prices_off_the_tick_grid_and_unequal_files_are_refused():
    ex = Exchange(bids={99 * D: 100}, asks={101 * D: 100})
    ex.message(5, 0, 1, 100 * D + 50, -1)  # hidden executions may be off the grid: they change nothing
    ex.message(1, 1, 10, 99 * D + 50, 1)
    messages, orderbook = ex.tables()
    with pytest.raises(ValueError, match=r"message price: expected multiples of 100, got 990050 at \(1,\)"):
        check_day(messages, orderbook)
    with pytest.raises(ValueError, match="files disagree: 2 messages, 1 orderbook rows"):
        check_day(messages, orderbook[:1])


def test_a_one_share_change_in_the_amzn_book_is_caught():
    messages, orderbook = _day_files(5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lobster.SubNanosecondTimeWarning)
        messages = lobster.read_messages(messages).slice(0, 2_000)
    orderbook = lobster.read_orderbook(orderbook)[:2_000].copy()
    assert check_day(messages, orderbook).ok
    orderbook[1_000, 0, 1] += 1  # best ask size after message 1000
    report = check_day(messages, orderbook)
    assert not report.ok and report.first_mismatch.row == 1_000
    assert (report.first_mismatch.side, report.first_mismatch.level) == ("ask", 1)
