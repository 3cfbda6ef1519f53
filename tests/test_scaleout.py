"""Symbol-partitioned backtests on Dask: equal to one process per symbol, balanced, retried after a worker dies."""

import json
import os
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

import nbengine
from nbengine.cli import main
from nbengine.generate import standard_mix, to_table
from nbengine.parquet_input import count_rows_by_symbol
from nbengine.parquet_input import ParquetReadError
from nbengine.readable import numeric
from nbengine.backtest.scaleout import ATTEMPT_PREFIX, WORKER_ENVIRON, balance_partitions, dask_client
from nbengine.schema import EVENTS_SCHEMA, TRADES_SCHEMA

from .conftest import assert_columns_equal

SYMBOLS = 7


@pytest.fixture(scope="module")
def flow(tmp_path_factory):
    """6,000 orders over 7 symbols in two files of small row groups, and the whole table."""
    table = to_table(standard_mix(6_000, seed=11, symbols=SYMBOLS, modify=0.05, fok=0.02, post_only=0.03, accounts=3))
    directory = tmp_path_factory.mktemp("flow")
    pq.write_table(table.slice(0, 3_500), directory / "a.parquet", row_group_size=400)
    pq.write_table(table.slice(3_500), directory / "b.parquet", row_group_size=400)
    return directory, table


@pytest.fixture(scope="module")
def one_process(flow, tmp_path_factory):
    """The single-process backtest of ``flow``: (summary, output directory)."""
    out = tmp_path_factory.mktemp("one")
    return nbengine.backtest(flow[0], out, batch_rows=500, quiet=True), out


@pytest.fixture(scope="module")
def client():
    """One LocalCluster of two single-threaded worker processes for the whole module, as ``client=None`` starts it."""
    pytest.importorskip("distributed")
    with dask_client(workers=2) as connected:
        yield connected


def _environ(names):
    return {name: os.environ.get(name) for name in names}


def test_local_cluster_workers_get_dasks_environment_and_a_fixed_mmap_threshold(client):
    import dask

    expected = {name: str(value) for name, value in dask.config.get("distributed.nanny.pre-spawn-environ").items()}
    expected.update(WORKER_ENVIRON)
    for name in expected:
        expected[name] = os.environ.get(name, expected[name])
    found = client.run(_environ, list(expected))
    assert len(found) == 2 and all(environ == expected for environ in found.values())


def _per_symbol_order(table, names):
    """``table``'s columns ``names`` but ``seq``, rows ordered by (symbol, seq): each symbol's rows as produced."""
    ordered = table.select(names).sort_by([("symbol", "ascending"), ("seq", "ascending")])
    return ordered.drop_columns(["seq"]).to_pydict()


def _assert_equal_to_one_process(out, one_out):
    for name, schema in (("trades", TRADES_SCHEMA), ("events", EVENTS_SCHEMA)):
        partitioned = numeric(ds.dataset(out / name, partitioning="hive").to_table())
        single = numeric(pq.read_table(one_out / f"{name}.parquet"))
        assert_columns_equal(_per_symbol_order(single, schema.names), _per_symbol_order(partitioned, schema.names), name)


def _assert_same_totals(summary, single):
    for key in ("orders", "trades", "volume", "resting_orders"):
        assert summary[key] == single[key], key
    assert summary["rejects"] == dict(sorted(single["rejects"].items()))


def _assert_no_attempts_left(out):
    assert sorted(path.name for path in out.iterdir()) == ["events", "summary.json", "trades"]


def test_balance_packs_by_order_count_largest_first():
    counts = {0: 900, 1: 100, 2: 100, 3: 100, 4: 100, 5: 500, 6: 400}
    packed = balance_partitions(counts, 3)
    assert [p.symbols for p in packed] == [[0], [2, 4, 5], [1, 3, 6]]
    assert [p.orders for p in packed] == [900, 700, 600]
    assert sorted(s for p in packed for s in p.symbols) == sorted(counts)
    assert balance_partitions(counts, 3) == packed
    assert len(balance_partitions(counts, 50)) == len(counts)
    with pytest.raises(ValueError, match="partitions: expected >= 1, got 0"):
        balance_partitions(counts, 0)


