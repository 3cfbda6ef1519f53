"""Single-order latency: percentiles of one call per order, and the cold start."""

import os
import time

import numpy as np

import nbengine
from nbengine import generate

from . import VERSION, cached_flow, output_rows

SCALAR_ORDERS = 20_000
"""Orders submitted one at a time through ``submit_one`` per measurement."""

TABLE_ORDERS = 5_000
"""Orders submitted as 1-row tables per measurement (a slower path, so fewer)."""

SCALAR_COLUMNS = ("ts", "order_id", "side", "kind", "price", "qty", "symbol", "tif", "account")
"""Flow columns in the order the scalar rows hold them."""


class SubmitOneLatency:
    """Latency of one order at a time on a book built by the standard mix.

    Each measurement submits the first orders of ``generate.standard_mix`` one by one to
    a fresh engine and times every call with ``time.perf_counter_ns``; the book grows
    as it would in a live session. Percentiles are of those per-call times, in ns.
    """

    unit = "ns"
    version = VERSION
    timeout = 120

    def setup(self):
        """Warm the JIT, convert the rows to Python ints and 1-row tables, fresh engine."""
        nbengine.warmup()
        flow = cached_flow("standard_mix", SCALAR_ORDERS)
        self.scalar_rows = list(zip(*(flow[name].tolist() for name in SCALAR_COLUMNS)))
        flow_table = generate.to_table(flow)
        self.one_row_tables = [flow_table.slice(row, 1) for row in range(TABLE_ORDERS)]
        self.engine = nbengine.Engine()

    def submit_one_latencies_ns(self):
        """Submit every scalar row; return each call's wall time in ns."""
        latencies = np.empty(len(self.scalar_rows), dtype=np.int64)
        submit_one = self.engine.submit_one
        clock = time.perf_counter_ns
        for row, (ts, order_id, side, kind, price, qty, symbol, tif, account) in enumerate(
            self.scalar_rows
        ):
            start = clock()
            submit_one(
                ts, order_id, side, kind, price, qty, symbol=symbol, tif=tif, account=account
            )
            latencies[row] = clock() - start
        return latencies

    def track_submit_one_p50_ns(self):
        """Median ``Engine.submit_one`` call, scalars in, result object out."""
        return float(np.percentile(self.submit_one_latencies_ns(), 50))

    def track_submit_one_p99_ns(self):
        """99th percentile ``Engine.submit_one`` call."""
        return float(np.percentile(self.submit_one_latencies_ns(), 99))

    def track_submit_1row_p50_ns(self):
        """Median ``Engine.submit`` of a 1-row ``pa.Table``, tables out."""
        latencies = np.empty(len(self.one_row_tables), dtype=np.int64)
        submit = self.engine.submit
        clock = time.perf_counter_ns
        for row, table in enumerate(self.one_row_tables):
            start = clock()
            output_rows(submit(table))
            latencies[row] = clock() - start
        return float(np.percentile(latencies, 50))


class ColdStart:
    """Import and first order in a fresh interpreter, numba's on-disk cache warm."""

    version = VERSION
    timeout = 300

    def setup(self):
        """Fill numba's on-disk cache, so the timed process loads rather than compiles."""
        nbengine.warmup()

    def timeraw_import_and_first_submit(self):
        """``import nbengine``, build an engine and match one limit order.

        The fresh interpreter imports the nbengine this suite imported (its directory
        goes first on ``sys.path``): asv passes no ``PYTHONPATH`` to it, so a checkout
        given by ``ASV_PYTHONPATH`` would not be found otherwise.
        """
        package_parent = os.path.dirname(os.path.dirname(os.path.abspath(nbengine.__file__)))
        return f"""
        import sys
        sys.path.insert(0, {package_parent!r})
        import nbengine
        engine = nbengine.Engine()
        engine.submit_one(1, 1, nbengine.BUY, nbengine.LIMIT, 100_000, 10)
        """


class ArrowBatches:
    """``Engine.submit`` of Arrow RecordBatches of the contract's schema (issue 15, point 4).

    The standard mix cut into RecordBatches of ``rows`` rows, submitted to a fresh engine;
    every result's tables are read (``output_rows``), so lazily built tables are paid for.
    The issue's targets: 1 row, p50 at most 25 µs; 100 rows, at most 500 ns/order (2 M
    orders/s); 64K rows, no slower than before.
    """

    params = [1, 100, 65_536]
    param_names = ["rows"]
    version = VERSION
    timeout = 300

    def setup(self, rows):
        """Warm the JIT, cut the batches, and push the first one through a throwaway engine (first-touch costs)."""
        nbengine.warmup()
        count = 5_000 if rows == 1 else (100_000 if rows == 100 else 4 * rows)
        table = generate.to_table(cached_flow("standard_mix", count))
        self.batches = table.to_batches(max_chunksize=rows)
        output_rows(nbengine.Engine().submit(self.batches[0]))

    def track_submit_p50_ns(self, rows):
        """Median call: ``submit`` of one batch and reading its tables, in ns."""
        engine = nbengine.Engine()
        latencies = np.empty(len(self.batches), dtype=np.int64)
        clock = time.perf_counter_ns
        for index, batch in enumerate(self.batches):
            start = clock()
            output_rows(engine.submit(batch))
            latencies[index] = clock() - start
        return float(np.percentile(latencies, 50))

    def track_ns_per_order(self, rows):
        """ns per order over every batch, tables read (1e9 / orders per second: lower is better)."""
        engine = nbengine.Engine()
        start = time.perf_counter_ns()
        for batch in self.batches:
            output_rows(engine.submit(batch))
        return (time.perf_counter_ns() - start) / sum(batch.num_rows for batch in self.batches)

    track_submit_p50_ns.unit = "ns"
    track_ns_per_order.unit = "ns/order"
