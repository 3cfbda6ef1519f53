"""The ``nbengine`` command line: ``generate``, ``backtest``, ``lobster-check``, ``wal-dump``, ``recover``, ``bench``.

Every mistake of the user is one line on stderr (``nbengine COMMAND: ...``) and exit status
1 or 2, never a traceback; a warning is one line too; a cold kernel cache prints one
notice while the kernels compile.
"""

import argparse
import json
import sys
import threading
import time
import warnings

from .codes import STP_MODES


_DURATION_UNITS = {"ns": 1, "us": 10**3, "ms": 10**6, "s": 10**9, "min": 60 * 10**9, "h": 3600 * 10**9}


def _duration(text):
    """``"6.5h"``, ``"30min"``, ``"90s"``, ``"250ms"`` or plain ns ``"1000"`` → int ns."""
    from decimal import Decimal, InvalidOperation

    number, unit = text.strip(), "ns"
    for name in sorted(_DURATION_UNITS, key=len, reverse=True):
        if number.endswith(name):
            number, unit = number[: -len(name)].strip(), name
            break
    try:
        ns = Decimal(number) * _DURATION_UNITS[unit]
    except InvalidOperation:
        raise argparse.ArgumentTypeError(
            f"expected a duration such as 6.5h, 30min, 90s, 250ms or a number of ns, got {text!r}"
        ) from None
    if not ns.is_finite() or ns < 1 or ns != ns.to_integral_value():
        raise argparse.ArgumentTypeError(f"expected a positive whole number of ns, got {text!r}")
    return int(ns)


