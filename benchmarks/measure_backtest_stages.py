"""CPU time per order of each stage of a backtest, the stages run one after another.

    python -m benchmarks.measure_backtest_stages ORDERS.parquet [OUT_DIR]

from the repository root, after ``nbengine generate --orders 10000000 --symbols 8 --seed 2026
--out ORDERS.parquet`` (the input of ``bench_backtest.py``'s 10 M case). Each 64K-row batch
is read and validated, matched (``Engine.submit``: the kernel, then the result tables) and
its trades and events are written twice, Snappy-compressed and uncompressed, with the
writer options of ``nbengine.backtest``, into ``OUT_DIR`` (default ``/dev/shm``, so the
disk is left out). Process CPU time is taken around each stage, so pyarrow's own threads
count. Prints nanoseconds of CPU per order for each stage: what the stages cost in all,
whichever threads a backtest runs them on.
"""

import sys
import tempfile
import time

import pyarrow.parquet as pq

import nbengine
from nbengine import results
from nbengine.backtest.run import WRITER_OPTIONS
from nbengine.parquet_input import parquet_batches
from nbengine.schema import EVENTS_SCHEMA, TRADES_SCHEMA

COMPRESSIONS = ("snappy", "none")


def _timed_tables(cpu):
    """Wrap ``results.table_from_rows`` so that its CPU time adds up in ``cpu["tables"]``."""
    build = results.table_from_rows

    def timed(*args, **kwargs):
        started = time.process_time()
        table = build(*args, **kwargs)
        cpu["tables"] += time.process_time() - started
        return table

    results.table_from_rows = timed


def measure(path, out_dir):
    """``(orders, output rows per order, CPU seconds by stage)`` of one pass over ``path``."""
    nbengine.warmup()
    cpu = dict.fromkeys(["read", "submit", "tables", *COMPRESSIONS], 0.0)
    _timed_tables(cpu)
    writers = {
        compression: [
            pq.ParquetWriter(f"{out_dir}/{name}_{compression}.parquet", schema,
                             **{**WRITER_OPTIONS, "compression": compression})
            for name, schema in (("trades", TRADES_SCHEMA), ("events", EVENTS_SCHEMA))
        ]
        for compression in COMPRESSIONS
    }
    engine = nbengine.Engine()
    orders = output_rows = 0
    _, batches = parquet_batches([path], 65536)
    batches = iter(batches)
    while True:
        started = time.process_time()
        batch = next(batches, None)
        cpu["read"] += time.process_time() - started
        if batch is None:
            break
        started = time.process_time()
        result = engine.submit(batch)
        tables = (result.trades, result.events)
        cpu["submit"] += time.process_time() - started
        orders += result.seq_end - result.seq_start
        output_rows += sum(table.num_rows for table in tables)
        for compression, pair in writers.items():
            started = time.process_time()
            for writer, table in zip(pair, tables):
                writer.write_table(table)
            cpu[compression] += time.process_time() - started
    for compression, pair in writers.items():
        started = time.process_time()
        for writer in pair:
            writer.close()
        cpu[compression] += time.process_time() - started
    cpu["kernel"] = cpu.pop("submit") - cpu["tables"]
    return orders, output_rows / orders, cpu


def main(path, out_dir):
    with tempfile.TemporaryDirectory(dir=out_dir) as scratch:
        orders, rows_per_order, cpu = measure(path, scratch)
    print(f"{orders:,} orders, {rows_per_order:.2f} result rows per order; CPU ns per order:")
    labels = {
        "read": "read + validate input",
        "kernel": "match (kernel)",
        "tables": "result tables",
        "snappy": "write results, snappy",
        "none": "write results, no compression",
    }
    for stage, label in labels.items():
        print(f"  {label:31s} {cpu[stage] / orders * 1e9:6.0f}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "/dev/shm")
