"""Issue 16 #2, #4: results that read without joins, in every file a backtest writes; a CLI that looks after the user."""

import json
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

import nbengine
from nbengine import BUY, LIMIT, SELL
from nbengine.cli import main
from nbengine.codes import PRICE_OFF_TICK
from nbengine.generate import standard_mix, to_table
from nbengine.readable import numeric, readable

from .test_lobster_loader import MESSAGES


def test_the_helper_reads_submit_tables_and_numeric_inverts_it():
    result = nbengine.Engine().submit(standard_mix(3000, seed=3, symbols=2))
    for table in (result.trades, result.events):
        shown = nbengine.readable(table, tz="Europe/London", tick_size=0.5, symbols=["X", "Y"])
        assert shown.schema.field("ts").type == pa.timestamp("ns", "Europe/London")
        assert set(shown.column("symbol").to_pylist()) == {"X", "Y"}
        assert shown.column("px").to_pylist()[:5] == [p * 0.5 for p in table.column("price").to_pylist()[:5]]
        assert numeric(shown).equals(table)
    assert set(readable(result.events).column("event").to_pylist()) >= {"ACCEPTED", "FILLED", "CANCELLED"}
    assert readable(result.events).schema.field("symbol").type == pa.int32()  # no names known: ids


def test_an_off_tick_price_is_null_not_int64_min(tmp_path):
    """Issue 16 #4: the price of an OFF_TICK reject printed as -9223372036854775808."""
    events = nbengine.Engine().submit(nbengine.map_orders(
        {"ts": [1, 2], "order_id": [1, 2], "kind": ["LIMIT"] * 2, "side": ["BUY", "SELL"], "price": [1.00, 1.005],
         "qty": [1, 1]}, tick_size=0.01)).events
    assert PRICE_OFF_TICK in events.column("price").to_pylist()
    shown = readable(events, tick_size=0.01)
    rejected = [row for row in shown.to_pylist() if row["event"] == "REJECTED"]
    assert rejected == [{**rejected[0], "reason": "OFF_TICK", "price": None, "px": None}]
    assert numeric(shown).equals(events)


def _flow_file(tmp_path, n=6000, symbols=4):
    path = tmp_path / "in.parquet"
    pq.write_table(to_table(standard_mix(n, seed=11, symbols=symbols, modify=0.05, accounts=3)), path,
                   row_group_size=900)
    return path


@pytest.mark.parametrize("layout", ["files", "by_symbol"])
def test_files_are_readable_and_do_not_depend_on_batch_rows(tmp_path, layout):
    path = _flow_file(tmp_path)
    runs = {}
    for rows in (333, 65536):
        out = tmp_path / f"out{rows}"
        nbengine.backtest(path, out, batch_rows=rows, quiet=True, tick_size=0.01, layout=layout,
                          quotes=layout == "files")
        if layout == "files":
            runs[rows] = {name: pq.read_table(out / name) for name in ("trades.parquet", "events.parquet",
                                                                      "quotes.parquet")}
        else:
            runs[rows] = {name: ds.dataset(out / name, partitioning="hive").to_table().sort_by("seq")
                          for name in ("trades", "events")}
    for name, table in runs[333].items():
        assert table.equals(runs[65536][name]), name
        assert pa.types.is_timestamp(table.schema.field("ts").type), name
    events = runs[333]["events.parquet" if layout == "files" else "events"]
    assert pa.types.is_dictionary(events.schema.field("event").type)
    assert "px" in events.schema.names
    if layout == "files":
        quotes = runs[333]["quotes.parquet"].to_pandas()
        assert list(quotes.columns) == ["ts", "symbol", "bid", "bid_px", "bid_qty", "ask", "ask_px", "ask_qty"]
        # every row changes its symbol's quote
        for _, rows in quotes.groupby("symbol"):
            values = rows[["bid", "bid_qty", "ask", "ask_qty"]].fillna(-1).to_numpy()
            assert (np.abs(np.diff(values, axis=0)).sum(axis=1) > 0).all()
            assert rows["ts"].is_monotonic_increasing


