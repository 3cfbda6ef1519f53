"""A backtest in one process: read the flow, match it (with a strategy or without), write the results."""

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..codes import REASON_NAMES, REJECTED
from ..engine import Engine
from ..parquet_input import ParquetSource
from ..progress import progress_bar
from ..readable import Context, Readable
from ..results import events_table, trades_table
from ..schema import EVENTS_SCHEMA, TRADES_SCHEMA
from ..warmup import warmup
from .loop import IMPACTS, StrategyLoop
from .pipeline import WriteBehind, WriteNow, prefetch
from .symbol_dataset import SymbolDataset

FORMATS = ("parquet", "lobster")

LAYOUTS = ("files", "by_symbol")

COMPRESSIONS = ("snappy", "none", "lz4", "zstd")


WRITER_OPTIONS = {"use_dictionary": False, "write_statistics": ["seq", "ts", "symbol"]}
"""Parquet writer options for results. Dictionary encoding tripled the write time of
sequence-like int64 columns here (515 vs 173 ns a row, snappy) for 12 % smaller files;
min/max statistics are kept for the columns readers filter on (10 % of the write time
when kept for all). Measured on events, 2-core EPYC: snappy 130 ns and 18.6 B a row,
no compression 58 ns and 52 B, zstd 240 ns and 8.4 B."""

ROWS_PER_GROUP = 1 << 16
"""Rows of every row group of ``trades.parquet`` / ``events.parquet`` but the last: files do
not depend on ``batch_rows``."""

RESULT_NAMES = (
    "trades.parquet", "events.parquet", "own_fills.parquet", "own_orders.parquet", "strategy.parquet",
    "quotes.parquet", "summary.json", "trades", "events",
)
"""What a backtest writes into ``out`` (in either layout); an earlier run's are replaced at the end."""

STAGING_PREFIX = ".nbengine-incomplete-"
"""A run writes into ``out/<prefix><pid>/`` and moves its results into ``out`` only once
finished: an interrupted run leaves the earlier results whole (and at worst this
directory, which names itself incomplete)."""


def check_options(*, format, compression, layout, symbols, strategy, wal_dir, batch_rows, impact, partition_by):
    """Refuse a combination of `nbengine.backtest` options with one message naming the option."""
    if format not in FORMATS:
        raise ValueError(f"format: expected one of {FORMATS}, got {format!r}")
    if compression not in COMPRESSIONS:
        raise ValueError(f"compression: expected one of {COMPRESSIONS}, got {compression!r}")
    if layout not in LAYOUTS:
        raise ValueError(f"layout: expected one of {LAYOUTS}, got {layout!r}")
    if impact not in IMPACTS:
        raise ValueError(f"impact: expected one of {IMPACTS}, got {impact!r}")
    if not isinstance(batch_rows, (int, np.integer)) or isinstance(batch_rows, bool) or batch_rows < 1:
        raise ValueError(f"batch_rows: expected an integer >= 1, got {batch_rows!r}")
    if symbols is not None and format != "parquet":
        raise ValueError(f"symbols: selects rows of Parquet input only, not format={format!r}")
    if strategy is not None and wal_dir is not None:
        raise ValueError("wal_dir: a strategy backtest keeps no WAL (rerun it from its input)")
    if partition_by is not None:
        if partition_by != "symbol":
            raise ValueError(f"partition_by: expected 'symbol', got {partition_by!r}")
        if format != "parquet":
            raise ValueError(f"partition_by='symbol' reads Parquet input, not format={format!r}")
        if strategy is not None:
            raise ValueError("partition_by='symbol' cannot run a strategy: it sees one engine's results in order")
        if wal_dir is not None:
            raise ValueError("partition_by='symbol' keeps no WAL: every partition is replayed from its input")


