"""Backtests: equal to one Engine.submit, column mapping and tick conversion, LOBSTER input, progress."""

import io
import json
import threading

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

import nbengine
from nbengine.backtest import backtest
from nbengine.parquet_input import map_columns
from nbengine.cli import main
from nbengine.codes import OFF_TICK, REASON_NAMES
from nbengine.generate import standard_mix, to_table
from nbengine.progress import progress_bar
from nbengine.readable import numeric

from .test_lobster_loader import MESSAGES

WALL_CLOCK = {"wall_seconds", "compile_or_cache_load_seconds", "orders_per_second"}


def test_trades_equal_one_submit_of_the_whole_input(tmp_path):
    table = to_table(standard_mix(5_000, seed=7, symbols=3, modify=0.05, fok=0.02, post_only=0.03))
    pq.write_table(table, tmp_path / "orders.parquet", row_group_size=700)
    summary = backtest(tmp_path / "orders.parquet", tmp_path / "out", batch_rows=333, quiet=True)
    whole = nbengine.Engine().submit(table)
    trades = pq.read_table(tmp_path / "out" / "trades.parquet")
    assert numeric(trades).equals(whole.trades)
    assert numeric(pq.read_table(tmp_path / "out" / "events.parquet")).equals(whole.events)
    assert summary["orders"] == 5_000 and summary["trades"] == whole.n_trades
    assert json.loads((tmp_path / "out" / "summary.json").read_text()) == summary


def _foreign_file(tmp_path):
    table = pa.table({
        "time": [1, 2, 3], "id": [1, 2, 3], "kind": [0, 0, 0], "side": [1, -1, -1],
        "px": [100.25, 100.25, 100.26], "size": [5, 3, 1],
    })
    pq.write_table(table, tmp_path / "foreign.parquet")
    return tmp_path / "foreign.parquet"


def test_column_map_and_tick_size(tmp_path):
    path = _foreign_file(tmp_path)
    code = main(["backtest", str(path), "--out", str(tmp_path / "out"), "--quiet", "--map", "time=ts",
                 "--map", "id=order_id", "--map", "px=price", "--map", "size=qty", "--tick-size", "0.05"])
    assert code == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    # 100.25 is on the 0.05 grid (2005 ticks): buy 5 then sell 3 trade; 100.26 is off it: rejected, not rounded.
    assert (summary["trades"], summary["volume"]) == (1, 3)
    assert summary["rejects"] == {REASON_NAMES[OFF_TICK]: 1}
    trades = pq.read_table(tmp_path / "out" / "trades.parquet")
    assert trades.column("price").to_pylist() == [2005]


def test_float_prices_without_a_tick_size_are_refused(tmp_path, capsys):
    path = _foreign_file(tmp_path)
    with pytest.raises(SystemExit, match=r"column 'price' \(from 'px'\): expected int64, got double; convert float prices"):
        main(["backtest", str(path), "--out", str(tmp_path / "out"), "--quiet",
              "--map", "time=ts", "--map", "id=order_id", "--map", "px=price", "--map", "size=qty"])


@pytest.mark.parametrize("mapping, message", [
    ({"px": "cost"}, r"'cost' is not an order column"),
    ({"nope": "price"}, r"no column 'nope'; the input has \['px', 'qty'\]"),
    ({"px": "qty"}, r"more than one column would be named \['qty'\]"),
])
def test_column_map_errors_name_the_problem(mapping, message):
    batch = pa.record_batch({"px": [1.0], "qty": [1]})
    with pytest.raises(ValueError, match=message):
        map_columns(batch, mapping)


def test_cli_rejects_a_malformed_map(tmp_path):
    with pytest.raises(SystemExit, match="--map expects SOURCE=COLUMN, got 'px'"):
        main(["backtest", str(tmp_path), "--out", str(tmp_path / "out"), "--map", "px"])


def test_lobster_backtest_counts_rows_without_orders(tmp_path):
    path = tmp_path / "message.csv"
    path.write_text(MESSAGES)
    summary = backtest(path, tmp_path / "out", format="lobster", quiet=True)
    assert summary["orders"] == 6 and summary["trades"] == 2
    assert sum(summary["lobster_rows_without_order"].values()) == 3
    assert summary["rejects"] == {}


def test_no_progress_bar_off_a_terminal_or_when_quiet():
    stream = io.StringIO()
    with progress_bar(10, stream=stream) as update:
        update(5)
    assert stream.getvalue() == ""

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    with progress_bar(10, quiet=True, stream=Terminal()) as update:
        update(10)


def test_progress_bar_on_a_terminal_with_tqdm():
    pytest.importorskip("tqdm", reason="tqdm is an optional extra (nbengine[progress])")

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    with progress_bar(10, stream=stream, unit="orders") as update:
        update(4)
        update(10)
    assert "100%" in stream.getvalue() and "orders/s" in stream.getvalue()


