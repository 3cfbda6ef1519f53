"""The measurements of ``nbengine bench``: real runs of the public API, timed.

Every function here takes the flow it is given (``generate.standard_mix``, seeded), builds
fresh engines, and returns plain dicts of numbers (times in µs) that ``report`` renders.
Nothing here prints or draws.
"""

import collections
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, replace

import numpy as np

import nbengine
from nbengine.codes import REASON_NAMES, REJECTED
from nbengine.durability import DURABILITY_MODES
from nbengine.generate import standard_mix, to_table
from nbengine.reference import EVENT_COLUMNS, TRADE_COLUMNS, ReferenceBook

BATCH_SIZES = (1, 10, 100, 1_000, 10_000, 65_536, 1_048_576)
"""Rows per ``submit`` call on the batch-size curve (sizes above ``orders`` are dropped)."""

SCALAR_FIELDS = ("ts", "order_id", "side", "kind", "price", "qty", "symbol", "tif", "account")
"""Flow columns in the order ``submit_one`` rows hold them."""

PERCENTILES = {"p50": 50, "p90": 90, "p99": 99, "p99.9": 99.9}


@dataclass(frozen=True)
class BenchSettings:
    """What ``nbengine bench`` runs; every count is in orders unless named otherwise.

    Attributes
    ----------
    orders : int
        Rows of the generated flow; the main run submits all of them.
    seed : int
        Seed of ``generate.standard_mix``.
    batch_sizes : tuple of int
        Rows per ``submit`` call on the batch-size curve.
    main_batch : int
        Rows per ``submit`` call of the main run (the "results" section).
    max_calls : int
        Most ``submit`` calls per pass of one batch size (caps the work of small batches).
    min_samples : int
        Fewest timed calls per batch size: the flow is passed through fresh engines again
        until there are this many (large batches give a few calls per pass).
    scalar_orders : int
        Orders submitted one at a time with ``submit_one``.
    reference_orders : int
        Prefix of the flow matched by the plain-Python reference book and compared.
    durability_orders : int
        Prefix of the flow submitted in each durability mode, once per batch size.
    durability_batches : tuple of int
        Rows per ``submit`` call in the durability runs (small: many acknowledgements to
        take latency percentiles of; large: throughput).
    durability_scalar_orders : int
        Orders submitted with ``submit_one`` in each durability mode.
    one_at_a_time_orders : int
        Orders of the replaced design's test: one at a time in each durability mode.
    disk_syncs : int
        4 KiB writes, each followed by an ``fsync``, that measure the disk itself.
    """

    orders: int = 1_048_576
    seed: int = 2026
    batch_sizes: tuple = BATCH_SIZES
    main_batch: int = 65_536
    max_calls: int = 5_000
    min_samples: int = 20
    scalar_orders: int = 100_000
    reference_orders: int = 20_000
    durability_orders: int = 1_048_576
    durability_batches: tuple = (1_024, 65_536)
    durability_scalar_orders: int = 2_000
    one_at_a_time_orders: int = 50_000
    disk_syncs: int = 2_000

    def capped(self):
        """These settings with every prefix and batch size at most ``orders``."""
        return replace(
            self,
            batch_sizes=tuple(size for size in self.batch_sizes if size <= self.orders),
            main_batch=min(self.main_batch, self.orders),
            scalar_orders=min(self.scalar_orders, self.orders),
            reference_orders=min(self.reference_orders, self.orders),
            durability_orders=min(self.durability_orders, self.orders),
            durability_batches=tuple(sorted({min(size, self.orders) for size in self.durability_batches})),
            durability_scalar_orders=min(self.durability_scalar_orders, self.orders),
            one_at_a_time_orders=min(self.one_at_a_time_orders, self.orders),
        )


QUICK = BenchSettings(
    orders=131_072,
    max_calls=500,
    min_samples=3,
    scalar_orders=20_000,
    reference_orders=5_000,
    durability_orders=65_536,
    durability_scalar_orders=200,
    one_at_a_time_orders=5_000,
    disk_syncs=200,
)
"""``nbengine bench --quick``: the same sections on less work (under 20 s here)."""


def latency_stats(nanoseconds):
    """Summary of per-call times.

    Parameters
    ----------
    nanoseconds : array_like of int
        One wall time per call, in ns.

    Returns
    -------
    dict
        ``n`` and, in µs, ``avg``, ``min``, ``max``, ``p50``, ``p90``, ``p99``, ``p99.9``.

    Examples
    --------
    >>> latency_stats([1000, 2000, 3000])["p50"]
    2.0
    """
    micros = np.asarray(nanoseconds, dtype=np.float64) / 1e3
    stats = {"n": int(micros.size), "avg": float(micros.mean()), "min": float(micros.min()),
             "max": float(micros.max())}
    stats.update({name: float(np.percentile(micros, q)) for name, q in PERCENTILES.items()})
    return stats


