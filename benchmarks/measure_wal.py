"""Run the measurements of ``bench_wal.py`` a few times in one process and print medians (as orders/s).

A quick way to read the durability numbers without installing the package for asv:

    python -m benchmarks.measure_wal [repeats]

from the repository root (the README's "Durability" figures come from ``repeats`` = 5).
"""

import statistics
import sys


def _median(cls, method, params, repeats):
    values = []
    for _ in range(repeats):
        bench = cls()
        bench.setup(*params)
        try:
            values.append(getattr(bench, method)(*params))
        finally:
            bench.teardown(*params)
    return statistics.median(values), values


def _single_orders(cls, repeats):
    """The 1-order measurements in interleaved rounds, so each ratio compares runs of the same minute.

    The disk's fsync latency drifts by tens of percent over minutes here; a round runs
    ``sync`` and then both 8-thread variants, and the ratios are medians of per-round ratios.
    """
    labels = {
        "track_sync_1_order_us": "sync, 1-order, 1 thread",
        "track_group_8_threads_1_order_us": "group, 1-order, 8 threads, submit_one",
        "track_group_8_threads_1_order_pipelined_us": "group, 1-order, 8 threads, submit_rows(ahead=1)",
    }
    runs = {method: [] for method in labels}
    for _ in range(repeats):
        for method, values in runs.items():
            values.append(_median(cls, method, (), 1)[0])
    sync = runs["track_sync_1_order_us"]
    for method, label in labels.items():
        values = runs[method]
        line = f"{label}: {1e6 / statistics.median(values):,.0f} orders/s (runs {[round(1e6 / v) for v in values]})"
        if values is not sync:
            ratios = [s / v for s, v in zip(sync, values)]
            line += f", {statistics.median(ratios):.2f}x sync (rounds {[round(r, 2) for r in ratios]})"
        print(line, flush=True)


def main(repeats):
    from . import bench_wal as b

    for submitter in b.WalBatchThroughput.params[1]:
        for durability in b.WalBatchThroughput.params[0]:
            median, runs = _median(b.WalBatchThroughput, "track_ns_per_order", (durability, submitter), repeats)
            print(f"64K batches, {durability:5s}, {submitter}: {1e3 / median:.2f} M orders/s "
                  f"(runs {[round(1e3 / r, 2) for r in runs]})", flush=True)
    _single_orders(b.WalSingleOrders, repeats)
    median, runs = _median(b.WalRecovery, "track_recovery_ns_per_order", (), repeats)
    print(f"recovery: {1e3 / median:.2f} M orders/s (runs {[round(1e3 / r, 2) for r in runs]})", flush=True)
    median, runs = _median(b.WalFsync, "track_fsync_p50_us", (), repeats)
    print(f"fsync of 4 KiB: median {median:.0f} us (runs {[round(r) for r in runs]})", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