def test_unknown_format_is_refused(tmp_path):
    with pytest.raises(ValueError, match="format: expected one of"):
        backtest(tmp_path, tmp_path / "out", format="csv")


def test_an_opening_book_needs_one_message_file(tmp_path):
    with pytest.raises(ValueError, match="opening book of one message file, got 2"):
        backtest([tmp_path / "a", tmp_path / "b"], tmp_path / "out", format="lobster", orderbook=tmp_path / "ob")


def test_backtest_with_a_wal_recovers_to_the_same_state(tmp_path):
    import pyarrow.parquet as pq

    import nbengine
    from nbengine.generate import standard_mix, to_table

    pq.write_table(to_table(standard_mix(3000, seed=4, symbols=2)), tmp_path / "flow.parquet")
    summary = nbengine.backtest(tmp_path / "flow.parquet", tmp_path / "out", batch_rows=700,
                                wal_dir=tmp_path / "wal", quiet=True)
    recovered = nbengine.Engine.recover(tmp_path / "wal")
    try:
        assert recovered.state_hash() == summary["state_hash"]
        assert recovered.next_seq == summary["orders"] == 3000
    finally:
        recovered.close()


@pytest.mark.parametrize("compression", ["snappy", "none"])
def test_by_symbol_layout_holds_the_rows_of_the_flat_files(tmp_path, compression):
    pq.write_table(to_table(standard_mix(6000, seed=4, symbols=5, modify=0.05, accounts=3)), tmp_path / "in.parquet")
    flat = backtest(tmp_path / "in.parquet", tmp_path / "flat", batch_rows=700, quiet=True, compression=compression)
    split = backtest(tmp_path / "in.parquet", tmp_path / "split", batch_rows=700, quiet=True,
                     compression=compression, layout="by_symbol")
    assert {k: v for k, v in split.items() if k not in WALL_CLOCK} == {k: v for k, v in flat.items() if k not in WALL_CLOCK}
    for name in ("trades", "events"):
        expected = numeric(pq.read_table(tmp_path / "flat" / f"{name}.parquet"))
        got = numeric(ds.dataset(tmp_path / "split" / name, partitioning="hive").to_table())
        symbols = sorted(set(expected.column("symbol").to_pylist()))
        assert sorted(p.name for p in (tmp_path / "split" / name).iterdir()) == sorted(f"symbol={s}" for s in symbols)
        for symbol in symbols:
            want = expected.filter(pc.equal(expected.column("symbol"), symbol))
            have = got.filter(pc.equal(got.column("symbol"), symbol)).sort_by("seq")
            assert have.select(want.schema.names).cast(want.schema).equals(want)
    assert not (tmp_path / "split" / "trades.parquet").exists()


def test_unknown_layout_is_refused(tmp_path):
    with pytest.raises(ValueError, match="layout: expected one of"):
        backtest(tmp_path / "missing.parquet", tmp_path / "out", layout="by_day")


def test_a_new_run_replaces_the_results_of_an_earlier_one_in_either_layout(tmp_path):
    pq.write_table(to_table(standard_mix(2000, seed=6, symbols=3)), tmp_path / "in.parquet")
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    backtest(tmp_path / "in.parquet", out, quiet=True, layout="by_symbol")
    backtest(tmp_path / "in.parquet", out, quiet=True, layout="by_symbol")
    assert sorted(p.name for p in out.iterdir()) == ["events", "notes.txt", "summary.json", "trades"]
    backtest(tmp_path / "in.parquet", out, quiet=True)
    assert sorted(p.name for p in out.iterdir()) == ["events.parquet", "notes.txt", "summary.json", "trades.parquet"]
    backtest(tmp_path / "in.parquet", out, quiet=True, layout="by_symbol")
    assert sorted(p.name for p in out.iterdir()) == ["events", "notes.txt", "summary.json", "trades"]


def test_a_missing_input_leaves_the_last_results_alone(tmp_path):
    pq.write_table(to_table(standard_mix(500, seed=6)), tmp_path / "in.parquet")
    backtest(tmp_path / "in.parquet", tmp_path / "out", quiet=True)
    with pytest.raises(FileNotFoundError, match="no such file or directory"):
        backtest(tmp_path / "typo.parquet", tmp_path / "out", quiet=True)
    assert (tmp_path / "out" / "trades.parquet").exists() and (tmp_path / "out" / "summary.json").exists()


def _threads_started(monkeypatch):
    names = []
    start = threading.Thread.start

    def recorded_start(thread):
        names.append(thread.name)
        start(thread)

    monkeypatch.setattr(threading.Thread, "start", recorded_start)
    return names


