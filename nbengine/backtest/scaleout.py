"""Symbol-partitioned backtests on Dask: one engine per set of symbols, results merged.

Books are independent per symbol (engine ids are per ``(symbol, order_id)``), so a run
over a set of symbols matches exactly what a single run over every symbol does for
those symbols. The driver counts orders per symbol, packs the symbols into partitions of
about equal order counts, and has each Dask worker run `nbengine.backtest` on its
partition with ``symbols=``; each task writes into a private directory and renames its
files into place only once complete. Dask is imported only here, only when used.
"""

import contextlib
import heapq
import json
import os
import shutil
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import NamedTuple


from ..mapping import SymbolTable
from ..parquet_input import count_rows_by_symbol, symbol_names
from ..progress import progress_bar
from ..warmup import warmup
from .run import check_options, clear_results, run_local, summary_of

PARTITIONS_PER_WORKER_THREAD = 1
"""Default partitions per worker thread. Every partition scans the row groups that may hold
its symbols (all of them when symbols are mixed in every row group), so more partitions
cost CPU: with 2 workers on 5 M orders, 4 partitions took 20 % more CPU than 2. More help
with memory, stragglers and the cost of a retry (``partitions=``)."""

TASK_RETRIES = 2
"""Retries of a partition whose task raised (a lost worker is handled by Dask's own
``distributed.scheduler.allowed-failures``, default 3)."""

ATTEMPT_PREFIX = ".attempt-"
"""Private directories of running tasks inside ``out``; dataset readers skip dot-names."""

WORKER_ENVIRON = {"MALLOC_MMAP_THRESHOLD_": str(32 << 20)}
"""Environment of the worker processes of a LocalCluster started here, besides Dask's own
(``distributed.nanny.pre-spawn-environ``; a variable already set in the environment wins).
Dask sets ``MALLOC_TRIM_THRESHOLD_`` so that workers hand freed memory back to the
system; setting it also stops glibc from raising its mmap threshold, so every array over
128 KiB (a batch's result columns, the by-symbol buffers) was a new mapping and new page
faults: the serial backtest of 5 M orders took 8.0 s with Dask's setting alone, 6.2 s with
this one too. 32 MiB is where glibc's own adjustment stops."""


class Partition(NamedTuple):
    """A set of symbols matched by one task."""

    index: int
    symbols: list
    orders: int


def _dask():
    """``distributed``, or an ImportError saying how to install it."""
    try:
        import distributed
    except ImportError as exc:
        raise ImportError(
            "partition_by='symbol' runs on Dask, which is not installed: pip install nbengine[distributed]"
        ) from exc
    return distributed


def balance_partitions(orders_by_symbol, partitions):
    """Pack symbols into at most ``partitions`` sets of about equal order counts.

    Greedy largest-first: symbols by descending count (ties: lower symbol first), each
    into the set with the fewest orders so far (ties: lower index). Deterministic.

    Parameters
    ----------
    orders_by_symbol : dict of int to int
    partitions : int

    Returns
    -------
    list of Partition
        Non-empty, largest first, numbered in that order; symbols ascending in each.

    Examples
    --------
    >>> [p.symbols for p in balance_partitions({0: 50, 1: 30, 2: 20, 3: 10}, 2)]
    [[0, 3], [1, 2]]
    """
    if partitions < 1:
        raise ValueError(f"partitions: expected >= 1, got {partitions}")
    bins = [(0, index, []) for index in range(min(partitions, len(orders_by_symbol)))]
    for symbol, orders in sorted(orders_by_symbol.items(), key=lambda item: (-item[1], item[0])):
        load, index, symbols = heapq.heappop(bins)
        symbols.append(symbol)
        heapq.heappush(bins, (load + orders, index, symbols))
    packed = sorted(bins, key=lambda entry: (-entry[0], entry[1]))
    return [Partition(i, sorted(symbols), load) for i, (load, _, symbols) in enumerate(packed)]


def _commit(attempt_directory, out_directory, partition_index):
    """Move every file of a finished attempt under ``out_directory``, named for its partition.

    ``name/symbol=<s>/part-<i>.parquet`` becomes ``name/symbol=<s>/part-<partition>-<i>.parquet``.
    Each ``os.replace`` is atomic, so a reader never sees a partial file; a retried task
    writes the same names and replaces what an interrupted attempt had moved.
    """
    for source in sorted(attempt_directory.rglob("*.parquet")):
        relative = source.relative_to(attempt_directory)
        target = out_directory / relative.parent / source.name.replace("part-", f"part-{partition_index}-", 1)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)