def make_flow(settings):
    """The standard mix of ``settings.orders`` rows (seeded) as columns and as a table."""
    columns = standard_mix(settings.orders, seed=settings.seed)
    return columns, to_table(columns)


def timed_warmup():
    """Seconds ``nbengine.warmup()`` takes: compiling the kernels, or loading numba's cache."""
    start = time.perf_counter()
    nbengine.warmup()
    return time.perf_counter() - start


def _slices(table, rows, batch):
    return [table.slice(start, min(batch, rows - start)) for start in range(0, rows, batch)]


def _count_rejects(events, counts):
    """Add the reasons of ``events``' REJECTED rows to ``counts`` (reason code → rows)."""
    event = events.column("event").to_numpy()
    reason = events.column("reason").to_numpy()[event == REJECTED]
    for code, rows in zip(*np.unique(reason, return_counts=True)):
        counts[int(code)] += int(rows)


def main_run(table, batch):
    """Submit the whole flow to a fresh engine in ``batch``-row calls; count what came out.

    Only the ``submit`` calls are timed; counting rejects happens between them. One
    untimed call on a throwaway engine first pays the page faults of a process's first
    buffers of this size, as in ``batch_point``.

    Returns
    -------
    dict
        ``orders``, ``batch``, ``seconds``, ``orders_per_s``, ``trades``, ``trades_per_s``,
        ``trades_per_order``, ``events``, ``rejects`` (reason name → rows), ``errors``
        (``submit`` calls that raised) and ``first_error`` (its text, or None).
    """
    parts = _slices(table, table.num_rows, batch)
    nbengine.Engine().submit(parts[0])
    engine = nbengine.Engine()
    trades = events = errors = 0
    first_error = None
    rejects = collections.Counter()
    elapsed_ns = 0
    clock = time.perf_counter_ns
    for part in parts:
        start = clock()
        try:
            result = engine.submit(part)
        except Exception as exc:  # an error is a measured outcome here, not a crash
            errors += 1
            first_error = first_error or f"{type(exc).__name__}: {exc}"
            continue
        finally:
            elapsed_ns += clock() - start
        trades += result.trades.num_rows
        events += result.events.num_rows
        _count_rejects(result.events, rejects)
    seconds = elapsed_ns / 1e9
    return {
        "orders": table.num_rows, "batch": batch, "seconds": seconds, "orders_per_s": table.num_rows / seconds,
        "trades": trades, "trades_per_s": trades / seconds, "trades_per_order": trades / table.num_rows,
        "events": events, "rejects": {REASON_NAMES[code]: rows for code, rows in sorted(rejects.items())},
        "errors": errors, "first_error": first_error,
    }


def batch_point(table, batch, settings):
    """Throughput and per-call latency of ``submit`` with ``batch``-row calls.

    Each pass submits the first ``min(orders, batch * max_calls)`` rows to a fresh engine;
    passes repeat until ``min_samples`` calls were timed. One untimed call on a throwaway
    engine first pays the page faults of allocating buffers this large.

    Returns
    -------
    dict
        ``batch``, ``calls`` (timed), ``passes``, ``orders`` (matched in all passes),
        ``orders_per_s`` (orders over the summed call times) and ``latency``
        (``latency_stats`` of the calls).
    """
    rows = min(table.num_rows, batch * settings.max_calls)
    parts = _slices(table, rows, batch)
    passes = max(1, math.ceil(settings.min_samples / len(parts)))
    nbengine.Engine().submit(parts[0])
    latencies = []
    clock = time.perf_counter_ns
    for _ in range(passes):
        submit = nbengine.Engine().submit
        for part in parts:
            start = clock()
            submit(part)
            latencies.append(clock() - start)
    total_ns = sum(latencies)
    return {
        "batch": batch, "calls": len(latencies), "passes": passes, "orders": rows * passes,
        "orders_per_s": rows * passes / (total_ns / 1e9), "latency": latency_stats(latencies),
    }


def scalar_rows(columns, rows):
    """The first ``rows`` orders as tuples of Python ints in ``SCALAR_FIELDS`` order."""
    return list(zip(*(columns[name][:rows].tolist() for name in SCALAR_FIELDS)))


def _submit_one_latencies(engine, rows, wait):
    """Submit ``rows`` one at a time; each call's ns until returned (and durable when ``wait``)."""
    latencies = np.empty(len(rows), dtype=np.int64)
    submit_one = engine.submit_one
    clock = time.perf_counter_ns
    for i, (ts, order_id, side, kind, price, qty, symbol, tif, account) in enumerate(rows):
        start = clock()
        result = submit_one(ts, order_id, side, kind, price, qty, symbol=symbol, tif=tif, account=account)
        if wait:
            result.wait_durable()
        latencies[i] = clock() - start
    return latencies


