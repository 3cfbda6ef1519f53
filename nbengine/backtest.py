"""Replay order flow from Parquet (or LOBSTER files) through an Engine, writing results."""

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .codes import REASON_NAMES, REJECTED
from .engine import Engine
from .parquet_input import parquet_batches
from .pipeline import WriteBehind, WriteNow, prefetch
from .progress import progress_bar
from .schema import EVENTS_SCHEMA, TRADES_SCHEMA, prepare
from .strategy import BookView, as_columns, empty_orders, merge_orders, own_fill_summary
from .symbol_dataset import SymbolDataset
from .warmup import warmup

FORMATS = ("parquet", "lobster")

LAYOUTS = ("files", "by_symbol")

COMPRESSIONS = ("snappy", "none", "lz4", "zstd")

WRITER_OPTIONS = {"use_dictionary": False, "write_statistics": ["seq", "ts", "symbol"]}
"""Parquet writer options for results. Dictionary encoding tripled the write time of
sequence-like int64 columns here (515 vs 173 ns a row, snappy) for 12 % smaller files;
min/max statistics are kept for the columns readers filter on (10 % of the write time
when kept for all). Measured on events, 2-core EPYC: snappy 130 ns and 18.6 B a row,
no compression 58 ns and 52 B, zstd 240 ns and 8.4 B."""


RESULT_NAMES = ("trades.parquet", "events.parquet", "own_fills.parquet", "summary.json", "trades", "events")
"""What a backtest writes into ``out`` (in either layout); an earlier run's are removed first."""


def clear_results(out):
    """Remove an earlier backtest's results from ``out`` (nothing else in it)."""
    for name in RESULT_NAMES:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def _sink(out, name, schema, options, layout):
    """Where result tables of ``name`` go: one Parquet file, or a dataset split by symbol."""
    if layout == "by_symbol":
        return SymbolDataset(out / name, schema, options)
    return pq.ParquetWriter(out / f"{name}.parquet", schema, **options)


def _lobster_batches(paths, batch_rows, orderbook, price_unit, skipped):
    """``(total rows, iterator of prepared order columns)`` over LOBSTER message files; ``skipped`` counts by reason."""
    from .loaders import lobster

    if orderbook is not None and len(paths) != 1:
        raise ValueError(f"an orderbook file gives the opening book of one message file, got {len(paths)} files")
    loaded = [lobster.load(path, orderbook, price_unit=price_unit) for path in paths]
    for converted in loaded:
        for reason in converted.skipped.column("reason").to_pylist():
            skipped[reason] = skipped.get(reason, 0) + 1

    def batches():
        for converted in loaded:
            n = converted.orders["ts"].size
            for start in range(0, n, batch_rows):
                yield prepare({name: column[start : start + batch_rows] for name, column in converted.orders.items()})

    return sum(c.orders["ts"].size for c in loaded), batches()


class _Totals:
    """Writes result tables and counts what they hold; each method runs on its own writer thread."""

    def __init__(self):
        self.trades = 0
        self.volume = 0
        self.rejects = np.zeros(max(REASON_NAMES) + 1, dtype=np.int64)

    def write_trades(self, writer, trades):
        if trades.num_rows:
            self.trades += trades.num_rows
            self.volume += int(np.sum(trades.column("qty").to_numpy()))
            writer.write_table(trades)

    def write_events(self, writer, events):
        rejected = events.column("event").to_numpy() == REJECTED
        if rejected.any():
            reasons = events.column("reason").to_numpy()[rejected]
            self.rejects += np.bincount(reasons, minlength=self.rejects.size)
        writer.write_table(events)

    def rejects_by_reason(self):
        return {REASON_NAMES[code]: int(n) for code, n in enumerate(self.rejects) if n}


class _StrategyHook:
    """Runs a strategy beside the replay: holds its pending orders, writes its fills."""

    def __init__(self, strategy, engine, out):
        self.strategy = strategy
        self.account = strategy.account
        self.book = BookView(engine, strategy.account)
        self.pending = empty_orders()
        self.submitted = 0
        self.fills = []
        self.fill_path = out / "own_fills.parquet"
        self.replay_over = False

    def take_due(self, last_ts):
        """Pending orders stamped at or before ``last_ts`` (all when None); keep the rest."""
        due = np.ones(len(self.pending["ts"]), dtype=bool) if last_ts is None else self.pending["ts"] <= last_ts
        taken = {name: column[due] for name, column in self.pending.items()}
        self.pending = {name: column[~due] for name, column in self.pending.items()}
        self.submitted += int(due.sum())
        return taken

    def after(self, result):
        own = (np.asarray(result.trades.column("taker_account")) == self.account) | (
            np.asarray(result.trades.column("maker_account")) == self.account
        )
        if own.any():
            self.fills.append(result.trades.filter(own))
        if self.replay_over:
            return
        orders = self.strategy.on_batch(result, self.book)
        if orders is not None:
            orders = as_columns(orders)
            self.pending = {name: np.concatenate([self.pending[name], orders[name]]) for name in self.pending}

    def finish(self):
        fills = pa.concat_tables(self.fills) if self.fills else TRADES_SCHEMA.empty_table()
        pq.write_table(fills, self.fill_path)
        quote = self.book.bbo(getattr(self.strategy, "symbol", 0))
        mark = None
        if quote.bid_price is not None and quote.ask_price is not None:
            mark = (quote.bid_price + quote.ask_price) // 2
        return {"orders": self.submitted, **own_fill_summary(fills, self.account, mark)}