def run_partition(partition, paths, out, options):
    """Match one partition's symbols and commit its results under ``out``; run on a worker.

    Parameters
    ----------
    partition : Partition
    paths : list of str
        The input, as every worker sees it.
    out : str
        The run's output directory, as every worker sees it (the same filesystem for
        every task, so renames stay atomic).
    options : dict
        Keyword arguments of `nbengine.backtest` (``batch_rows``, ``stp``, ...).

    Returns
    -------
    dict
        The partition's backtest summary with its index, symbols, worker and the task's
        wall time (matching, writing by symbol and committing).
    """
    out = Path(out)
    attempt = out / f"{ATTEMPT_PREFIX}{partition.index}-{uuid.uuid4().hex}"
    started = time.perf_counter()
    try:
        summary = run_local(
            paths, attempt, symbols=partition.symbols, quiet=True, layout="by_symbol", pipelined=False, **options
        )
        (attempt / "summary.json").unlink()
        _commit(attempt, out, partition.index)
    finally:
        shutil.rmtree(attempt, ignore_errors=True)
    return {
        "index": partition.index,
        **summary,
        "symbol_names": summary.get("symbols"),
        "symbols": partition.symbols,
        "task_seconds": round(time.perf_counter() - started, 6),
        "worker": _dask().get_worker().address,
    }


@contextlib.contextmanager
def dask_client(client=None, *, workers=None):
    """Yield a ``distributed.Client``: ``client`` itself, or one made here and closed after.

    Parameters
    ----------
    client : None, distributed.Client or str
        A client is yielded as is; a string is a scheduler address to connect to; None
        starts a LocalCluster of ``workers`` single-threaded worker processes (with
        ``WORKER_ENVIRON``).
    workers : int, optional
        LocalCluster size (default: one per core). Only with ``client=None``.
    """
    distributed = _dask()
    if isinstance(client, distributed.Client):
        yield client
        return
    if isinstance(client, str):
        with distributed.Client(client) as connected:
            yield connected
        return
    if client is not None:
        raise TypeError(f"client: expected None, a distributed.Client or a scheduler address, got {client!r}")
    import dask

    environ = {**dask.config.get("distributed.nanny.pre-spawn-environ"), **WORKER_ENVIRON}
    with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
        cluster = distributed.LocalCluster(
            n_workers=workers or os.cpu_count(), threads_per_worker=1, processes=True, dashboard_address=":0"
        )
    with cluster, distributed.Client(cluster) as started:
        yield started


def _clear_results(out):
    """Remove the results, summary and attempt directories of an earlier run in ``out``."""
    clear_results(out)
    _remove_attempts(out)


def _remove_attempts(out):
    for attempt in out.glob(f"{ATTEMPT_PREFIX}*"):
        shutil.rmtree(attempt, ignore_errors=True)


def _run_all(client, partitions, paths, out, options, quiet):
    """Submit one task per partition; results by partition index once all are done."""
    distributed = _dask()
    token = uuid.uuid4().hex[:8]
    futures = [
        client.submit(
            run_partition, partition, paths, str(out), options,
            key=f"nbengine-partition-{partition.index}-{token}", retries=TASK_RETRIES,
        )
        for partition in partitions
    ]
    results = []
    with progress_bar(sum(p.orders for p in partitions), quiet=quiet, unit="orders") as update:
        for future in distributed.as_completed(futures):
            results.append(future.result())
            update(sum(result["orders"] for result in results))
    return sorted(results, key=lambda result: result["index"])


def _merge(results, wall, warmup_seconds, workers):
    """The run's summary from the partitions' summaries."""
    rejects = Counter()
    for result in results:
        rejects.update(result["rejects"])
    return summary_of(
        orders=sum(result["orders"] for result in results),
        trades=sum(result["trades"] for result in results),
        volume=sum(result["volume"] for result in results),
        rejects=dict(sorted(rejects.items())),
        resting_orders=sum(result["resting_orders"] for result in results),
        wall=wall,
        compile_seconds=warmup_seconds,
        extra=_partition_keys(results, workers),
    )


def _partition_keys(results, workers):
    """What a merged summary holds beside the totals: the partitions, one entry each."""
    return {
        "partition_by": "symbol",
        **{key: results[0].get(key) if results else None for key in ("tick_size", "time_zone", "symbol_names")},
        "symbols": sum(len(result["symbols"]) for result in results),
        "workers": workers,
        "partitions": [
            {
                "index": result["index"],
                "symbols": result["symbols"],
                "orders": result["orders"],
                "trades": result["trades"],
                "resting_orders": result["resting_orders"],
                "match_seconds": result["wall_seconds"],
                "task_seconds": result["task_seconds"],
                "worker": result["worker"],
                "state_hash": result["state_hash"],
            }
            for result in results
        ],
    }