def scalar_latency(columns, settings):
    """Per-order latency of ``Engine.submit_one`` on a fresh engine (no WAL).

    Returns
    -------
    dict
        ``orders``, ``orders_per_s`` (over the summed call times) and ``latency``.
    """
    latencies = _submit_one_latencies(nbengine.Engine(), scalar_rows(columns, settings.scalar_orders), False)
    return {
        "orders": settings.scalar_orders, "orders_per_s": latencies.size / (latencies.sum() / 1e9),
        "latency": latency_stats(latencies),
    }


def _engine_for(mode, directory):
    if mode == "none":
        return nbengine.Engine()
    return nbengine.Engine(wal_dir=directory, durability=mode)


def _durable_batches(mode, parts, directory):
    """Submit ``parts`` in ``mode``; per-call ack ns, and wall seconds including ``close()``."""
    engine = _engine_for(mode, directory)
    wait = mode in ("group", "sync")
    latencies = np.empty(len(parts), dtype=np.int64)
    clock = time.perf_counter_ns
    wall_start = clock()
    for i, part in enumerate(parts):
        start = clock()
        result = engine.submit(part)
        if wait:
            result.wait_durable()
        latencies[i] = clock() - start
    engine.close()
    return latencies, (clock() - wall_start) / 1e9


def _pipelined_batches(mode, parts, directory):
    """Wall seconds of ``Engine.submit_many(parts)`` in ``mode``, including ``close()``."""
    engine = _engine_for(mode, directory)
    start = time.perf_counter()
    for _ in engine.submit_many(parts, ahead=1):
        pass
    engine.close()
    return time.perf_counter() - start


def durability_mode(mode, table, columns, settings):
    """Throughput and acknowledgement latency in one durability mode.

    For each of ``durability_batches``: the first ``durability_orders`` rows in calls of
    that many rows to a fresh engine whose WAL is in a new temporary directory
    (``tempfile``). The acknowledgement is ``submit`` returning, then
    ``result.wait_durable()`` for ``group`` and ``sync`` (their ``submit`` already
    waited, so it returns at once); ``async`` acknowledges on return, unsynced.
    Throughput is wall time from the first submit through ``close()``, which fsyncs
    whatever ``async`` still holds. Then the same for ``durability_scalar_orders`` orders
    through ``submit_one``. The largest batch size runs once more through
    ``Engine.submit_many``, which matches the next batch while the previous one syncs.

    Returns
    -------
    dict
        ``mode``, ``orders``, ``batches`` (per batch size: ``batch``, ``orders_per_s``,
        ``ack`` as ``latency_stats`` per call), ``pipelined`` (``batch``,
        ``orders_per_s`` of ``submit_many``), ``scalar_orders``,
        ``scalar_orders_per_s`` and ``scalar_ack`` (per order).
    """
    rows = scalar_rows(columns, settings.durability_scalar_orders)
    directory = tempfile.mkdtemp(prefix="nbengine-bench-")
    batches = []
    try:
        for batch in settings.durability_batches:
            parts = _slices(table, settings.durability_orders, batch)
            ack, seconds = _durable_batches(mode, parts, f"{directory}/batches-{batch}")
            batches.append({"batch": batch, "orders_per_s": settings.durability_orders / seconds,
                            "ack": latency_stats(ack)})
        largest = settings.durability_batches[-1]
        seconds = _pipelined_batches(mode, _slices(table, settings.durability_orders, largest), f"{directory}/many")
        pipelined = {"batch": largest, "orders_per_s": settings.durability_orders / seconds}
        engine = _engine_for(mode, f"{directory}/scalar")
        scalar_ack = _submit_one_latencies(engine, rows, mode in ("group", "sync"))
        engine.close()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return {
        "mode": mode, "orders": settings.durability_orders, "batches": batches, "pipelined": pipelined,
        "scalar_orders": len(rows), "scalar_orders_per_s": len(rows) / (scalar_ack.sum() / 1e9),
        "scalar_ack": latency_stats(scalar_ack),
    }


def disk_sync_rate(directory, count):
    """The disk's own rate of 4 KiB appends each made durable with ``os.fsync`` (no engine involved).

    Returns
    -------
    dict
        ``syncs``, ``syncs_per_s`` (over the summed times) and ``latency`` (per write + fsync).
    """
    path = os.path.join(directory, "disk-probe")
    block = b"\xa5" * 4096
    latencies = np.empty(count, dtype=np.int64)
    clock = time.perf_counter_ns
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for i in range(count):
            start = clock()
            os.write(fd, block)
            os.fsync(fd)
            latencies[i] = clock() - start
    finally:
        os.close(fd)
        os.unlink(path)
    return {"syncs": count, "syncs_per_s": count / (latencies.sum() / 1e9), "latency": latency_stats(latencies)}


