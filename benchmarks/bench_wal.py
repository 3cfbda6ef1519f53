"""Durability: throughput of each WAL mode, single-order fsync-bound paths, recovery.

Every WAL lives in a fresh temporary directory on the file system of ``tempfile``
(``$TMPDIR``), so numbers depend on that disk's fsync latency, which
``WalFsync.track_fsync_p50_us`` reports alongside.
"""

import os
import shutil
import tempfile
import threading
import time

import numpy as np

import nbengine
from nbengine import generate
from nbengine.durability import replay

from . import VERSION, cached_flow, output_rows

FLOW_ROWS = 2**20
"""Rows of the standard mix the batch benchmarks log (16 batches of 64K)."""

BATCH = 65_536

SYNC_ORDERS = 400
"""1-order submissions per ``sync`` measurement (each waits for its own fsync)."""

THREADS = 8
THREAD_ORDERS = 250
"""1-order submissions per thread in the 8-thread ``group`` measurement."""


class _Directory:
    """A fresh temporary WAL directory per measurement, removed in ``teardown``."""

    directory = None

    def make_directory(self):
        self.directory = tempfile.mkdtemp(prefix="nbengine-bench-wal-")
        return self.directory

    def teardown(self, *params):
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)


class _OneRunPerSample(_Directory):
    """Each sample is one full run (it changes the WAL, so it cannot repeat in place)."""

    version = VERSION
    number = 1
    repeat = (1, 5, 30.0)
    warmup_time = 0.0
    timeout = 300


class WalBatchThroughput(_OneRunPerSample):
    """Time per order of ``submit`` with 64K-order batches of the standard mix, by durability.

    ``none`` has no WAL (the baseline); ``async`` returns once the frame is queued and
    the measurement includes ``close()`` (everything fsynced); ``group`` and ``sync``
    return each batch only once it is durable. ``submit``: one thread, so every fsync
    covers one batch and matching waits for it. ``2 threads``: one thread matches while
    the other's batch syncs. ``submit_many``: one thread, ``Engine.submit_many(ahead=1)``
    matches the next batch while the previous one syncs (the pipelining ``group`` allows).
    """

    params = [["none", "async", "group", "sync"], ["submit", "2 threads", "submit_many"]]
    param_names = ["durability", "submitter"]
    unit = "ns/order"

    def setup(self, durability, submitter):
        nbengine.warmup()
        flow_table = generate.to_table(cached_flow("standard_mix", FLOW_ROWS))
        self.batches = [flow_table.slice(start, BATCH) for start in range(0, FLOW_ROWS, BATCH)]
        output_rows(nbengine.Engine().submit(self.batches[0]))
        wal_dir = None if durability == "none" else self.make_directory()
        self.engine = nbengine.Engine(wal_dir=wal_dir, durability=durability)

    def track_ns_per_order(self, durability, submitter):
        """Nanoseconds per order, tables built, each batch acknowledged as the mode says."""
        start = time.perf_counter()
        if submitter == "submit_many":
            for result in self.engine.submit_many(self.batches, ahead=1):
                output_rows(result)
        else:
            self._submit_from_threads(2 if submitter == "2 threads" else 1)
        self.engine.close()
        return (time.perf_counter() - start) * 1e9 / FLOW_ROWS

    def _submit_from_threads(self, threads):
        pending = list(reversed(self.batches))

        def work():
            while pending:
                try:
                    batch = pending.pop()
                except IndexError:
                    return
                output_rows(self.engine.submit(batch))

        workers = [threading.Thread(target=work) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()


class WalSingleOrders(_OneRunPerSample):
    """1-order batches: ``sync`` from one thread, ``group`` from 8 threads sharing fsyncs.

    Two ways for the 8 threads: ``submit_one`` in a loop (each thread waits for its
    order's fsync before matching the next, so with one fsync at a time every other
    fsync carries at most the frames of the threads the one before did not, 4 on
    average), and ``submit_rows(ahead=1)`` (each thread matches its next order while the
    one before syncs, so every thread can have a frame in every fsync). Either way every
    order is acknowledged only once durable.
    """

    unit = "us/order"

    def setup(self):
        nbengine.warmup()
        flow = cached_flow("standard_mix", THREADS * THREAD_ORDERS)
        self.rows = [tuple(int(flow[name][i]) for name in ("ts", "order_id", "side", "kind", "price", "qty")) for i in range(len(flow["ts"]))]

    def track_sync_1_order_us(self):
        """``submit_one`` in ``sync`` mode: each order waits for its own write + fsync."""
        engine = nbengine.Engine(wal_dir=self.make_directory(), durability="sync")
        start = time.perf_counter()
        for row in self.rows[:SYNC_ORDERS]:
            engine.submit_one(*row)
        elapsed = time.perf_counter() - start
        engine.close()
        return elapsed * 1e6 / SYNC_ORDERS

    def track_group_8_threads_1_order_us(self):
        """``submit_one`` in ``group`` mode from 8 threads: frames queued meanwhile share an fsync."""

        def work(engine, part):
            for row in part:
                engine.submit_one(*row)

        return self._from_threads(work)

    def track_group_8_threads_1_order_pipelined_us(self):
        """``submit_rows(ahead=1)`` in ``group`` mode from 8 threads: each thread matches ahead while its last order syncs."""

        def work(engine, part):
            for _ in engine.submit_rows(part, ahead=1):
                pass

        return self._from_threads(work)

    def _from_threads(self, work):
        """Microseconds per order of ``work(engine, rows)`` run by ``THREADS`` threads on a ``group`` engine."""
        engine = nbengine.Engine(wal_dir=self.make_directory(), durability="group")
        threads = [threading.Thread(target=work, args=(engine, self.rows[i::THREADS])) for i in range(THREADS)]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - start
        engine.close()
        return elapsed * 1e6 / len(self.rows)


class WalRecovery(_OneRunPerSample):
    """Read + verify + replay of a WAL holding 2**20 orders (64K-order frames), no snapshot."""

    unit = "ns/order"

    def setup(self):
        nbengine.warmup()
        flow_table = generate.to_table(cached_flow("standard_mix", FLOW_ROWS))
        with nbengine.Engine(wal_dir=self.make_directory(), durability="async") as engine:
            for start in range(0, FLOW_ROWS, BATCH):
                engine.submit(flow_table.slice(start, BATCH))
        replay(nbengine.Engine, self.directory)  # page cache and first-allocation faults, untimed

    def track_recovery_ns_per_order(self):
        """Nanoseconds per order of ``wal.recovery.replay`` (what ``Engine.recover`` does before repairs)."""
        start = time.perf_counter()
        _, report = replay(nbengine.Engine, self.directory)
        return (time.perf_counter() - start) * 1e9 / report.orders


class WalFsync(_Directory):
    """The disk under the benchmarks: latency of appending 4 KiB and fsyncing."""

    unit = "us"
    version = VERSION

    def setup(self):
        self.make_directory()

    def track_fsync_p50_us(self):
        """Median of 200 ``write(4 KiB)`` + ``fsync`` pairs on one file."""
        path = os.path.join(self.directory, "probe")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT)
        latencies = []
        try:
            for _ in range(200):
                os.write(fd, bytes(4096))
                start = time.perf_counter()
                os.fsync(fd)
                latencies.append(time.perf_counter() - start)
        finally:
            os.close(fd)
        return float(np.median(latencies) * 1e6)