def _with_own_orders(batches, hook):
    """The replayed batches with the strategy's due orders merged in, then what is left.

    The strategy is not called after that last batch: the replay is over.
    """
    if hook is None:
        yield from batches
        return
    for batch in batches:
        columns = prepare(batch)
        last_ts = int(columns.ts[-1]) if columns.ts.size else None
        yield merge_orders(columns, hook.take_due(last_ts))
    hook.replay_over = True
    left = hook.take_due(None)
    if left["ts"].size:
        yield left


def backtest(
    source,
    out,
    *,
    batch_rows=65536,
    stp="none",
    max_span_ticks=1 << 20,
    columns=None,
    tick_size=None,
    format="parquet",
    orderbook=None,
    price_unit=100,
    quiet=False,
    strategy=None,
    wal_dir=None,
    compression="snappy",
    layout="files",
    symbols=None,
    partition_by=None,
    client=None,
    partitions=None,
    pipelined=True,
):
    """Match every order of ``source`` and write ``trades.parquet``, ``events.parquet``, ``summary.json``.

    Parquet files are read one record batch at a time (never a whole file), so memory
    does not grow with the input. Rows are processed in file order, files in sorted path
    order. Kernels are compiled (or loaded from the cache) before the clock starts; the
    summary reports that time apart from ``wall_seconds``. A progress bar is drawn on a
    terminal when tqdm is installed (``nbengine[progress]``) unless ``quiet``.

    Parameters
    ----------
    source : str, Path or list of them
        Parquet files or directories of them, with the order columns of DESIGN §2 (a
        file under a ``symbol=<s>/`` directory may leave out ``symbol``: hive
        partitioning, as ``pyarrow.parquet.write_to_dataset`` writes it); or,
        with ``format="lobster"``, LOBSTER message files (each read whole: a day's file
        is small, and a partial cancel needs every earlier row of its order).
    out : str or Path
        Output directory (created; the results of an earlier backtest in it are removed
        first, other files are left alone).
    batch_rows : int
        Rows per record batch read and submitted.
    stp, max_span_ticks
        Engine options (see ``Engine``).
    columns : dict of str to str, optional
        Parquet only: source column → order-schema column (see
        `nbengine.parquet_input.map_columns`).
    tick_size : float, optional
        Parquet only: prices are currency amounts, converted to ticks of this size.
    format : {"parquet", "lobster"}
    orderbook : str or Path, optional
        LOBSTER only: the orderbook file whose row 0 becomes the opening book.
    price_unit : int
        LOBSTER only: LOBSTER price units per tick (100 = one cent).
    quiet : bool
        No progress bar.
    strategy : object, optional
        A strategy (``nbengine.strategy``): after every batch ``strategy.on_batch(result,
        book)`` sees the batch's result and a read-only `strategy.BookView`, and may return
        its own orders (dict of order columns). They are merged into the following replayed
        rows by timestamp (`strategy.merge_orders`) and matched with them, joining the back
        of their price level; what is still pending after the last batch is matched last.
        Its fills go to ``own_fills.parquet`` and its inventory and P&L (marked at the
        final mid) to the summary's ``strategy`` entry. ``orders`` then counts its orders
        too.

    wal_dir : str or Path, optional
        Log every batch to this write-ahead-log directory (``durability="group"``: the
        next batch is matched while the previous one syncs, and a batch's results are
        written only once it is durable); ``Engine.recover(wal_dir)`` rebuilds the
        final state. The directory must be new or hold a log of this same run.
    compression : {"snappy", "none", "lz4", "zstd"}
        Parquet compression of the result files: ``none`` writes twice as fast and
        three times as large as ``snappy`` (see ``WRITER_OPTIONS``).
    layout : {"files", "by_symbol"}
        ``files``: ``out/trades.parquet`` and ``out/events.parquet``. ``by_symbol``:
        hive-partitioned datasets ``out/trades/symbol=<s>/part-<i>.parquet`` and
        ``out/events/...`` (read with ``pyarrow.dataset.dataset(out / "trades",
        partitioning="hive")``; the ``symbol`` column is the directory name).
    symbols : collection of int, optional
        Parquet only: match only the rows of these symbols (files of other
        ``symbol=<s>/`` directories and row groups whose statistics exclude them are not
        read; the others are filtered batch by batch).
    partition_by : {None, "symbol"}
        ``"symbol"`` runs the backtest on Dask (``pip install nbengine[distributed]``):
        the symbols are split into ``partitions`` sets balanced by order count, each
        matched on a worker by this function with ``symbols=``. Results go to
        ``out/trades/symbol=<s>/`` and ``out/events/symbol=<s>/`` (hive-partitioned
        Parquet, read with ``pyarrow.dataset.dataset(out / "trades",
        partitioning="hive")``) and one merged ``summary.json``; ``seq`` numbers count
        within each partition. Per symbol, trades and events equal a single-process run
        apart from ``seq``. Not with a strategy, a WAL or LOBSTER input.
        See ``docs/scale-out.md`` and `nbengine.scaleout.backtest_partitioned`.
    client : None, distributed.Client or str
        With ``partition_by``: the Dask client to use, or a scheduler address to connect
        to; None starts a LocalCluster (one single-threaded worker process per core)
        and closes it afterwards.
    partitions : int, optional
        With ``partition_by``: how many symbol sets (default one per worker thread).
    pipelined : bool
        Overlap reading, matching and writing on threads (see `nbengine.pipeline`), and
        let pyarrow decode on its thread pool: more than one core busy. False runs the
        stages one after another in the calling thread, one core busy; the results are
        the same. With ``partition_by`` every task runs so (a Dask worker's task keeps
        to the threads the worker was given).

    Returns
    -------
    dict
        The summary also written to ``summary.json``.
    """
    if partition_by is not None or client is not None or partitions is not None:
        from .scaleout import backtest_partitioned

        return backtest_partitioned(
            source, out, partition_by=partition_by, client=client, partitions=partitions, batch_rows=batch_rows,
            stp=stp, max_span_ticks=max_span_ticks, columns=columns, tick_size=tick_size, format=format,
            quiet=quiet, strategy=strategy, wal_dir=wal_dir, symbols=symbols, compression=compression,
        )
    if format not in FORMATS:
        raise ValueError(f"format: expected one of {FORMATS}, got {format!r}")
    if compression not in COMPRESSIONS:
        raise ValueError(f"compression: expected one of {COMPRESSIONS}, got {compression!r}")
    if layout not in LAYOUTS:
        raise ValueError(f"layout: expected one of {LAYOUTS}, got {layout!r}")
    if symbols is not None and format != "parquet":
        raise ValueError(f"symbols: selects rows of Parquet input only, not format={format!r}")
    paths = [source] if isinstance(source, (str, Path)) else list(source)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    warmup()
    compile_seconds = time.perf_counter() - started
    skipped = {}
    if format == "lobster":
        total, batches = _lobster_batches(paths, batch_rows, orderbook, price_unit, skipped)
    else:
        total, batches = parquet_batches(paths, batch_rows, columns, tick_size, symbols, use_threads=pipelined)
    # Only once the input is found: a mistyped path keeps the last results and starts no WAL.
    clear_results(out)
    engine = Engine(stp=stp, max_span_ticks=max_span_ticks, wal_dir=wal_dir)
    hook = _StrategyHook(strategy, engine, out) if strategy is not None else None
    totals = _Totals()
    orders = 0
    started = time.perf_counter()
    options = {**WRITER_OPTIONS, "compression": compression}
    with _sink(out, "trades", TRADES_SCHEMA, options, layout) as trade_writer, _sink(
        out, "events", EVENTS_SCHEMA, options, layout
    ) as event_writer, progress_bar(total, quiet=quiet, unit="orders") as update, (
        WriteBehind(name="nbengine-trades") if pipelined else WriteNow()
    ) as trade_work, (WriteBehind(name="nbengine-events") if pipelined else WriteNow()) as event_work:
        # With a WAL, the next batch is matched while the previous one syncs; a strategy
        # must see each result before its orders join the next batch, so nothing runs ahead.
        ahead = 1 if hook is None else 0
        read = prefetch(batches) if pipelined else batches
        for result in engine.submit_many(_with_own_orders(read, hook), ahead=ahead):
            orders += result.seq_end - result.seq_start
            update(orders)
            trade_work.submit(totals.write_trades, trade_writer, result.trades)
            event_work.submit(totals.write_events, event_writer, result.events)
            if hook is not None:
                hook.after(result)
    engine.close()
    wall = time.perf_counter() - started
    summary = {
        "orders": orders,
        "trades": totals.trades,
        "volume": totals.volume,
        "rejects": totals.rejects_by_reason(),
        "resting_orders": engine.live_orders,
        "wall_seconds": round(wall, 6),
        "compile_or_cache_load_seconds": round(compile_seconds, 3),
        "orders_per_second": round(orders / wall) if wall > 0 else None,
        "state_hash": engine.state_hash(),
    }
    if hook is not None:
        summary["strategy"] = hook.finish()
    if format == "lobster":
        summary["lobster_rows_without_order"] = skipped
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
