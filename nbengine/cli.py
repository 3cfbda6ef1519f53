"""The ``nbengine`` command line: ``generate``, ``backtest``, ``lobster-check``, ``wal-dump``, ``recover``, ``bench``."""

import argparse
import json
import sys

from .codes import STP_MODES


def _generate(args):
    import pyarrow.parquet as pq

    from .generate import standard_mix, to_table

    columns = standard_mix(
        args.orders, seed=args.seed, symbols=args.symbols, modify=0.05, fok=0.02, post_only=0.03, accounts=4
    )
    pq.write_table(to_table(columns), args.out, row_group_size=args.row_group)
    print(f"wrote {args.orders} orders over {args.symbols} symbols (seed {args.seed}) to {args.out}")


def _column_map(pairs):
    """``["px=price", ...]`` → ``{"px": "price", ...}``."""
    mapping = {}
    for pair in pairs:
        source, sep, target = pair.partition("=")
        if not sep or not source or not target:
            raise SystemExit(f"nbengine backtest: --map expects SOURCE=COLUMN, got {pair!r}")
        mapping[source] = target
    return mapping


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
    if args.quote_around_mid is not None:
        return "--workers / --scheduler cannot run a strategy (it sees one engine's results in order)"
    if args.wal is not None:
        return "--workers / --scheduler keep no WAL (every partition is replayed from its input)"
    if args.layout == "files":
        return "--workers / --scheduler write results by symbol (trades/symbol=<s>/), not --layout files"
    return None


def _backtest(args):
    from .backtest import backtest
    from .schema import SchemaError
    from .strategy import QuoteAroundMid

    conflict = _scale_out_conflict(args)
    if conflict is not None:
        raise SystemExit(f"nbengine backtest: {conflict}")
    strategy = None
    if args.quote_around_mid is not None:
        half_spread, size = args.quote_around_mid
        strategy = QuoteAroundMid(symbol=args.quote_symbol, half_spread=half_spread, size=size)
    options = dict(
        batch_rows=args.batch_rows, stp=args.stp, columns=_column_map(args.map), tick_size=args.tick_size,
        format=args.format, orderbook=args.orderbook, price_unit=args.price_unit, quiet=args.quiet,
        strategy=strategy, wal_dir=args.wal, compression=args.compression,
    )
    try:
        if args.workers is None and args.scheduler is None:
            layout = args.layout or "files"
            summary = backtest(args.paths, args.out, layout=layout, **options)
            written = "trades.parquet, events.parquet" if layout == "files" else "trades/symbol=*/, events/symbol=*/"
            written += ", summary.json"
        else:
            from .scaleout import dask_client

            with dask_client(args.scheduler, workers=args.workers) as client:
                summary = backtest(args.paths, args.out, partition_by="symbol", client=client,
                                   partitions=args.partitions, **options)
            written = "trades/symbol=*/, events/symbol=*/, summary.json"
    except (ValueError, FileNotFoundError, SchemaError, ImportError) as exc:
        raise SystemExit(f"nbengine backtest: {exc}") from exc
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
    from .wal.reader import list_segments, scan_segment
    from .wal.snapshot import load_latest

    snapshot = load_latest(args.dir)
    if snapshot is not None:
        print(f"snapshot: covers seqs [0, {snapshot.input_seq}), {snapshot.orders.num_rows} resting orders")
    segments = list_segments(args.dir)
    bad = 0
    for index, path in enumerate(segments):
        header, records, torn, corruption = scan_segment(path, newest=index == len(segments) - 1)
        settings = "torn header" if header is None else ", ".join(f"{k}={v}" for k, v in header.config._asdict().items())
        print(f"segment {path}: {settings}")
        for record in records:
            print(f"  offset {record.offset} seq {record.first_seq} rows {record.rows} bytes {len(record.payload)} crc ok")
        if torn is not None and torn.offset is not None:
            print(f"  offset {torn.offset}: torn tail (a clean end; recovery truncates here)")
        if corruption is not None:
            bad += 1
            print(f"  offset {corruption.offset}: CORRUPT: {corruption}")
    return 1 if bad else 0


def _recover(args):
    from .engine import Engine
    from .warmup import warmup
    from .wal.recovery import replay

    warmup()
    engine, report = replay(Engine, args.dir, salvage=args.salvage)
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
    parser = argparse.ArgumentParser(prog="nbengine", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    gen = commands.add_parser("generate", help="write a seeded synthetic order flow as Parquet")
    gen.add_argument("--orders", type=int, default=100_000)
    gen.add_argument("--symbols", type=int, default=4)
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--row-group", type=int, default=65536, help="rows per Parquet row group")
    gen.add_argument("--out", required=True, help="output .parquet path")
    gen.set_defaults(run=_generate)

    bt = commands.add_parser("backtest", help="match Parquet order files, write trades/events/summary")
    bt.add_argument("paths", nargs="+", help="Parquet files or directories")
    bt.add_argument("--out", required=True, help="output directory")
    bt.add_argument("--batch-rows", type=int, default=65536)
    bt.add_argument("--stp", choices=sorted(STP_MODES), default="none")
    bt.add_argument("--format", choices=["parquet", "lobster"], default="parquet",
                    help="parquet: order-schema files; lobster: LOBSTER message files")
    bt.add_argument("--map", action="append", default=[], metavar="SOURCE=COLUMN",
                    help="read column SOURCE as order column COLUMN (repeatable; parquet)")
    bt.add_argument("--tick-size", type=float, default=None,
                    help="prices are currency amounts: convert to ticks of this size (off-grid rows are rejected)")
    bt.add_argument("--orderbook", default=None, help="LOBSTER orderbook file: its first row is the opening book")
    bt.add_argument("--price-unit", type=int, default=100, help="LOBSTER price units per tick (100 = one cent)")
    bt.add_argument("--quiet", action="store_true", help="no progress bar")
    bt.add_argument("--layout", choices=["files", "by_symbol"], default=None,
                    help="results as trades.parquet/events.parquet (default), or as trades/symbol=<s>/ "
                         "datasets (always, with --workers/--scheduler)")
    bt.add_argument("--compression", choices=["snappy", "none", "lz4", "zstd"], default="snappy",
                    help="Parquet compression of the results (none: 2x faster to write, 3x larger)")
    bt.add_argument("--quote-around-mid", type=int, nargs=2, metavar=("HALF_SPREAD", "SIZE"), default=None,
                    help="run the example strategy: a bid and an ask HALF_SPREAD ticks around the mid, SIZE lots "
                         "each, re-priced after every batch; its fills go to own_fills.parquet")
    bt.add_argument("--quote-symbol", type=int, default=0, help="symbol the example strategy quotes")
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
    return args.run(args) or 0


if __name__ == "__main__":
    sys.exit(main())
