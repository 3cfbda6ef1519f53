"""The main job: ``nbengine.backtest`` from a Parquet file of the standard mix to Parquet results.

``setup_cache`` writes the inputs once per run (1M and 10M orders, 8 symbols, 64K-row
row groups, as ``nbengine generate`` does); asv runs every benchmark in the directory
where they were written. Results go to a fresh directory per sample, removed after it,
and the page cache holds the input, so the figures are CPU-bound throughput, not disk.
"""

import shutil
import tempfile

import pyarrow.parquet as pq

import nbengine
from nbengine import generate

from . import VERSION

ORDERS = [1_000_000, 10_000_000]
SYMBOLS = 8
SEED = 2026
ROW_GROUP = 65_536


def _input(orders):
    return f"backtest_{orders}.parquet"


class Backtest:
    """Parquet in, Parquet out, summary written: wall time as ``summary.json`` reports it."""

    params = [ORDERS, ["snappy", "none"]]
    param_names = ["orders", "compression"]
    version = VERSION
    number = 1
    repeat = (1, 3, 60.0)
    warmup_time = 0.0
    timeout = 600

    def setup_cache(self):
        for orders in ORDERS:
            columns = generate.standard_mix(
                orders, seed=SEED, symbols=SYMBOLS, modify=0.05, fok=0.02, post_only=0.03, accounts=4
            )
            pq.write_table(generate.to_table(columns), _input(orders), row_group_size=ROW_GROUP)

    def setup(self, orders, compression):
        nbengine.warmup()
        self.out = tempfile.mkdtemp(prefix="nbengine-bench-backtest-")

    def teardown(self, orders, compression):
        shutil.rmtree(self.out, ignore_errors=True)

    def track_ns_per_order(self, orders, compression):
        """Nanoseconds per order of the whole run (read, match, write trades and events), as
        ``summary.json``'s ``wall_seconds`` counts it."""
        summary = nbengine.backtest(_input(orders), self.out, quiet=True, compression=compression)
        return summary["wall_seconds"] * 1e9 / summary["orders"]

    track_ns_per_order.unit = "ns/order"

    def peakmem_backtest(self, orders, compression):
        """Peak RSS of the process running the whole backtest: flat in the input's length."""
        nbengine.backtest(_input(orders), self.out, quiet=True, compression=compression)