def _start_time(text):
    """ns since the epoch, or an ISO 8601 time (UTC unless it has an offset) → int ns."""
    try:
        return int(text)
    except ValueError:
        pass
    import datetime as dt

    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected ns since the epoch or an ISO 8601 time, got {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    delta = moment - epoch
    return (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1_000


def _generate(args):
    import pyarrow.parquet as pq

    from .generate import session_mix, to_table

    if args.rate is not None and not args.rate > 0:
        raise SystemExit(f"nbengine generate: --rate expects a positive number of orders per second, got {args.rate}")
    try:
        columns = session_mix(
            args.orders,
            seed=args.seed,
            symbols=args.symbols,
            duration=args.duration,
            rate=args.rate,
            start_ts=args.start,
            modify=args.modify,
            fok=args.fok,
            post_only=args.post_only,
            passive=args.passive,
            accounts=args.accounts,
        )
    except (TypeError, ValueError) as error:
        raise SystemExit(f"nbengine generate: {error}") from None
    pq.write_table(to_table(columns), args.out, row_group_size=args.row_group)
    ts = columns["ts"]
    span = f"{(int(ts[-1]) - int(ts[0])) / 1e9:,.1f} s of market time" if len(ts) else "no time"
    print(f"wrote {args.orders:,} orders over {args.symbols} symbols (seed {args.seed}, {span}) to {args.out}")


DESCRIPTION = (
    "nbengine: a limit-order-book matching engine. Commands: generate (a synthetic order flow), "
    "backtest (match Parquet or LOBSTER files, write readable trades/events), lobster-check (replay a "
    "LOBSTER day against its orderbook file), wal-dump and recover (inspect and replay a write-ahead log), "
    "bench (measure this machine). 'nbengine COMMAND --help' describes each."
)

COMPILE_NOTICE_AFTER = 1.0
"""Seconds the kernels may take to load before the cold-cache notice is printed."""


def warm_up(command, stream=None):
    """``nbengine.warmup()``, with a one-line notice on ``stream`` (stderr) when it takes long.

    A warm cache loads in well under a second and prints nothing; a cold one compiles for
    tens of seconds: one line says so when it starts, one how long it took.
    """
    from .warmup import warmup

    stream = sys.stderr if stream is None else stream
    done = threading.Event()
    started = time.perf_counter()
    noticed = []

    def notice():
        if not done.wait(COMPILE_NOTICE_AFTER):
            noticed.append(True)
            print(f"nbengine {command}: compiling the kernels (first run; they are cached afterwards, "
                  "this takes about 30 s)...", file=stream, flush=True)

    watcher = threading.Thread(target=notice, name="nbengine-compile-notice", daemon=True)
    watcher.start()
    try:
        warmup()
    finally:
        done.set()
        watcher.join()
    if noticed:
        print(f"nbengine {command}: kernels compiled in {time.perf_counter() - started:.1f} s", file=stream, flush=True)


def _one_line_warnings(command):
    """Print every warning as one line (``nbengine COMMAND: warning: ...``), no source line."""

    def show(message, category, filename, lineno, file=None, line=None):
        text = " ".join(str(message).split())
        print(f"nbengine {command}: warning: {text} ({category.__name__})", file=file or sys.stderr)

    warnings.showwarning = show


def _pairs(option, pairs, form):
    """``["a=b", ...]`` → ``[("a", "b"), ...]``, or one line naming the malformed one."""
    found = []
    for pair in pairs:
        source, sep, target = pair.partition("=")
        if not sep or not source.strip() or not target.strip():
            raise SystemExit(f"nbengine backtest: {option} expects {form}, got {pair!r}")
        found.append((source.strip(), target.strip()))
    return found


def _column_map(pairs):
    """``["px=price", ...]`` → ``{"px": "price", ...}``."""
    return dict(_pairs("--map", pairs, "SOURCE=COLUMN"))


def _constants(pairs):
    """``["kind=LIMIT", ...]`` → ``{"kind": "LIMIT"}`` (integers as ints)."""
    return {column: int(value) if value.lstrip("-").isdigit() else value
            for column, value in _pairs("--set", pairs, "COLUMN=VALUE")}


def _value_maps(specs):
    """``["side:B=BUY,S=SELL", ...]`` → ``{"side": {"B": "BUY", "S": "SELL"}}``."""
    maps = {}
    for spec in specs:
        column, sep, rest = spec.partition(":")
        if not sep or not column.strip() or not rest.strip():
            raise SystemExit(f"nbengine backtest: --value expects COLUMN:FROM=TO,..., got {spec!r}")
        table = maps.setdefault(column.strip(), {})
        for source, target in _pairs("--value", rest.split(","), "COLUMN:FROM=TO,..."):
            table[source] = int(target) if target.lstrip("-").isdigit() else target
    return maps


def _scale_out_conflict(args):
    """Why ``--workers`` / ``--scheduler`` / ``--partitions`` cannot go with the other options, or None."""
    if args.workers is not None and args.scheduler is not None:
        return "--workers starts a local cluster, --scheduler uses a running one: give one of them"
    if args.workers is None and args.scheduler is None:
        return "--partitions needs --workers N or --scheduler ADDRESS" if args.partitions is not None else None
    if args.workers is not None and args.workers < 1:
        return f"--workers expects at least 1, got {args.workers}"
    if args.format != "parquet":
        return f"--workers / --scheduler partition Parquet input by symbol, not --format {args.format}"
    if args.quote_around_mid is not None or args.strategy is not None:
        return "--workers / --scheduler cannot run a strategy (it sees one engine's results in order)"
    if args.wal is not None:
        return "--workers / --scheduler keep no WAL (every partition is replayed from its input)"
    if args.layout == "files":
        return "--workers / --scheduler write results by symbol (trades/symbol=<s>/), not --layout files"
    return None


def _strategy(args):
    """The strategy the options name (``--strategy module:Class`` or ``--quote-around-mid``), or None."""
    import importlib

    if args.strategy is not None and args.quote_around_mid is not None:
        raise SystemExit("nbengine backtest: give --strategy or --quote-around-mid, not both")
    if args.quote_around_mid is not None:
        from .backtest.examples import MidQuoter

        half_spread, size = args.quote_around_mid
        return MidQuoter(symbol=args.quote_symbol, half_spread=half_spread, size=size)
    if args.strategy is None:
        if args.strategy_args is not None:
            raise SystemExit("nbengine backtest: --strategy-args goes with --strategy")
        return None
    module_name, _, class_name = args.strategy.partition(":")
    if not class_name:
        raise SystemExit(f"nbengine backtest: --strategy expects MODULE:CLASS, got {args.strategy!r}")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise SystemExit(f"nbengine backtest: --strategy {args.strategy}: {exc}") from exc
    try:
        kwargs = json.loads(args.strategy_args) if args.strategy_args is not None else {}
        if not isinstance(kwargs, dict):
            raise ValueError("expected a JSON object")
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:
        raise SystemExit(f"nbengine backtest: --strategy-args {args.strategy_args}: {exc}") from exc


def _backtest(args):
    from .backtest import Latency, backtest
    from .schema import SchemaError
    from .wal.errors import WalError

    conflict = _scale_out_conflict(args)
    if conflict is not None:
        raise SystemExit(f"nbengine backtest: {conflict}")
    if args.batch_rows < 1:
        raise SystemExit(f"nbengine backtest: --batch-rows expects at least 1, got {args.batch_rows}")
    strategy = _strategy(args)
    options = dict(
        batch_rows=args.batch_rows, stp=args.stp, columns=_column_map(args.map), tick_size=args.tick_size,
        format=args.format, orderbook=args.orderbook, price_unit=args.price_unit, quiet=args.quiet,
        strategy=strategy, wal_dir=args.wal, compression=args.compression, values=_value_maps(args.value),
        constants=_constants(args.set), ignore_columns=args.ignore, symbol_table=args.symbol_table,
    )
    if args.quotes:
        options["quotes"] = True
    if args.format == "lobster":
        given = [name for name, value in (("--map", args.map), ("--value", args.value), ("--set", args.set),
                                          ("--ignore", args.ignore), ("--symbol-table", args.symbol_table),
                                          ("--tick-size", args.tick_size)) if value]
        if given:
            raise SystemExit(f"nbengine backtest: {', '.join(given)} map Parquet input; LOBSTER files have "
                             "their own layout (--price-unit sets the tick)")
        for name in ("columns", "values", "constants", "ignore_columns", "symbol_table"):
            options.pop(name)
    if strategy is not None:
        wake_on = "bbo" if args.wake_on is None and args.wake_every is None else args.wake_on
        options.update(wake_every_ns=args.wake_every, wake_on=wake_on, impact=args.impact,
                       latency=Latency(entry_ns=args.entry_latency, response_ns=args.response_latency))
    warm_up("backtest")
    try:
        if args.workers is None and args.scheduler is None:
            layout = args.layout or "files"
            summary = backtest(args.paths, args.out, layout=layout, **options)
            written = "trades.parquet, events.parquet" if layout == "files" else "trades/symbol=*/, events/symbol=*/"
            written += ", quotes.parquet" if args.quotes else ""
            written += ", own_fills.parquet, own_orders.parquet, strategy.parquet" if strategy is not None else ""
            written += ", summary.json"
        else:
            from .backtest.scaleout import dask_client

            with dask_client(args.scheduler, workers=args.workers) as client:
                summary = backtest(args.paths, args.out, partition_by="symbol", client=client,
                                   partitions=args.partitions, **options)
            written = "trades/symbol=*/, events/symbol=*/, summary.json"
    except (ValueError, OSError, SchemaError, ImportError, WalError) as exc:
        raise SystemExit(f"nbengine backtest: {exc}") from None
    print(json.dumps(summary, indent=2))
    print(f"results in {args.out}/ ({written})")


def _lobster_check(args):
    """Exit 0 when the replay matches the orderbook file, 1 when it does not, 2 on an input error (one line)."""
    import warnings

    import pyarrow as pa

    from .loaders import lobster
    from .loaders.lobster_check import check_day
    from .progress import progress_bar

    def read(what, path, reader):
        try:
            return reader(path)
        except (OSError, ValueError, pa.ArrowException) as exc:
            raise ValueError(f"{what} {path}: {exc}") from exc

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", lobster.SubNanosecondTimeWarning)
            messages = read("message file", args.messages, lobster.read_messages)
        for warning in caught:
            print(f"note: {warning.message}")
        orderbook = read("orderbook file", args.orderbook, lobster.read_orderbook)
        if args.rows is not None:
            if args.rows < 1:
                raise ValueError(f"--rows: expected an integer >= 1, got {args.rows}")
            messages, orderbook = messages.slice(0, args.rows), orderbook[: args.rows]
        with progress_bar(messages.num_rows, quiet=args.quiet, unit="msgs") as update:
            report = check_day(messages, orderbook, price_unit=args.price_unit, progress=update)
    except (OSError, ValueError, pa.ArrowException) as exc:
        print(f"nbengine lobster-check: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    print(report)
    return 0 if report.ok else 1


def _wal_dump(args):
    """Print every segment and record; problems are one line each and listing goes on. Exit 1 on any."""
    import os

    from .wal.errors import WalError
    from .wal.format import RECORD_REFUSED
    from .wal.reader import list_segments, scan_segment
    from .wal.snapshot import load_latest

    if not os.path.isdir(args.dir):
        raise SystemExit(f"nbengine wal-dump: no WAL directory {args.dir}")
    bad = 0
    log_id = owner = None
    try:
        snapshot = load_latest(args.dir)
    except WalError as exc:
        bad += 1
        print(f"snapshot: CORRUPT: {exc}")
    else:
        if snapshot is not None:
            log_id, owner = snapshot.log_id, "the snapshot"
            print(f"snapshot: covers seqs [0, {snapshot.input_seq}), {snapshot.orders.num_rows} resting orders, "
                  f"log id {log_id.hex()}")
    segments = list_segments(args.dir)
    for index, path in enumerate(segments):
        try:
            header, records, torn, corruption = scan_segment(path, newest=index == len(segments) - 1)
        except WalError as exc:
            bad += 1
            print(f"segment {path}: CORRUPT: {exc}")
            continue
        settings = "torn header" if header is None else ", ".join(
            [f"{k}={v}" for k, v in header.config._asdict().items()] + [f"log id {header.log_id.hex()}"]
        )
        print(f"segment {path}: {settings}")
        if header is not None and log_id is None:
            log_id, owner = header.log_id, os.path.basename(path)
        elif header is not None and header.log_id != log_id:
            bad += 1
            print(f"  offset 0: CORRUPT: a segment of another log ({owner} has log id {log_id.hex()})")
        for record in records:
            refused = " refused (memory budget)" if record.record_type == RECORD_REFUSED else ""
            print(f"  offset {record.offset} seq {record.first_seq} rows {record.rows}{refused} "
                  f"bytes {len(record.payload)} crc ok")
        if torn is not None and torn.offset is not None:
            print(f"  offset {torn.offset}: torn tail (a clean end; recovery truncates here)")
        if corruption is not None:
            bad += 1
            print(f"  offset {corruption.offset}: CORRUPT: {corruption}")
    return 1 if bad else 0


def _recover(args):
    """Replay read-only and report; a corrupt or unreadable log is one line (segment and offset), exit 1."""
    from .engine import Engine
    from .durability import replay
    from .wal.errors import WalCorruptionError, WalError

    warm_up("recover")
    try:
        engine, report = replay(Engine, args.dir, salvage=args.salvage)
    except (WalError, FileNotFoundError) as exc:
        hint = " (--salvage replays the valid prefix)" if isinstance(exc, WalCorruptionError) and not args.salvage else ""
        raise SystemExit(f"nbengine recover: {exc}{hint}") from None
    print(f"WAL {report.directory} ({', '.join(f'{k}={v}' for k, v in report.config._asdict().items())})")
    if report.snapshot_seq is not None:
        print(f"snapshot covers seqs [0, {report.snapshot_seq})")
    print(f"replayed {report.frames} frames, {report.orders} orders; recovered seqs [0, {report.end_seq})")
    if report.torn is not None:
        where = "its header" if report.torn.offset is None else f"byte {report.torn.offset}"
        print(f"torn tail in {report.torn.segment} at {where} (ignored; Engine.recover truncates it)")
    if report.corruption is not None:
        print(f"salvaged the prefix before: {report.corruption}")
    print(f"resting orders {engine.live_orders}, state hash {engine.state_hash()}")
    print(f"took {report.seconds:.3f} s ({report.orders / max(report.seconds, 1e-9):,.0f} orders/s, kernels compiled before timing); no file was changed")
    return 0


def _bench(args):
    from .bench import run_from_args

    return run_from_args(args)


def _batch_sizes(text):
    """``"1,100,1000"`` → ``[1, 100, 1000]``."""
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from exc
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"batch sizes must be >= 1, got {text!r}")
    return sizes


def main(argv=None):
    """Entry point of the ``nbengine`` console script."""
    from . import __version__

    parser = argparse.ArgumentParser(prog="nbengine", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"nbengine {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    from .generate import START_TS

    gen = commands.add_parser(
        "generate",
        help="write a seeded synthetic order flow as Parquet",
        description="Write a seeded synthetic order flow (nbengine.generate.session_mix) as Parquet: limits "
        "around a random-walk mid, cancels and modifies of orders that are resting when they arrive, market "
        "orders, IOC, FOK and post-only limits, arriving as a Poisson process over a trading session. The same "
        "options and seed always give the same file.",
    )
    gen.add_argument("--orders", type=int, default=100_000, help="number of rows (default %(default)s)")
    gen.add_argument("--symbols", type=int, default=4,
                     help="books 0 .. SYMBOLS-1; rows are spread uniformly over them (default %(default)s)")
    gen.add_argument("--seed", type=int, default=0,
                     help="non-negative random seed; the same seed gives the same bytes (default %(default)s)")
    timing = gen.add_mutually_exclusive_group()
    timing.add_argument("--duration", type=_duration, default="6.5h", metavar="TIME",
                        help="market time the orders span, as Poisson arrivals: a number with a unit ns, us, ms, "
                             "s, min or h (6.5h, 30min, 90s), or a plain number of ns (default 6.5h, a US equity "
                             "session 09:30-16:00)")
    timing.add_argument("--rate", type=float, default=None, metavar="PER_SECOND",
                        help="orders per second of market time instead of --duration: Poisson arrivals at this "
                             "mean rate, so the span is ORDERS / RATE seconds on average (default: use --duration)")
    gen.add_argument("--start", type=_start_time, default=START_TS, metavar="TIME",
                     help="time of the session's open, as ns since the Unix epoch or an ISO 8601 time (UTC "
                          "unless it has an offset) (default %(default)s = 2024-01-02T14:30:00Z, 09:30 in New York)")
    gen.add_argument("--modify", type=float, default=0.05,
                     help="share of rows that are MODIFY of a resting order (default %(default)s)")
    gen.add_argument("--fok", type=float, default=0.02,
                     help="share of rows that are fill-or-kill limits (default %(default)s)")
    gen.add_argument("--post-only", type=float, default=0.03,
                     help="share of rows that are post-only limits (default %(default)s)")
    gen.add_argument("--passive", type=float, default=0.8,
                     help="share of the GTC limits priced behind the mid, which rest; the others are priced "
                          "within 50 ticks either side of the mid, so half of them cross (default %(default)s)")
    gen.add_argument("--accounts", type=int, default=4,
                     help="new orders draw their account from 1 .. ACCOUNTS (default %(default)s)")
    gen.add_argument("--row-group", type=int, default=65536,
                     help="rows per Parquet row group (default %(default)s)")
    gen.add_argument("--out", required=True, help="output .parquet path (required)")
    gen.set_defaults(run=_generate)

    bt = commands.add_parser(
        "backtest", help="match Parquet order files, write readable trades/events and a summary",
        description="Match every order of Parquet files (or LOBSTER message files) and write trades.parquet, "
        "events.parquet and summary.json into --out. The files read without joins: ts as timestamps in the "
        "input's time zone, ticker names, side/event/reason names, px (currency) beside price (ticks) when a "
        "tick size is known. Files in other columns, names and units map with --map, --value, --set, "
        "--tick-size and --ignore; every problem of the input is reported at once. See docs/data.md.",
    )
    bt.add_argument("paths", nargs="+", help="Parquet files or directories (or LOBSTER message files)")
    bt.add_argument("--out", required=True, help="output directory (required)")
    bt.add_argument("--batch-rows", type=int, default=65536,
                    help="rows per batch read and matched; results do not depend on it (default %(default)s)")
    bt.add_argument("--stp", choices=sorted(STP_MODES), default="none",
                    help="self-trade prevention by account (default %(default)s)")
    bt.add_argument("--format", choices=["parquet", "lobster"], default="parquet",
                    help="parquet: order-schema files; lobster: LOBSTER message files")
    bt.add_argument("--map", action="append", default=[], metavar="SOURCE=COLUMN",
                    help="read column SOURCE as order column COLUMN, e.g. --map sym=symbol (repeatable)")
    bt.add_argument("--value", action="append", default=[], metavar="COLUMN:FROM=TO,...",
                    help="map values of COLUMN, e.g. --value side:B=BUY,S=SELL; targets are codes or the names "
                         "BUY, SELL, LIMIT, MARKET, CANCEL, MODIFY, GTC, IOC, FOK, POST_ONLY (repeatable)")
    bt.add_argument("--set", action="append", default=[], metavar="COLUMN=VALUE",
                    help="fill a column the files lack, e.g. --set kind=LIMIT (repeatable)")
    bt.add_argument("--ignore", action="append", default=[], metavar="COLUMN",
                    help="drop an input column; any other column outside the order contract is an error (repeatable)")
    bt.add_argument("--symbol-table", default=None, metavar="PATH",
                    help="ids of ticker names from an earlier run (its summary.json or output directory); "
                         "default: the input's names in sorted order")
    bt.add_argument("--tick-size", type=float, default=None,
                    help="prices are currency amounts: convert to ticks of this size (off-grid rows are rejected "
                         "OFF_TICK, never rounded); results get px")
    bt.add_argument("--quotes", action="store_true",
                    help="also write quotes.parquet: every change of a symbol's best bid/ask (ts, symbol, bid, "
                         "bid_qty, ask, ask_qty); not with a strategy or --workers")
    bt.add_argument("--orderbook", default=None, help="LOBSTER orderbook file: its first row is the opening book")
    bt.add_argument("--price-unit", type=int, default=100, help="LOBSTER price units per tick (100 = one cent)")
    bt.add_argument("--quiet", action="store_true", help="no progress bar")
    bt.add_argument("--layout", choices=["files", "by_symbol"], default=None,
                    help="results as trades.parquet/events.parquet (default), or as trades/symbol=<s>/ "
                         "datasets (always, with --workers/--scheduler)")
    bt.add_argument("--compression", choices=["snappy", "none", "lz4", "zstd"], default="snappy",
                    help="Parquet compression of the results (none: 2x faster to write, 3x larger)")
    bt.add_argument("--quote-around-mid", type=int, nargs=2, metavar=("HALF_SPREAD", "SIZE"), default=None,
                    help="run the example strategy nbengine.backtest.examples:MidQuoter: a bid and an ask "
                         "HALF_SPREAD ticks around the mid, SIZE lots each (default wake-up: every best-price change)")
    bt.add_argument("--quote-symbol", type=int, default=0, help="symbol the example strategy quotes")
    bt.add_argument("--strategy", default=None, metavar="MODULE:CLASS",
                    help="run a nbengine.Strategy subclass (see docs/strategy.md); its outputs go to own_fills.parquet, "
                         "own_orders.parquet, strategy.parquet")
    bt.add_argument("--strategy-args", default=None, metavar="JSON",
                    help="keyword arguments of the strategy class, as a JSON object")
    bt.add_argument("--wake-every", type=int, default=None, metavar="NS",
                    help="wake the strategy every NS of market time")
    bt.add_argument("--wake-on", choices=["bbo"], default=None,
                    help="bbo: wake the strategy at every change of a best bid or ask of its symbols "
                         "(the default when --wake-every is not given either)")
    bt.add_argument("--impact", choices=["full", "none"], default="full",
                    help="full: liquidity the strategy takes is gone for the replay; none: the strategy never "
                         "changes the replayed market (default: full)")
    bt.add_argument("--entry-latency", type=int, default=0, metavar="NS",
                    help="ns from a strategy's decision to its order reaching the book (default 0)")
    bt.add_argument("--response-latency", type=int, default=0, metavar="NS",
                    help="ns from an exchange event to the strategy learning of it (default 0)")
    bt.add_argument("--wal", default=None, metavar="DIR",
                    help="log every batch to a write-ahead log in DIR (group commit); recover with 'nbengine recover DIR'")
    bt.add_argument("--workers", type=int, default=None, metavar="N",
                    help="partition by symbol over a local Dask cluster of N single-threaded worker processes "
                         "(pip install nbengine[distributed]); see docs/scale-out.md")
    bt.add_argument("--scheduler", default=None, metavar="ADDRESS",
                    help="partition by symbol over the running Dask cluster at ADDRESS (e.g. tcp://host:8786)")
    bt.add_argument("--partitions", type=int, default=None, metavar="K",
                    help="with --workers / --scheduler: K symbol sets (default 1 per worker thread)")
    bt.set_defaults(run=_backtest)

    lc = commands.add_parser(
        "lobster-check",
        help="replay a LOBSTER message file and compare the engine's book with the orderbook file after every message",
    )
    lc.add_argument("messages", help="LOBSTER message file (.csv or .csv.gz)")
    lc.add_argument("orderbook", help="the matching orderbook file")
    lc.add_argument("--price-unit", type=int, default=100, help="LOBSTER price units per tick (100 = one cent)")
    lc.add_argument("--rows", type=int, default=None, help="check only the first ROWS messages")
    lc.add_argument("--quiet", action="store_true", help="no progress bar")
    lc.set_defaults(run=_lobster_check)

    dump = commands.add_parser("wal-dump", help="print every WAL record: segment, offset, seq, rows, checksum status")
    dump.add_argument("dir", help="WAL directory")
    dump.set_defaults(run=_wal_dump)

    rec = commands.add_parser("recover", help="verify and replay a WAL (read-only): state hash, orders, seq range, time")
    rec.add_argument("dir", help="WAL directory")
    rec.add_argument("--salvage", action="store_true", help="replay the valid prefix instead of stopping at corruption")
    rec.set_defaults(run=_recover)

    bench = commands.add_parser(
        "bench", help="measure this machine: report.md, report.json and charts (throughput, latency, durability)"
    )
    bench.add_argument("--orders", type=int, default=None,
                       help="orders of the generated flow (default 1,048,576; --quick 131,072)")
    bench.add_argument("--seed", type=int, default=2026, help="seed of the standard-mix flow")
    bench.add_argument("--quick", action="store_true", help="less work per section (under 20 s here)")
    bench.add_argument("--batch-sizes", type=_batch_sizes, default=None, metavar="N,N,...",
                       help="rows per submit call on the batch-size curve (default 1,10,100,1000,10000,65536,1048576)")
    bench.add_argument("--out", default="bench-report", help="output directory (report.md, report.json, report/*.png)")
    bench.add_argument("--readme", default=None, metavar="README",
                       help="also replace the text between <!-- bench:start --> and <!-- bench:end --> in README")
    bench.add_argument("--quiet", action="store_true", help="no progress bar")
    bench.set_defaults(run=_bench)

    args = parser.parse_args(argv)
    _one_line_warnings(args.command)
    try:
        return args.run(args) or 0
    except KeyboardInterrupt:
        print(f"nbengine {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["main"]