def _pulled_at(rows, stamps):
    """Yield ``rows``, writing the clock of each one's hand-over into ``stamps``."""
    clock = time.perf_counter_ns
    for i, row in enumerate(rows):
        stamps[i] = clock()
        yield row


def _rows_pipelined(engine, rows):
    """``submit_rows`` with its default ``ahead``: each row's ns from hand-over to its durable result, and wall seconds."""
    pulled = np.empty(len(rows), dtype=np.int64)
    acked = np.empty(len(rows), dtype=np.int64)
    clock = time.perf_counter_ns
    start = clock()
    for i, _ in enumerate(engine.submit_rows(_pulled_at(rows, pulled))):
        acked[i] = clock()
    return acked - pulled, (clock() - start) / 1e9


def one_at_a_time(columns, settings):
    """The replaced design's test: ``one_at_a_time_orders`` of the flow, one order at a time, in each mode.

    ``none``, ``async`` and ``sync`` call ``submit_one`` in a loop (``sync`` returns once
    the order's own frame is fsynced, ``async`` once it is queued); throughput is orders
    over the summed call times. ``group`` is one thread pulling durable results from
    ``Engine.submit_rows`` (its default ``ahead``): the latency is each order's ack
    latency, from handing it over to holding its durable result, and throughput is
    orders over the wall time. Each mode gets a fresh engine and WAL directory; the disk's
    own 4 KiB write + fsync rate is measured in the same directory just before.

    Returns
    -------
    dict
        ``orders``, ``disk`` (``disk_sync_rate``) and ``modes``: per mode ``mode``,
        ``orders_per_s`` and ``latency`` (``latency_stats``).
    """
    rows = scalar_rows(columns, settings.one_at_a_time_orders)
    directory = tempfile.mkdtemp(prefix="nbengine-bench-")
    modes = []
    try:
        disk = disk_sync_rate(directory, settings.disk_syncs)
        for mode in DURABILITY_MODES:
            engine = _engine_for(mode, f"{directory}/{mode}")
            if mode == "group":
                latencies, seconds = _rows_pipelined(engine, rows)
            else:
                latencies = _submit_one_latencies(engine, rows, False)
                seconds = latencies.sum() / 1e9
            engine.close()
            modes.append({"mode": mode, "orders_per_s": len(rows) / seconds, "latency": latency_stats(latencies)})
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return {"orders": len(rows), "disk": disk, "modes": modes}


def _row_mismatches(expected, actual, names):
    """Rows that differ between two column mappings, plus the difference in length."""
    want = list(zip(*(list(map(int, expected[name])) for name in names)))
    got = list(zip(*(list(map(int, actual[name])) for name in names)))
    return sum(a != b for a, b in zip(want, got)) + abs(len(want) - len(got))


def reference_comparison(columns, settings):
    """The engine against ``reference.ReferenceBook`` on the flow's first rows.

    Both match the same ``reference_orders`` rows in one call each, from empty books;
    the engine's trades, events and final resting orders (``state_hash``) are compared
    with the reference's, row by row.

    Returns
    -------
    dict
        ``orders``, ``engine_orders_per_s``, ``reference_orders_per_s``, ``ratio``
        (engine over reference), ``trades`` and ``events`` (the reference's row counts),
        ``trade_mismatches``, ``event_mismatches`` (rows that differ, plus any difference
        in row count) and ``state_hash_equal``.
    """
    prefix = {name: values[: settings.reference_orders] for name, values in columns.items()}
    engine = nbengine.Engine()
    start = time.perf_counter()
    result = engine.submit(prefix)
    engine_seconds = time.perf_counter() - start
    reference = ReferenceBook()
    start = time.perf_counter()
    trades, events = reference.submit(prefix)
    reference_seconds = time.perf_counter() - start
    orders = settings.reference_orders
    return {
        "orders": orders, "engine_orders_per_s": orders / engine_seconds,
        "reference_orders_per_s": orders / reference_seconds, "ratio": reference_seconds / engine_seconds,
        "trades": len(trades["seq"]), "events": len(events["seq"]),
        "trade_mismatches": _row_mismatches(trades, result.trades.to_pydict(), TRADE_COLUMNS),
        "event_mismatches": _row_mismatches(events, result.events.to_pydict(), EVENT_COLUMNS),
        "state_hash_equal": engine.state_hash() == reference.state_hash(),
    }