def test_orders_are_counted_per_symbol_from_the_symbol_column(flow, tmp_path):
    directory, table = flow
    expected = np.bincount(table.column("symbol").to_numpy())
    assert count_rows_by_symbol([directory]) == dict(enumerate(expected.tolist()))
    pq.write_table(table.rename_columns({"symbol": "sym"}), tmp_path / "renamed.parquet")
    assert count_rows_by_symbol([tmp_path / "renamed.parquet"], {"sym": "symbol"}) == count_rows_by_symbol([directory])
    with pytest.raises(ValueError, match="no column 'symbol'"):
        count_rows_by_symbol([tmp_path / "renamed.parquet"])


def test_a_symbol_subset_equals_one_submit_of_those_rows(flow, tmp_path):
    directory, table = flow
    summary = nbengine.backtest(directory, tmp_path, symbols=[1, 4], batch_rows=300, quiet=True)
    rows = table.filter(pc.is_in(table.column("symbol"), pa.array([1, 4], pa.int32())))
    whole = nbengine.Engine().submit(rows)
    assert summary["orders"] == rows.num_rows
    assert numeric(pq.read_table(tmp_path / "trades.parquet")).equals(whole.trades)
    assert numeric(pq.read_table(tmp_path / "events.parquet")).equals(whole.events)


@pytest.mark.parametrize("options, message", [
    ({"partition_by": "account"}, "partition_by: expected 'symbol', got 'account'"),
    ({"partitions": 3}, "go with partition_by='symbol'"),
    ({"partition_by": "symbol", "format": "lobster"}, "reads Parquet input, not format='lobster'"),
    ({"partition_by": "symbol", "strategy": object()}, "cannot run a strategy"),
    ({"partition_by": "symbol", "wal_dir": "wal"}, "keeps no WAL"),
])
def test_partitioning_refuses_what_it_cannot_do(flow, tmp_path, options, message):
    with pytest.raises(ValueError, match=message):
        nbengine.backtest(flow[0], tmp_path, **options)


def test_without_dask_the_error_says_what_to_install(flow, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError, match=r"pip install nbengine\[distributed\]"):
        nbengine.backtest(flow[0], tmp_path, partition_by="symbol", quiet=True)


@pytest.mark.parametrize("argv, message", [
    (["--workers", "2", "--scheduler", "tcp://x:1"], "give one of them"),
    (["--workers", "0"], "--workers expects at least 1, got 0"),
    (["--workers", "2", "--format", "lobster"], "not --format lobster"),
    (["--workers", "2", "--quote-around-mid", "1", "1"], "cannot run a strategy"),
    (["--scheduler", "tcp://x:1", "--wal", "w"], "keep no WAL"),
    (["--partitions", "4"], "--partitions needs --workers N or --scheduler ADDRESS"),
    (["--workers", "2", "--layout", "files"], "write results by symbol"),
])
def test_cli_refuses_scale_out_with_options_it_cannot_honour(tmp_path, argv, message):
    with pytest.raises(SystemExit, match=message):
        main(["backtest", str(tmp_path), "--out", str(tmp_path / "out"), "--quiet", *argv])


def test_two_workers_equal_one_process_per_symbol(client, flow, one_process, tmp_path):
    single, one_out = one_process
    out = tmp_path / "out"
    summary = nbengine.backtest(flow[0], out, partition_by="symbol", client=client, batch_rows=500, quiet=True)
    _assert_equal_to_one_process(out, one_out)
    _assert_same_totals(summary, single)
    assert summary["workers"] == 2 and summary["symbols"] == SYMBOLS and len(summary["partitions"]) == 2
    assert json.loads((out / "summary.json").read_text()) == summary
    _assert_no_attempts_left(out)


@pytest.fixture(scope="module")
def hive_flow(flow, tmp_path_factory):
    """``flow`` written as a hive-partitioned dataset: ``symbol=<s>/`` directories, no symbol column."""
    directory = tmp_path_factory.mktemp("hive")
    pq.write_to_dataset(flow[1], directory, partition_cols=["symbol"])
    return directory


def test_hive_partitioned_input_is_counted_from_metadata_and_matched_like_one_file(hive_flow, flow, one_process, tmp_path):
    assert count_rows_by_symbol([hive_flow]) == count_rows_by_symbol([flow[0]])
    single, one_out = one_process
    summary = nbengine.backtest(hive_flow, tmp_path / "out", batch_rows=500, quiet=True, layout="by_symbol")
    _assert_equal_to_one_process(tmp_path / "out", one_out)
    _assert_same_totals(summary, single)