def test_ticker_names_name_the_by_symbol_directories(tmp_path):
    table = to_table(standard_mix(3000, seed=5, symbols=2))
    names = np.array(["AAPL", "MSFT"])[table.column("symbol").to_numpy()]
    pq.write_table(table.set_column(2, "symbol", pa.array(names)), tmp_path / "in.parquet")
    nbengine.backtest(tmp_path / "in.parquet", tmp_path / "out", quiet=True, layout="by_symbol")
    assert sorted(p.name for p in (tmp_path / "out" / "trades").iterdir()) == ["symbol=AAPL", "symbol=MSFT"]
    trades = ds.dataset(tmp_path / "out" / "trades", partitioning="hive").to_table()
    assert set(trades.column("symbol").to_pylist()) == {"AAPL", "MSFT"}


def test_strategy_files_are_readable(tmp_path):
    from nbengine.backtest.examples import MidQuoter

    path = _flow_file(tmp_path, symbols=1)
    nbengine.backtest(path, tmp_path / "out", quiet=True, strategy=MidQuoter(symbol=0, half_spread=2, size=3),
                      wake_on="bbo", tick_size=0.01)
    fills = pq.read_table(tmp_path / "out" / "own_fills.parquet")
    orders = pq.read_table(tmp_path / "out" / "own_orders.parquet")
    records = pq.read_table(tmp_path / "out" / "strategy.parquet")
    assert fills.num_rows and set(fills.column("side").to_pylist()) <= {"BUY", "SELL"}
    assert set(fills.column("liquidity").to_pylist()) <= {"maker", "taker"} and "px" in fills.schema.names
    assert pa.types.is_dictionary(orders.schema.field("event").type)
    assert all(pa.types.is_timestamp(orders.schema.field(n).type) for n in orders.schema.names if n.endswith("_ts"))
    assert pa.types.is_timestamp(records.schema.field("ts").type) and "bid_px" in records.schema.names


def test_lobster_times_are_new_york_times_on_the_files_date(tmp_path):
    path = tmp_path / "AMZN_2012-06-21_34200000_57600000_message_5.csv"
    path.write_text(MESSAGES)
    summary = nbengine.backtest(path, tmp_path / "out", format="lobster", quiet=True)
    events = pq.read_table(tmp_path / "out" / "events.parquet").to_pandas()
    first = events["ts"].iloc[0]
    assert str(first.tz) == "America/New_York" and str(first.date()) == "2012-06-21" and first.hour == 9
    assert set(events["symbol"]) == {"AMZN"} and summary["tick_size"] == 0.01
    assert summary["symbols"] == {"AMZN": 0} and summary["time_zone"] == "America/New_York"


def test_cli_version_help_and_one_line_mistakes(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out.strip() == f"nbengine {nbengine.__version__}"
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "``" not in capsys.readouterr().out
    with pytest.raises(SystemExit, match=r"^nbengine backtest: no such file or directory: \S+missing.parquet$"):
        main(["backtest", str(tmp_path / "missing.parquet"), "--out", str(tmp_path / "out"), "--quiet"])
    with pytest.raises(SystemExit, match=r"--value expects COLUMN:FROM=TO,..., got 'side'"):
        main(["backtest", str(tmp_path), "--out", str(tmp_path / "out"), "--value", "side"])


def test_cli_warnings_are_one_line_each(tmp_path):
    messages = MESSAGES.replace("34200.18960767,1,11885113", "34200.1896076712,1,11885113", 1)
    path = tmp_path / "AMZN_2012-06-21_34200000_57600000_message_5.csv"
    path.write_text(messages)
    run = subprocess.run([sys.executable, "-m", "nbengine.cli", "backtest", str(path), "--out", str(tmp_path / "out"),
                          "--format", "lobster", "--quiet"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    lines = [line for line in run.stderr.splitlines() if "warning" in line]
    assert lines == [line for line in run.stderr.splitlines() if "SubNanosecond" in line] and len(lines) == 1
    assert lines[0].startswith("nbengine backtest: warning: Time: 1 value(s) with more than 9 decimals")


def test_cold_cache_notice(monkeypatch, capsys):
    import io
    import time

    from nbengine import cli

    monkeypatch.setattr(sys.modules["nbengine.warmup"], "warmup", lambda: time.sleep(0.3))
    monkeypatch.setattr(cli, "COMPILE_NOTICE_AFTER", 0.05)
    stream = io.StringIO()
    cli.warm_up("backtest", stream)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and "compiling the kernels" in lines[0] and "kernels compiled in" in lines[1]
    monkeypatch.setattr(cli, "COMPILE_NOTICE_AFTER", 5)
    stream = io.StringIO()
    cli.warm_up("backtest", stream)
    assert stream.getvalue() == ""
