"""lobster-check on hand-made days (each rule once, and failures it must catch) and on the AMZN days."""

import os
import re
import warnings

import pytest

from nbengine.cli import main
from nbengine.loaders import lobster
from nbengine.loaders.lobster_check import check, check_day

from .lobster_support import D, Exchange, day_files, every_rule

JIT_DISABLED = os.environ.get("NUMBA_DISABLE_JIT", "0") == "1"


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
        messages, orderbook = ex.write(tmp_path, name)
        status = main(["lobster-check", str(messages), str(orderbook), "--quiet"])
        out = capsys.readouterr().out
        assert status == (0 if name == "good" else 1), out
        assert ("OK" if name == "good" else "first mismatch: row 5") in out


@pytest.mark.slow
@pytest.mark.parametrize("level", [1, 5])
def test_amzn_day_has_no_mismatch_and_no_wrong_maker(level):
    messages, orderbook = day_files(level)
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
    messages, orderbook = day_files(5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lobster.SubNanosecondTimeWarning)
        messages = lobster.read_messages(messages).slice(0, 2_000)
    orderbook = lobster.read_orderbook(orderbook)[:2_000].copy()
    assert check_day(messages, orderbook).ok
    orderbook[1_000, 0, 1] += 1  # best ask size after message 1000
    report = check_day(messages, orderbook)
    assert not report.ok and report.first_mismatch.row == 1_000
    assert (report.first_mismatch.side, report.first_mismatch.level) == ("ask", 1)


GOOD_MESSAGES = "34200.1,5,0,1,1000000,-1\n34200.2,1,7,10,990000,1\n"
GOOD_ORDERBOOK = "1010000,100,990000,100\n1010000,100,990000,110\n"


@pytest.mark.parametrize(
    "messages, orderbook, extra, says",
    [
        (None, GOOD_ORDERBOOK, [], "message file .*missing.csv"),
        (GOOD_MESSAGES, None, [], "orderbook file .*missing.csv"),
        (GOOD_MESSAGES, "1010000,100,990000\n1010000,100,990000\n", [], "expected 4 columns per level, got 3"),
        ("34200.1,5,0,1\n", GOOD_ORDERBOOK, [], "message file .*Expected 6 columns, got 4"),
        (GOOD_MESSAGES, GOOD_ORDERBOOK.splitlines()[0] + "\n", [], "files disagree: 2 messages, 1 orderbook rows"),
        ("34200.1,5,0,1,1000000,-1\n34200.2,1,7,10,990050,1\n", GOOD_ORDERBOOK, [], "expected multiples of 100, got 990050"),
        ("hello world\n\x01\x02 garbage\n", GOOD_ORDERBOOK, [], "message file .*CSV parse error"),
        (GOOD_MESSAGES, "1010000,100,abc,100\n1010000,100,990000,110\n", [], "orderbook file .*'abc'"),
        ("", GOOD_ORDERBOOK, [], "message file .*Empty CSV file"),
        ("34200.1,5,0,1,1000000,-1\n34200.2,1,7,-10,990000,1\n", GOOD_ORDERBOOK, [], "message size: expected > 0, got -10"),
        ("34200.3,5,0,1,1000000,-1\n34200.2,1,7,10,990000,1\n", GOOD_ORDERBOOK, [], "row 1 is earlier than row 0"),
        ("34200.1,9,0,1,1000000,-1\n", GOOD_ORDERBOOK, [], "type: expected one of"),
        (GOOD_MESSAGES, GOOD_ORDERBOOK, ["--rows", "0"], "--rows: expected an integer >= 1"),
        (GOOD_MESSAGES, GOOD_ORDERBOOK, ["--price-unit", "0"], "price_unit: expected an integer >= 1"),
    ],
    ids=["no-messages", "no-orderbook", "orderbook-columns", "message-columns", "unequal-files", "off-grid",
         "garbage", "orderbook-text", "empty", "negative-size", "time-goes-back", "unknown-type", "rows-0",
         "price-unit-0"],
)
def test_cli_input_errors_print_one_line_and_exit_2(tmp_path, capsys, messages, orderbook, extra, says):
    paths = []
    for name, text in (("message", messages), ("orderbook", orderbook)):
        path = tmp_path / ("missing.csv" if text is None else f"day_{name}_1.csv")
        if text is not None:
            path.write_text(text)
        paths.append(str(path))
    status = main(["lobster-check", *paths, "--quiet", *extra])
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert status == 2, captured
    assert len(lines) == 1 and lines[0].startswith("nbengine lobster-check: error: "), captured.err
    assert re.search(says, lines[0]), lines[0]
    assert "Traceback" not in captured.err + captured.out


def test_cli_gzip_garbage_and_a_directory_exit_2(tmp_path, capsys):
    (tmp_path / "bad_message_1.csv.gz").write_bytes(b"not gzip at all")
    (tmp_path / "orderbook_1.csv").write_text(GOOD_ORDERBOOK)
    (tmp_path / "a_directory").mkdir()
    for messages in ("bad_message_1.csv.gz", "a_directory"):
        status = main(["lobster-check", str(tmp_path / messages), str(tmp_path / "orderbook_1.csv"), "--quiet"])
        err = capsys.readouterr().err
        assert status == 2 and len(err.strip().splitlines()) == 1 and messages in err, err