def test_a_symbol_subset_of_hive_input_never_opens_other_symbols_files(hive_flow, tmp_path):
    (hive_flow / "symbol=99").mkdir(exist_ok=True)
    (hive_flow / "symbol=99" / "not-parquet.parquet").write_bytes(b"not parquet at all")
    try:
        subset = nbengine.backtest(hive_flow, tmp_path / "subset", symbols=[2, 5], batch_rows=500, quiet=True)
        with pytest.raises(ParquetReadError, match="not-parquet.parquet: cannot read Parquet"):
            nbengine.backtest(hive_flow, tmp_path / "all", batch_rows=500, quiet=True)
    finally:
        (hive_flow / "symbol=99" / "not-parquet.parquet").unlink()
    assert set(pq.read_table(tmp_path / "subset" / "events.parquet").column("symbol").to_pylist()) == {2, 5}
    assert subset["orders"] == sum(n for s, n in count_rows_by_symbol([hive_flow]).items() if s in (2, 5))


def test_two_workers_on_hive_input_equal_one_process(client, hive_flow, one_process, tmp_path):
    single, one_out = one_process
    out = tmp_path / "out"
    summary = nbengine.backtest(hive_flow, out, partition_by="symbol", client=client, batch_rows=500, quiet=True)
    _assert_equal_to_one_process(out, one_out)
    _assert_same_totals(summary, single)
    _assert_no_attempts_left(out)


def test_seq_is_gap_free_within_each_partition(client, flow, tmp_path):
    out = tmp_path / "out"
    summary = nbengine.backtest(flow[0], out, partition_by="symbol", client=client, partitions=3, quiet=True)
    for name in ("trades", "events"):
        table = ds.dataset(out / name, partitioning="hive").to_table(columns=["symbol", "seq"])
        for partition in summary["partitions"]:
            mine = table.filter(pc.is_in(table.column("symbol"), pa.array(partition["symbols"], pa.int32())))
            assert sorted(mine.column("seq").to_pylist()) == list(range(mine.num_rows)), (name, partition["index"])


def test_cli_on_a_running_scheduler_rewrites_an_earlier_run(client, flow, one_process, tmp_path):
    out = tmp_path / "out"
    (out / "trades" / "symbol=99").mkdir(parents=True)
    (out / "trades" / "symbol=99" / "part-0-0.parquet").write_bytes(b"stale")
    code = main(["backtest", str(flow[0]), "--out", str(out), "--quiet", "--batch-rows", "500",
                 "--scheduler", client.scheduler.address, "--partitions", "5"])
    assert code == 0
    _assert_equal_to_one_process(out, one_process[1])
    assert len(json.loads((out / "summary.json").read_text())["partitions"]) == 5


def _wait_for_running_attempt(client, out, timeout=120):
    """The address of a worker running a partition once one has started writing; None on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if list(out.glob(f"{ATTEMPT_PREFIX}*")):
            busy = [address for address, keys in client.processing().items() if keys]
            if busy:
                return busy[0]
        time.sleep(0.005)
    return None


def test_a_worker_killed_mid_run_is_retried_and_the_output_is_complete(client, flow, one_process, tmp_path):
    out = tmp_path / "out"
    pids = client.run(os.getpid)
    with ThreadPoolExecutor(1) as pool:
        # Small batches make each task take long enough to be killed while it runs.
        running = pool.submit(nbengine.backtest, flow[0], out, partition_by="symbol", client=client,
                              partitions=2, batch_rows=10, quiet=True)
        victim = _wait_for_running_attempt(client, out)
        assert victim is not None, "no partition started"
        os.kill(pids[victim], signal.SIGKILL)
        summary = running.result(timeout=300)
    client.wait_for_workers(2, timeout=120)
    assert pids[victim] not in client.run(os.getpid).values()
    assert victim not in [partition["worker"] for partition in summary["partitions"]]
    _assert_equal_to_one_process(out, one_process[1])
    _assert_same_totals(summary, one_process[0])
    _assert_no_attempts_left(out)