def clear_results(out):
    """Remove an earlier backtest's results from ``out`` (nothing else in it)."""
    for name in RESULT_NAMES:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def prepare_out(out):
    """Create ``out`` (a directory) and a fresh staging directory in it; one-line errors otherwise."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out: {out} is a file, not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
        staging = out / f"{STAGING_PREFIX}{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
    except (FileExistsError, NotADirectoryError) as exc:
        raise ValueError(f"out: cannot create {out}: a part of the path is a file") from exc
    except PermissionError as exc:
        raise ValueError(f"out: cannot write in {out}: permission denied") from exc
    return out, staging


def publish(staging, out):
    """Replace the results in ``out`` with those in ``staging`` (then removed)."""
    clear_results(out)
    for path in sorted(staging.iterdir()):
        os.replace(path, out / path.name)
    staging.rmdir()


class FixedRowGroups:
    """A ``ParquetWriter``-like sink that writes row groups of exactly ``rows`` rows (the last: fewer)."""

    def __init__(self, writer, rows=ROWS_PER_GROUP):
        self._writer = writer
        self._rows = rows
        self._pending = []
        self._pending_rows = 0

    def write_table(self, table):
        if table.num_rows == 0:
            return
        self._pending.append(table)
        self._pending_rows += table.num_rows
        if self._pending_rows >= self._rows:
            joined = pa.concat_tables(self._pending)
            full = (joined.num_rows // self._rows) * self._rows
            for start in range(0, full, self._rows):
                self._writer.write_table(joined.slice(start, self._rows), row_group_size=self._rows)
            rest = joined.slice(full)
            self._pending = [rest] if rest.num_rows else []
            self._pending_rows = rest.num_rows

    def close(self):
        if self._pending_rows:
            self._writer.write_table(pa.concat_tables(self._pending), row_group_size=self._rows)
        self._writer.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def _writer_options(options, readable):
    """``options`` with Parquet dictionary encoding for the columns that ``readable`` encodes."""
    return {**options, "use_dictionary": readable.dictionary_columns or False}


def _sink(out, name, schema, options, layout, context):
    """Where result tables of ``name`` go: one Parquet file, or a dataset split by symbol.

    Returns ``(sink, convert)``: tables of ``schema`` go through ``convert`` (to readable
    tables, `nbengine.readable.Readable`) before ``sink.write_table``; the by-symbol
    dataset converts each row group itself (it splits the numeric rows by symbol first).
    """
    if layout == "by_symbol":
        readable = Readable(schema.remove(schema.get_field_index("symbol")), context)
        dataset = SymbolDataset(out / name, schema, _writer_options(options, readable),
                                convert=lambda file_schema: Readable(file_schema, context), names=context.symbols)
        return dataset, None
    readable = Readable(schema, context)
    writer = pq.ParquetWriter(out / f"{name}.parquet", readable.schema_out, **_writer_options(options, readable))
    return FixedRowGroups(writer), readable


def write_readable(table, path, context, compression):
    """Write a whole numeric ``table`` to ``path`` as a readable Parquet file."""
    readable = Readable(table.schema, context)
    pq.write_table(readable(table), path, compression=compression,
                   **_writer_options({"use_dictionary": False}, readable))


def _lobster_batches(paths, batch_rows, orderbook, price_unit, counts):
    """``(total rows, iterator of prepared order columns)`` over LOBSTER message files.

    With an ``orderbook`` file, the faithful replay (``loaders.lobster.faithful``: its trades
    are the file's visible executions; ``counts`` gets its sync and execution counts); without
    one, the messages as the loader maps them (``counts`` gets the rows without an order, by
    reason).
    """
    from ..loaders import lobster
    from ..schema import prepare

    if orderbook is not None:
        if len(paths) != 1:
            raise ValueError(f"orderbook: the opening book of one message file, got {len(paths)} files")
        day = lobster.faithful(paths[0], orderbook, price_unit=price_unit)
        counts.update(day.counts)
        flows = [day.orders]
    else:
        loaded = [lobster.load(path, None, price_unit=price_unit) for path in paths]
        for converted in loaded:
            for reason in converted.skipped.column("reason").to_pylist():
                counts[reason] = counts.get(reason, 0) + 1
        flows = [converted.orders for converted in loaded]

    def batches():
        for orders in flows:
            for start in range(0, orders["ts"].size, batch_rows):
                yield prepare({name: column[start : start + batch_rows] for name, column in orders.items()})

    return sum(orders["ts"].size for orders in flows), batches()


def exact_sum(values):
    """The sum of int64 ``values`` as a Python int, exact whatever their count and size.

    Each value is split into its high and low 31 bits, summed apiece in int64 (no wrap below
    2**32 values) and joined: a summary total never wraps around.
    """
    values = np.asarray(values, dtype=np.int64)
    return (int(np.sum(values >> 31)) << 31) + int(np.sum(values & ((1 << 31) - 1)))


class _Totals:
    """Writes result tables and counts what they hold; each method runs on its own writer thread.

    ``convert_trades`` / ``convert_events`` (None: as they are) make the numeric tables
    readable before they are written, on the writer threads.
    """

    def __init__(self, convert_trades=None, convert_events=None):
        self.convert_trades = convert_trades
        self.convert_events = convert_events
        self.trades = 0
        self.volume = 0
        self.rejects = np.zeros(max(REASON_NAMES) + 1, dtype=np.int64)

    def write_trades(self, writer, trades):
        if trades.num_rows:
            self.trades += trades.num_rows
            self.volume += exact_sum(trades.column("qty").to_numpy())
            writer.write_table(trades if self.convert_trades is None else self.convert_trades(trades))

    def write_events(self, writer, events):
        rejected = events.column("event").to_numpy() == REJECTED
        if rejected.any():
            reasons = events.column("reason").to_numpy()[rejected]
            self.rejects += np.bincount(reasons, minlength=self.rejects.size)
        if events.num_rows:
            writer.write_table(events if self.convert_events is None else self.convert_events(events))

    def rejects_by_reason(self):
        return {REASON_NAMES[code]: int(n) for code, n in enumerate(self.rejects) if n}


def _counted(batches, update):
    """``batches`` passed through, the progress bar moved by their rows."""
    rows = 0
    for columns in batches:
        rows += columns.ts.shape[0]
        update(rows)
        yield columns


def summary_of(*, orders, trades, volume, rejects, resting_orders, wall, compile_seconds, extra=None):
    """A backtest's ``summary.json`` content: the one builder for a run in one process and for a
    merge of partitions (`scaleout`); ``extra`` adds the keys of that kind of run."""
    summary = {
        "orders": orders,
        "trades": trades,
        "volume": volume,
        "rejects": rejects,
        "resting_orders": resting_orders,
        "wall_seconds": round(wall, 6),
        "compile_or_cache_load_seconds": round(compile_seconds, 3),
        "orders_per_second": round(orders / wall) if wall > 0 else None,
    }
    summary.update(extra or {})
    return summary


def _lobster_context(paths, price_unit):
    """Readable context of LOBSTER input: the ticker, New York time from the file's date, cents."""
    from ..loaders import lobster

    found = {lobster.file_context(path) for path in paths}
    ticker, midnight = found.pop() if len(found) == 1 else (None, None)
    return Context(
        tz=lobster.TIME_ZONE if midnight is not None else None,
        tick_size=price_unit / 10_000,
        symbols=None if ticker is None else (ticker,),
        ts_offset=midnight or 0,
    )


def run_local(
    source,
    out,
    *,
    batch_rows=65536,
    stp="none",
    max_span_ticks=1 << 20,
    columns=None,
    values=None,
    constants=None,
    ignore_columns=None,
    symbol_table=None,
    tick_size=None,
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
    quotes=False,
    pipelined=True,
):
    """`nbengine.backtest` in this process (see there for the parameters)."""
    check_options(format=format, compression=compression, layout=layout, symbols=symbols, strategy=strategy,
                  wal_dir=wal_dir, batch_rows=batch_rows, impact=impact, partition_by=None)
    if quotes and strategy is not None:
        raise ValueError("quotes: not with a strategy yet (run the flow alone with quotes=True)")
    if quotes and wal_dir is not None:
        raise ValueError("quotes: not with wal_dir (a quotes backtest keeps no WAL)")
    paths = [source] if isinstance(source, (str, Path)) else list(source)
    started = time.perf_counter()
    warmup()
    compile_seconds = time.perf_counter() - started
    lobster_counts = {}
    if format == "lobster":
        total, batches = _lobster_batches(paths, batch_rows, orderbook, price_unit, lobster_counts)
        context = _lobster_context(paths, price_unit)
    else:
        source = ParquetSource(paths, columns=columns, values=values, constants=constants, tick_size=tick_size,
                               ignore_columns=ignore_columns, symbol_table=symbol_table)
        total, batches = source.batches(batch_rows, symbols, use_threads=pipelined)
        context = source.context()
    out, staging = prepare_out(out)
    try:
        engine = Engine(stp=stp, max_span_ticks=max_span_ticks, wal_dir=wal_dir)
        started = time.perf_counter()
        options = {**WRITER_OPTIONS, "compression": compression}
        trade_sink, convert_trades = _sink(staging, "trades", TRADES_SCHEMA, options, layout, context)
        event_sink, convert_events = _sink(staging, "events", EVENTS_SCHEMA, options, layout, context)
        totals = _Totals(convert_trades, convert_events)
        recorder = None
        if quotes:
            from .quotes import QuoteRecorder

            recorder = QuoteRecorder(engine)
        with trade_sink as trade_writer, event_sink as event_writer, progress_bar(
            total, quiet=quiet, unit="orders"
        ) as update, (
            WriteBehind(name="nbengine-trades") if pipelined else WriteNow()
        ) as trade_work, (WriteBehind(name="nbengine-events") if pipelined else WriteNow()) as event_work:
            read = prefetch(batches) if pipelined else batches

            def write(trades, events):
                trade_work.submit(totals.write_trades, trade_writer, trades)
                event_work.submit(totals.write_events, event_writer, events)

            strategy_summary = None
            if strategy is None and recorder is None:
                for result in engine.submit_many(read, ahead=1):
                    update(result.seq_end)
                    write(result.trades, result.events)
            else:
                loop = StrategyLoop(engine, strategy or recorder, latency=latency, fees=fees,
                                    wake_every_ns=wake_every_ns if strategy else None,
                                    wake_on=wake_on if strategy else "bbo", impact=impact,
                                    flush=lambda t, e: write(trades_table(t), events_table(e)))
                loop_summary = loop.run(_counted(read, update))
                if strategy is not None:
                    strategy_summary = loop_summary
                    for name, table in loop.tables().items():
                        write_readable(table, staging / name, context, compression)
        if recorder is not None:
            write_readable(recorder.table(), staging / "quotes.parquet", context, compression)
        engine.close()
        extra = {"state_hash": engine.state_hash(), **context.summary()}
        if strategy_summary is not None:
            extra["strategy"] = strategy_summary
        if format == "lobster":
            extra["lobster_replay" if orderbook is not None else "lobster_rows_without_order"] = lobster_counts
        summary = summary_of(orders=engine.next_seq, trades=totals.trades, volume=totals.volume,
                             rejects=totals.rejects_by_reason(), resting_orders=engine.live_orders,
                             wall=time.perf_counter() - started, compile_seconds=compile_seconds, extra=extra)
        (staging / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        publish(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return summary


__all__ = ["COMPRESSIONS", "FORMATS", "IMPACTS", "LAYOUTS", "ROWS_PER_GROUP", "check_options", "clear_results",
           "exact_sum", "run_local", "write_readable"]