@pytest.mark.parametrize("layout", ["files", "by_symbol"])
def test_serial_stages_give_the_pipelined_results_in_the_callers_thread(tmp_path, monkeypatch, layout):
    pq.write_table(to_table(standard_mix(8000, seed=9, symbols=6, modify=0.05, accounts=3)), tmp_path / "in.parquet",
                   row_group_size=1500)
    started = _threads_started(monkeypatch)
    pipelined = backtest(tmp_path / "in.parquet", tmp_path / "pipelined", batch_rows=600, quiet=True, layout=layout)
    assert any(name.startswith("nbengine-") for name in started)
    started.clear()
    serial = backtest(tmp_path / "in.parquet", tmp_path / "serial", batch_rows=600, quiet=True, layout=layout,
                      pipelined=False)
    assert started == []
    assert {k: v for k, v in serial.items() if k not in WALL_CLOCK} == {
        k: v for k, v in pipelined.items() if k not in WALL_CLOCK
    }
    for name in ("trades", "events"):
        if layout == "files":
            read = [pq.read_table(tmp_path / run / f"{name}.parquet") for run in ("pipelined", "serial")]
        else:
            read = [ds.dataset(tmp_path / run / name, partitioning="hive").to_table().sort_by("seq")
                    for run in ("pipelined", "serial")]
        assert read[1].equals(read[0])


def test_a_run_that_cannot_start_its_wal_leaves_the_last_results_alone(tmp_path, capsys):
    """Issue 14 #3: the second run with the same --wal used to empty --out, then die with a traceback."""
    pq.write_table(to_table(standard_mix(500, seed=6)), tmp_path / "in.parquet")
    args = ["backtest", str(tmp_path / "in.parquet"), "--out", str(tmp_path / "out"), "--wal", str(tmp_path / "wal"),
            "--quiet"]
    main(args)
    before = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    with pytest.raises(SystemExit, match=r"^nbengine backtest: .*already holds a WAL"):
        main(args)
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == before


def test_an_interrupted_run_leaves_the_last_results_whole(tmp_path, monkeypatch):
    """Issue 14 #3: a SIGINT used to leave trades and events cut at different batches beside the old summary."""
    from nbengine.backtest import run

    pq.write_table(to_table(standard_mix(3000, seed=6)), tmp_path / "in.parquet")
    backtest(tmp_path / "in.parquet", tmp_path / "out", quiet=True, batch_rows=500)
    before = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    written = []
    original = run._Totals.write_events

    def interrupted(self, writer, events):
        written.append(events.num_rows)
        if len(written) == 3:
            raise KeyboardInterrupt
        original(self, writer, events)

    monkeypatch.setattr(run._Totals, "write_events", interrupted)
    with pytest.raises(KeyboardInterrupt):
        backtest(tmp_path / "in.parquet", tmp_path / "out", quiet=True, batch_rows=500, pipelined=False)
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == before


@pytest.mark.parametrize("case, message", [
    ("file", "out: .* is a file, not a directory"),
    ("under-file", "out: cannot create .*: a part of the path is a file"),
    ("batch-rows", "--batch-rows expects at least 1, got 0"),
])
def test_cli_mistakes_are_one_line(tmp_path, case, message):
    pq.write_table(to_table(standard_mix(50, seed=6)), tmp_path / "in.parquet")
    (tmp_path / "afile").write_text("x")
    out = {"file": tmp_path / "afile", "under-file": tmp_path / "afile" / "out"}.get(case, tmp_path / "out")
    args = ["backtest", str(tmp_path / "in.parquet"), "--out", str(out), "--quiet"]
    if case == "batch-rows":
        args += ["--batch-rows", "0"]
    with pytest.raises(SystemExit, match=message):
        main(args)


def test_a_read_only_out_is_one_line(tmp_path, monkeypatch):
    """Root may write anywhere, so the refusal is injected where the directory is made."""
    pq.write_table(to_table(standard_mix(50, seed=6)), tmp_path / "in.parquet")
    made = type(tmp_path).mkdir

    def refused(path, *args, **kwargs):
        if path.name.startswith("out") or path.parent.name.startswith("out"):
            raise PermissionError(13, "Permission denied", str(path))
        return made(path, *args, **kwargs)

    monkeypatch.setattr(type(tmp_path), "mkdir", refused)
    with pytest.raises(SystemExit, match="out: cannot write in .*: permission denied"):
        main(["backtest", str(tmp_path / "in.parquet"), "--out", str(tmp_path / "out"), "--quiet"])


def test_summary_volume_never_wraps(tmp_path):
    """Issue 14 #4: five trades of MAX_QTY lots summed in one int64 (or uint64) wrap around."""
    from nbengine.codes import MAX_QTY

    n = 5
    flow = {"ts": list(range(2 * n)), "order_id": list(range(1, 2 * n + 1)), "kind": [0] * (2 * n),
            "side": [-1, 1] * n, "price": [100] * (2 * n), "qty": [MAX_QTY] * (2 * n)}
    pq.write_table(pa.table(flow), tmp_path / "in.parquet")
    summary = backtest(tmp_path / "in.parquet", tmp_path / "out", quiet=True)
    assert summary["trades"] == n and summary["volume"] == n * MAX_QTY
