"""Issue 16 #1: a real file (tz times, ticker strings, 'B'/'S', float prices, an extra column) in one call."""

import json

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import nbengine
from nbengine.cli import main
from nbengine.mapping import MappingError, SymbolTable, map_orders

MAPPING = dict(
    columns={"time": "ts", "sym": "symbol", "px": "price", "size": "qty", "oid": "order_id"},
    values={"side": {"B": "BUY", "S": "SELL"}},
    constants={"kind": "LIMIT"},
    tick_size=0.01,
    ignore_columns=["venue"],
)
CLI_MAPPING = ["--map", "time=ts", "--map", "sym=symbol", "--map", "px=price", "--map", "size=qty",
               "--map", "oid=order_id", "--value", "side:B=BUY,S=SELL", "--set", "kind=LIMIT",
               "--tick-size", "0.01", "--ignore", "venue"]


def researcher_file(path, price_dtype=np.float64, n=3000, seed=1):
    """Like the issue's file: ``time`` with a time zone, ``sym`` tickers, ``side`` 'B'/'S', float ``px``."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "time": pd.date_range("2024-03-01 09:30", periods=n, freq="ms", tz="America/New_York"),
        "sym": np.array(["AAPL", "MSFT", "TSLA"])[rng.integers(0, 3, n)],
        "side": np.where(rng.random(n) < 0.5, "B", "S"),
        "px": (10_000 + rng.integers(-20, 20, n)) / 100,
        "size": rng.integers(1, 100, n),
        "oid": np.arange(1, n + 1),
        "venue": "XNAS",
    })
    frame["px"] = frame["px"].astype(price_dtype)
    frame.to_parquet(path)
    return path


def _check_readable(out):
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rejects"] == {} and summary["trades"] > 0
    assert summary["symbols"] == {"AAPL": 0, "MSFT": 1, "TSLA": 2}
    assert summary["tick_size"] == 0.01 and summary["time_zone"] == "America/New_York"
    trades = pd.read_parquet(out / "trades.parquet")
    events = pd.read_parquet(out / "events.parquet")
    assert str(trades["ts"].dt.tz) == "America/New_York" and trades["ts"].iloc[0].hour == 9
    assert set(trades["symbol"]) <= {"AAPL", "MSFT", "TSLA"} and set(trades["taker_side"]) <= {"BUY", "SELL"}
    assert np.allclose(trades["px"], trades["price"] * 0.01)
    assert set(events["event"]) >= {"ACCEPTED", "FILLED"} and set(events["reason"]) == {"NONE"}
    for name in ("trades", "events"):
        frame = pl.read_parquet(out / f"{name}.parquet")
        assert frame.schema["ts"] == pl.Datetime("ns", "America/New_York")
        assert frame.schema["symbol"] == pl.Categorical or isinstance(frame.schema["symbol"], pl.Categorical)
        assert "px" in frame.columns
    metadata = pq.read_schema(out / "trades.parquet").metadata
    assert json.loads(metadata[b"nbengine.symbols"]) == ["AAPL", "MSFT", "TSLA"]
    assert float(metadata[b"nbengine.tick_size"]) == 0.01


@pytest.mark.parametrize("price_dtype", [np.float64, np.float32])
def test_a_researchers_file_backtests_in_one_call(tmp_path, price_dtype):
    path = researcher_file(tmp_path / "orders.parquet", price_dtype)
    summary = nbengine.backtest(path, tmp_path / "out", quiet=True, batch_rows=700, **MAPPING)
    assert summary["rejects"] == {}  # float32 and float64 on-grid prices: no OFF_TICK
    _check_readable(tmp_path / "out")


@pytest.mark.parametrize("price_dtype", [np.float64, np.float32])
def test_a_researchers_file_backtests_in_one_command(tmp_path, price_dtype, capsys):
    path = researcher_file(tmp_path / "orders.parquet", price_dtype)
    assert main(["backtest", str(path), "--out", str(tmp_path / "out"), "--quiet", *CLI_MAPPING]) == 0
    _check_readable(tmp_path / "out")


@pytest.mark.parametrize("column", ["sym", "Symbol"])
def test_an_unmapped_symbol_column_is_an_error_naming_it(tmp_path, column, capsys):
    """Issue 16: without a mapping for ``sym`` all trades fell into symbol 0; ``Symbol`` was ignored alike."""
    path = researcher_file(tmp_path / "orders.parquet")
    pq.write_table(pq.read_table(path).rename_columns(
        [column if name == "sym" else name for name in pq.read_table(path).column_names]), path)
    mapping = {**MAPPING, "columns": {k: v for k, v in MAPPING["columns"].items() if k != "sym"}}
    with pytest.raises(MappingError, match=rf"column '{column}': not an order column; did you mean 'symbol'\?"):
        nbengine.backtest(path, tmp_path / "out", quiet=True, **mapping)
    at = CLI_MAPPING.index("sym=symbol")
    args = CLI_MAPPING[: at - 1] + CLI_MAPPING[at + 1 :]
    with pytest.raises(SystemExit, match=rf"column '{column}': not an order column; did you mean 'symbol'"):
        main(["backtest", str(path), "--out", str(tmp_path / "out"), "--quiet", *args])
    assert not (tmp_path / "out" / "trades.parquet").exists()


def test_every_problem_of_a_file_is_reported_at_once(tmp_path):
    path = researcher_file(tmp_path / "orders.parquet")
    with pytest.raises(MappingError) as info:
        nbengine.backtest(path, tmp_path / "out", quiet=True)
    problems = info.value.problems
    assert [p.split(":")[0] for p in problems] == [
        "column 'time'", "column 'sym'", "column 'px'", "column 'size'", "column 'oid'", "column 'venue'",
        "column 'kind'", "column 'side'",
    ]
    assert all("\n" not in p for p in problems)
    assert "values 'S' (" in problems[-1] and "'B' (" in problems[-1]


def test_map_orders_before_submit_speaks_arrow_not_numpy():
    orders = {"ts": [1, 2], "order_id": [1, 2], "kind": [0, 0], "side": np.array(["B", "S"]),
              "price": [100, 100], "qty": [1, 1]}
    with pytest.raises(nbengine.SchemaError) as info:
        nbengine.Engine().submit(orders)
    assert "<U1" not in str(info.value) and "got string" in str(info.value)
    with pytest.raises(MappingError, match=r"column 'side': values 'B' \(1 rows\), 'S' \(1 rows\) are not mapped"):
        map_orders(orders)
    mapped = map_orders(orders, values={"side": {"B": "BUY", "S": "SELL"}})
    result = nbengine.Engine().submit(mapped)
    assert result.trades.column("taker_side").to_pylist() == [nbengine.SELL]


def test_constants_values_and_symbol_tables_keep_ids_across_calls():
    table = SymbolTable()
    first = map_orders({"ts": [1], "order_id": [1], "symbol": ["MSFT"], "side": ["BUY"], "price": [1], "qty": [1]},
                       constants={"kind": "LIMIT", "tif": "IOC"}, symbol_table=table)
    second = map_orders(pa.table({"ts": [2, 3], "order_id": [2, 3], "symbol": ["AAPL", "MSFT"], "kind": [0, 0],
                                  "side": [1, -1], "price": [1, 1], "qty": [1, 1]}), symbol_table=table)
    assert first.column("symbol").to_pylist() == [0] and first.column("tif").to_pylist() == [nbengine.IOC]
    assert second.column("symbol").to_pylist() == [1, 0] and table.names == ["MSFT", "AAPL"]


def test_option_mistakes_are_reported_together():
    with pytest.raises(MappingError) as info:
        map_orders({"ts": [1]}, columns={"px": "prize"}, constants={"kind": "LIMT"}, tick_size=-1)
    assert len(info.value.problems) == 3
    assert "'prize' is not an order column" in str(info.value) and "did you mean 'price'" in str(info.value)


def test_ticker_hive_partitions_and_the_symbol_table_read_back(tmp_path):
    path = researcher_file(tmp_path / "orders.parquet")
    frame = pd.read_parquet(path)
    for ticker, rows in frame.groupby("sym"):
        (tmp_path / "hive" / f"sym={ticker}").mkdir(parents=True)
        rows.drop(columns="sym").to_parquet(tmp_path / "hive" / f"sym={ticker}" / "part-0.parquet")
    nbengine.backtest(tmp_path / "hive", tmp_path / "out", quiet=True, **MAPPING)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["symbols"] == {"AAPL": 0, "MSFT": 1, "TSLA": 2}
    # Given back as input, the table keeps the ids; a new name gets the next one.
    only_tsla = frame[frame["sym"] == "TSLA"]
    only_tsla.to_parquet(tmp_path / "tsla.parquet")
    again = nbengine.backtest(tmp_path / "tsla.parquet", tmp_path / "again", quiet=True,
                              symbol_table=tmp_path / "out", **MAPPING)
    assert again["symbols"] == {"AAPL": 0, "MSFT": 1, "TSLA": 2}
    events = pq.read_table(tmp_path / "again" / "events.parquet")
    assert set(events.column("symbol").to_pylist()) == {"TSLA"}
