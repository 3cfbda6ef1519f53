"""The ``nbengine`` command line: ``generate`` sample flow, ``backtest`` Parquet files, ``wal-dump`` and ``recover`` a WAL."""

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


def _backtest(args):
    from .backtest import backtest

    summary = backtest(args.paths, args.out, batch_rows=args.batch_rows, stp=args.stp)
    print(json.dumps(summary, indent=2))
    print(f"results in {args.out}/ (trades.parquet, events.parquet, summary.json)")


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
    bt.set_defaults(run=_backtest)

    dump = commands.add_parser("wal-dump", help="print every WAL record: segment, offset, seq, rows, checksum status")
    dump.add_argument("dir", help="WAL directory")
    dump.set_defaults(run=_wal_dump)

    rec = commands.add_parser("recover", help="verify and replay a WAL (read-only): state hash, orders, seq range, time")
    rec.add_argument("dir", help="WAL directory")
    rec.add_argument("--salvage", action="store_true", help="replay the valid prefix instead of stopping at corruption")
    rec.set_defaults(run=_recover)

    args = parser.parse_args(argv)
    return args.run(args) or 0


if __name__ == "__main__":
    sys.exit(main())
