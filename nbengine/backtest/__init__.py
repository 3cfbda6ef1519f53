"""Backtests: replay order flow from Parquet or LOBSTER files, with a strategy or without.

Rooms: ``run`` (one process: sources, the loop, sinks, the summary), ``loop`` (the
strategy loop), ``strategy`` (the strategy API), ``scaleout`` (symbols fanned out over
Dask), ``symbol_dataset`` and ``pipeline`` (writing and overlapping stages).
"""

from .run import run_local
from .strategy import Context, Fees, Fill, Latency, OrderUpdate, OwnOrder, Strategy


def backtest(
    source,
    out,
    *,
    batch_rows=65536,
    stp="none",
    max_span_ticks=1 << 20,
    columns=None,
    values=None,
    constants=None,
    tick_size=None,
    ignore_columns=None,
    symbol_table=None,
    format="parquet",
    orderbook=None,
    price_unit=100,
    quiet=False,
    strategy=None,
    latency=None,
    fees=None,
    wake_every_ns=None,
    wake_on=None,
    impact="full",
    wal_dir=None,
    compression="snappy",
    layout="files",
    symbols=None,
    partition_by=None,
    client=None,
    partitions=None,
    quotes=False,
    pipelined=True,
):
    """Match every order of ``source`` and write ``trades.parquet``, ``events.parquet``, ``summary.json``.

    The files read without joins (DESIGN §8, ``docs/data.md``): ``ts`` is a
    ``timestamp[ns]`` in the input's time zone, ``symbol`` the ticker names when they are
    known, ``taker_side`` / ``event`` / ``reason`` names, and with a tick size ``px``
    (currency) beside ``price`` (ticks); the tick size, the symbol table and the time zone
    are in each file's schema metadata and in ``summary.json``. ``nbengine.readable.numeric``
    turns a file back into the numeric tables of ``Engine.submit``.

    Parquet files are read one record batch at a time (never a whole file), so memory
    does not grow with the input. Rows are processed in file order, files in sorted path
    order. Kernels are compiled (or loaded from the cache) before the clock starts; the
    summary reports that time apart from ``wall_seconds``. A progress bar is drawn on a
    terminal when tqdm is installed (``nbengine[progress]``) unless ``quiet``.

    Nothing written depends on ``batch_rows``: result files have row groups of
    ``run.ROWS_PER_GROUP`` rows, and a strategy sees the same market at the same times
    whatever the batches (``docs/strategy.md``). Results are written into a staging
    directory in ``out`` and moved into place only when the run finishes, replacing an
    earlier run's; an interrupted run leaves the earlier results as they were.

    Parameters
    ----------
    source : str, Path or list of them
        Parquet files or directories of them, with the order columns of DESIGN §2 (a
        file under a ``symbol=<s>/`` directory may leave out ``symbol``: hive
        partitioning, as ``pyarrow.parquet.write_to_dataset`` writes it); or,
        with ``format="lobster"``, LOBSTER message files.
    out : str or Path
        Output directory (created; other files in it are left alone).
    batch_rows : int
        Rows per record batch read and submitted (>= 1).
    stp, max_span_ticks
        Engine options (see ``Engine``).
    columns : dict of str to str, optional
        Parquet only: source column → order-schema column (``{"sym": "symbol"}``).
    values : dict of str to dict, optional
        Parquet only: value maps (``{"side": {"B": "BUY", "S": "SELL"}}``; targets are
        codes or constant names).
    constants : dict of str to int or str, optional
        Parquet only: a column the files lack, one value for all rows (``{"kind": "LIMIT"}``).
    tick_size : float, optional
        Prices are currency amounts (float32, float64, decimal), converted to ticks of this
        size (off-grid prices are rejected ``OFF_TICK``); results get ``px``.
    ignore_columns : list of str, optional
        Parquet only: input columns to drop. Any other column that is neither mapped nor
        in the contract is an error naming it (see `nbengine.map_orders`); every problem of
        the input is reported at once, before anything is matched.
    symbol_table : nbengine.SymbolTable, list of str, dict or path, optional
        Ids of ticker names (a text symbol column or ``symbol=<name>/`` directories),
        e.g. an earlier run's ``summary.json`` or output directory; names it lacks get
        the next ids in sorted order. Default: the input's names, sorted.
    format : {"parquet", "lobster"}
    orderbook : str or Path, optional
        LOBSTER only: the orderbook file whose row 0 becomes the opening book.
    price_unit : int
        LOBSTER only: LOBSTER price units per tick (100 = one cent).
    quiet : bool
        No progress bar.
    strategy : nbengine.Strategy, optional
        Trades in the replay (``docs/strategy.md``): its own orders are matched with the
        replayed flow by price-time priority; it is woken as ``wake_every_ns`` and
        ``wake_on`` say, at ``ctx.wake_at`` times and when reports of its orders reach
        it. Writes ``own_fills.parquet``, ``own_orders.parquet``, ``strategy.parquet`` and
        the summary's ``"strategy"`` entry. Replayed ``ts`` must not decrease.
    latency : nbengine.Latency, optional
        Order-entry and response latency of the strategy's orders (default none).
    fees : nbengine.Fees, optional
        Maker / taker fees of its fills (default none).
    wake_every_ns : int, optional
        Wake the strategy at every multiple of this many ns of market time.
    wake_on : {None, "bbo"}
        ``"bbo"``: wake it at every time whose events changed the best bid or ask (price
        or quantity) of one of ``strategy.symbols`` (all when None).
    impact : {"full", "none"}
        ``"full"``: liquidity that own orders take is gone for the replayed flow.
        ``"none"``: own orders never change the replayed market (``docs/strategy.md``).
    wal_dir : str or Path, optional
        Log every batch to this write-ahead-log directory (``durability="group"``: the
        next batch is matched while the previous one syncs, and a batch's results are
        written only once it is durable); ``Engine.recover(wal_dir)`` rebuilds the
        final state. The directory must be new. Not with a strategy.
    compression : {"snappy", "none", "lz4", "zstd"}
        Parquet compression of the result files: ``none`` writes twice as fast and
        three times as large as ``snappy`` (see ``run.WRITER_OPTIONS``).
    layout : {"files", "by_symbol"}
        ``files``: ``out/trades.parquet`` and ``out/events.parquet``. ``by_symbol``:
        hive-partitioned datasets ``out/trades/symbol=<s>/part-<i>.parquet`` and
        ``out/events/...`` (read with ``pyarrow.dataset.dataset(out / "trades",
        partitioning="hive")``; the ``symbol`` column is the directory name).
    symbols : collection of int or str, optional
        Parquet only: match only the rows of these symbols (ids or ticker names).
    partition_by : {None, "symbol"}
        ``"symbol"`` runs the backtest on Dask (``pip install nbengine[distributed]``);
        see ``docs/scale-out.md`` and `nbengine.backtest.scaleout.backtest_partitioned`.
        Not with a strategy, a WAL or LOBSTER input.
    client : None, distributed.Client or str
        With ``partition_by``: the Dask client to use, or a scheduler address.
    partitions : int, optional
        With ``partition_by``: how many symbol sets (default one per worker thread).
    quotes : bool
        Also write ``quotes.parquet``: every change of a symbol's best bid or ask (price
        or quantity) with the quote after all events of that time (``ts, symbol, bid,
        bid_qty, ask, ask_qty``), for markouts and ``merge_asof``. Not with a strategy, a
        WAL or ``partition_by``.
    pipelined : bool
        Overlap reading, matching and writing on threads (see `nbengine.backtest.pipeline`);
        False runs the stages one after another in the calling thread, with the same
        results.

    Returns
    -------
    dict
        The summary also written to ``summary.json``.

    Examples
    --------
    >>> import tempfile, nbengine
    >>> class Nothing(nbengine.Strategy):
    ...     pass
    >>> out = tempfile.mkdtemp()
    >>> summary = nbengine.backtest("io/sample_orders.parquet", out, strategy=Nothing(), quiet=True)
    >>> summary["strategy"]["orders"]
    0
    """
    options = dict(
        batch_rows=batch_rows, stp=stp, max_span_ticks=max_span_ticks, columns=columns, tick_size=tick_size,
        format=format, quiet=quiet, strategy=strategy, wal_dir=wal_dir, symbols=symbols, compression=compression,
        values=values, constants=constants, ignore_columns=ignore_columns, symbol_table=symbol_table,
    )
    if partition_by is not None or client is not None or partitions is not None:
        if quotes:
            raise ValueError("quotes: not with partition_by (run without it for quotes.parquet)")
        from .scaleout import backtest_partitioned

        return backtest_partitioned(source, out, partition_by=partition_by, client=client, partitions=partitions,
                                    **options)
    return run_local(source, out, orderbook=orderbook, price_unit=price_unit, latency=latency, fees=fees,
                     wake_every_ns=wake_every_ns, wake_on=wake_on, impact=impact, layout=layout,
                     pipelined=pipelined, quotes=quotes, **options)


__all__ = ["Context", "Fees", "Fill", "Latency", "OrderUpdate", "OwnOrder", "Strategy", "backtest"]