def backtest_partitioned(
    source,
    out,
    *,
    partition_by="symbol",
    client=None,
    partitions=None,
    format="parquet",
    quiet=False,
    strategy=None,
    wal_dir=None,
    symbols=None,
    **options,
):
    """Run `nbengine.backtest` on Dask, one task per set of symbols; merge the summaries.

    Called by ``nbengine.backtest(..., partition_by="symbol")``.

    Results are hive-partitioned Parquet: ``out/trades/symbol=<s>/part-<p>-0.parquet``
    and ``out/events/symbol=<s>/part-<p>-0.parquet`` (``p`` the partition index; the
    ``symbol`` column lives in the directory name), read back with
    ``pyarrow.dataset.dataset(out / "trades", partitioning="hive")``. A symbol without
    trades has no ``trades/symbol=<s>/``. ``summary.json`` is written last: a directory
    without it holds an unfinished run. Earlier results in ``out`` are removed first.

    ``seq`` numbers count from 0 within each partition (one engine per partition, so
    gap-free over the partition's symbols together). Per symbol, the rows in ``seq``
    order equal a single-process run's rows of that symbol in ``seq`` order, every
    column but ``seq``.

    Parameters
    ----------
    source : str, Path or list of them
        Parquet files or directories, at paths every worker can read.
    out : str or Path
        Output directory on a filesystem every worker writes to (created).
    partition_by : {"symbol"}
    client : None, distributed.Client or str
        See `dask_client`.
    partitions : int, optional
        Number of symbol sets (default ``PARTITIONS_PER_WORKER_THREAD`` per worker
        thread). More, smaller partitions need less memory per task; every partition
        scans the input's row groups that hold any of its symbols.
    format, strategy, wal_dir
        Must be ``"parquet"``, None, None.
    quiet : bool
        No progress bar.
    symbols : collection of int, optional
        Only these symbols.
    **options
        Other keyword arguments of `nbengine.backtest` (``batch_rows``, ``stp``,
        ``max_span_ticks``, ``columns``, ``tick_size``), used by every partition.

    Returns
    -------
    dict
        The merged summary also written to ``out/summary.json``: totals, ``wall_seconds``
        from the first task submitted to the last result, ``workers`` and one entry per
        partition (symbols, orders, trades, matching and task seconds, worker, the
        partition engine's state hash).
    """
    if partition_by is None:
        raise ValueError("client= and partitions= go with partition_by='symbol'")
    check_options(format=format, compression=options.get("compression", "snappy"), layout="by_symbol",
                  symbols=symbols, strategy=strategy, wal_dir=wal_dir, batch_rows=options.get("batch_rows", 65536),
                  impact="full", partition_by=partition_by)
    paths = [str(path) for path in ([source] if isinstance(source, (str, Path)) else source)]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _clear_results(out)
    table = SymbolTable(options.get("symbol_table") or ()).add(symbol_names(paths, options.get("columns")))
    if len(table):
        options["symbol_table"] = list(table.names)  # every partition gives every name the same id
    orders_by_symbol = count_rows_by_symbol(paths, options.get("columns"), table)
    if symbols is not None:
        wanted = {table.id(symbol) if isinstance(symbol, str) else int(symbol) for symbol in symbols}
        orders_by_symbol = {symbol: n for symbol, n in orders_by_symbol.items() if symbol in wanted}
    with dask_client(client) as connected:
        threads = sum(connected.nthreads().values())
        started = time.perf_counter()
        connected.run(warmup)
        warmup_seconds = time.perf_counter() - started
        packed = balance_partitions(orders_by_symbol, partitions or PARTITIONS_PER_WORKER_THREAD * max(threads, 1))
        started = time.perf_counter()
        try:
            results = _run_all(connected, packed, paths, out, options, quiet)
        finally:
            _remove_attempts(out)
        wall = time.perf_counter() - started
        workers = len(connected.nthreads())
    summary = _merge(results, wall, warmup_seconds, workers)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


__all__ = [
    "ATTEMPT_PREFIX",
    "PARTITIONS_PER_WORKER_THREAD",
    "Partition",
    "TASK_RETRIES",
    "WORKER_ENVIRON",
    "backtest_partitioned",
    "balance_partitions",
    "dask_client",
    "run_partition",
]
