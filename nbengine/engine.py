"""The Engine, the public face: check arguments, match on a ``book.Book`` under one lock, hand results and the log on.

Matching, growth and the views are ``book.Book``'s; the WAL is reached through
``durability.Durability``. What stays here is per call: validation, the lock, the closed
state, acknowledging as the durability mode says, and pipelining (``submit_many``,
``submit_rows``).
"""

import collections
import collections.abc
import operator
import os
import struct
import threading

import numpy as np

from . import display
from . import state as s
from .book import BBO, SCALAR_BLOCK_CALLS, Book, MemoryBudgetError
from .codes import GTC, STP_MODES
from .durability import Durability, checked_arguments
from .durability import recover as recover_log
from .results import OrderResult, SubmitResult
from .schema import check_scalars, prepare, single_row, small_message
from .statehash import state_hash
from .wal.errors import WalError
from .wal.format import WalConfig, encode_payload

__all__ = [
    "BBO",
    "ROWS_AHEAD",
    "SCALAR_BLOCK_CALLS",
    "Engine",
    "EngineClosedError",
    "MemoryBudgetError",
    "WalClosedError",
]


ROWS_AHEAD = 512
"""``Engine.submit_rows``' default ``ahead``: orders matched beyond the oldest one not yet durable.

About 1.5 ms of matching at 350 K orders/s, several fsyncs of a fast disk: one thread keeps
the disk busy and rarely waits for it, and the orders in flight stay few. An A/B on the
2-core VM (50,000 orders, ``group``, 5 interleaved runs, medians): ahead 512: 349 K/s, ack
p99 1.5 ms; 1,024: 239 K/s, 2.1 ms; 16,384: 238 K/s, 2.5 ms (a thread that sometimes waits
leaves the CPU to the disk's interrupts). A slower disk wants a larger ``ahead``."""

_pack_row = struct.Struct("=9q").pack_into


def _raise_for_row(*row):
    """Raise the error ``submit`` would for a row that ``struct`` refused: ``TypeError`` or ``ValueRangeError``."""
    check_scalars(tuple(operator.index(value) for value in row))
    raise AssertionError(f"struct refused a row of int64 values: {row}")


class EngineClosedError(RuntimeError):
    """A submission or snapshot on an engine after its ``close()``."""


class WalClosedError(EngineClosedError, WalError):
    """``EngineClosedError`` of an engine with a WAL: also a ``WalError``, as every WAL engine's refusal is."""


class Engine:
    """A limit-order-book matching engine over any number of symbols.

    Parameters
    ----------
    stp : {"none", "cancel-taker", "cancel-maker", "cancel-both"}
        Self-trade prevention between orders of the same ``account``.
    max_span_ticks : int
        Power of two in [64, 2**24]: the widest span of resting prices one book may hold;
        a book's dense ladder never exceeds it (32 bytes a level). Orders that would
        stretch a book further are rejected with ``PRICE_SPAN``.
    max_price_ticks : int
        Highest valid limit price; lower bound is 1.
    wal_dir : str or os.PathLike, optional
        Directory of a write-ahead log of every input batch (created if missing; it must
        not hold a log already: reopen one with ``Engine.recover``). The engine holds an
        exclusive lock on ``wal_dir/LOCK`` until ``close()``.
    durability : {"none", "async", "group", "sync"}, optional
        When ``submit`` returns and what survives a crash (README, "Durability"). Default
        ``"group"`` with a ``wal_dir``, ``"none"`` without.
    snapshot_every : int, optional
        Take a snapshot (and drop the segments it covers) once this many orders were
        submitted since the last one. The batch that makes it due is acknowledged first;
        a failed automatic snapshot never fails that batch: it is recorded as
        ``snapshot_error``, warned about (``wal.SnapshotFailedWarning``) and tried again at
        the next due point.
    snapshot_every_bytes : int, optional
        Take one once this many bytes of input were logged since the last one (Arrow IPC
        payloads of batches, about 40 bytes an order; a ``submit_one`` order counts
        ``wal.format.ROW_BYTES``), whichever of the two comes first.
    memory_budget : int, optional
        Most bytes the book state (pool, id index, ladders, bitsets, books; not the
        per-call output buffers) may hold, default ``state.DEFAULT_MEMORY_BUDGET`` (4 GiB).
        A row whose book state would outgrow it is rejected with ``MEMORY_BUDGET``
        (docs/semantics.md); a book with a full-span ladder costs up to
        ``64 * max_span_ticks`` bytes (the ladder and its arena's growth room).
    wal_options : dict, optional
        Keyword arguments of ``wal.writer.WalWriter``: ``segment_bytes``,
        ``max_queued_frames``, ``max_queued_bytes``, ``files`` (a ``wal.FileLayer``).

    Notes
    -----
    ``submit``, ``submit_one``, ``match_columns`` and the views may be called from any
    number of threads: one lock makes matching a single sequencer, and the WAL's writer
    thread makes frames queued meanwhile share one fsync.

    Examples
    --------
    >>> import nbengine
    >>> eng = nbengine.Engine()
    >>> _ = eng.submit({"ts": [1, 2], "order_id": [1, 2], "kind": [0, 0], "side": [1, -1],
    ...                 "price": [100, 100], "qty": [5, 3]})
    >>> eng.bbo()
    BBO(bid_price=100, bid_qty=2, ask_price=None, ask_qty=0)
    """

    def __init__(
        self,
        *,
        stp="none",
        max_span_ticks=1 << 20,
        max_price_ticks=1 << 53,
        wal_dir=None,
        durability=None,
        snapshot_every=None,
        snapshot_every_bytes=None,
        wal_options=None,
        memory_budget=s.DEFAULT_MEMORY_BUDGET,
    ):
        if stp not in STP_MODES:
            raise ValueError(f"stp: expected one of {sorted(STP_MODES)}, got {stp!r}")
        span = int(max_span_ticks)
        if span < 64 or span > s.MAX_LADDER_CAP or span & (span - 1):
            raise ValueError(f"max_span_ticks: expected a power of two in [64, 2**24], got {max_span_ticks}")
        if not 1 <= int(max_price_ticks) < 2**62:
            raise ValueError(f"max_price_ticks: expected in [1, 2**62), got {max_price_ticks}")
        self.stp = stp
        self.max_span_ticks = span
        self.max_price_ticks = int(max_price_ticks)
        budget = operator.index(memory_budget)
        self._book = Book(
            stp=STP_MODES[stp], max_span_ticks=span, max_price_ticks=self.max_price_ticks, memory_budget=budget
        )
        if budget < self._book.nbytes:
            raise ValueError(f"memory_budget: expected at least {self._book.nbytes} bytes, got {memory_budget}")
        self._durable = None
        self._lock = threading.RLock()
        self._wal = None
        self._durability = None
        self._closed = False
        self.durability = "none"
        self.recovery = None
        if wal_dir is None:
            if durability not in (None, "none"):
                raise ValueError(f"durability={durability!r} needs a wal_dir")
            return
        mode = checked_arguments(durability, snapshot_every, snapshot_every_bytes, wal_options)
        self._attach_durability(
            Durability.create(
                os.fspath(wal_dir), mode, self.wal_config, self.next_seq, snapshot_every, snapshot_every_bytes,
                wal_options,
            )
        )

    @property
    def wal_config(self):
        """The settings that affect matching, as written into every WAL segment header."""
        return WalConfig(self.stp, self.max_span_ticks, self.max_price_ticks)

    def _attach_durability(self, link, report=None):
        """Log into ``link`` (a ``durability.Durability``) from now on; for ``durability.py`` only.

        ``report``: the ``RecoveryReport`` of a recovered engine.
        """
        self._durability = link
        self._wal = link.writer
        self.durability = link.mode
        self.recovery = report
        self._book.log_to(link.writer.ring, link.writer.ring_ctl)
        self._durable = link.writer.ring_ctl

    @property
    def memory_budget(self):
        """Most bytes the book state may hold (``Engine(memory_budget=...)``); may be changed."""
        return self._book.memory_budget

    @memory_budget.setter
    def memory_budget(self, value):
        self._book.memory_budget = value

    @property
    def snapshot_error(self):
        """The exception of the last automatic snapshot if it failed, else None (see ``snapshot_every``)."""
        return None if self._durability is None else self._durability.snapshot_error

    @classmethod
    def recover(
        cls,
        wal_dir,
        *,
        salvage=False,
        durability="group",
        stp=None,
        max_span_ticks=None,
        max_price_ticks=None,
        snapshot_every=None,
        snapshot_every_bytes=None,
        wal_options=None,
    ):
        """Rebuild an engine from a WAL directory and go on logging into it.

        Loads the newest complete snapshot, replays every later frame, truncates a torn
        tail, and attaches a writer that appends after the last recovered frame. Settings
        left as None are taken from the log; any given must equal the log's.

        Parameters
        ----------
        wal_dir : str or os.PathLike
        salvage : bool
            On corruption keep the valid prefix (the bad segment is copied to
            ``*.corrupt`` and truncated, later segments renamed ``*.corrupt``) instead of
            raising ``WalCorruptionError``.
        durability, snapshot_every, snapshot_every_bytes, wal_options
            As for ``Engine``.
        stp, max_span_ticks, max_price_ticks : optional
            Expected settings; a log written under others raises ``WalConfigError``.

        Returns
        -------
        Engine
            With ``recovery`` set to a ``wal.recovery.RecoveryReport``.

        Raises
        ------
        WalCorruptionError
            A bad checksum or a gap anywhere but a torn tail; names segment and byte offset.
        WalConfigError
            Another format version or other matching settings.

        Examples
        --------
        >>> import tempfile, nbengine
        >>> tmp = tempfile.TemporaryDirectory()
        >>> with nbengine.Engine(wal_dir=tmp.name, durability="sync") as eng:
        ...     _ = eng.submit_one(1, 7, nbengine.BUY, nbengine.LIMIT, 100, 5)
        >>> again = nbengine.Engine.recover(tmp.name)
        >>> again.bbo(), again.next_seq
        (BBO(bid_price=100, bid_qty=5, ask_price=None, ask_qty=0), 1)
        >>> again.close(); tmp.cleanup()
        """
        mode = checked_arguments(durability, snapshot_every, snapshot_every_bytes, wal_options)
        expected = {"stp": stp, "max_span_ticks": max_span_ticks, "max_price_ticks": max_price_ticks}
        return recover_log(
            cls, os.fspath(wal_dir), salvage=salvage, mode=mode, expected=expected, snapshot_every=snapshot_every,
            snapshot_every_bytes=snapshot_every_bytes, wal_options=wal_options,
        )

    # -- matching ---------------------------------------------------------------------

    def _check_open(self):
        """Raise ``EngineClosedError`` after ``close()``, ``WalPoisonedError`` once the WAL failed."""
        if self._closed:
            if self._durability is not None:
                directory = self._durability.directory
                raise WalClosedError(f"the engine is closed; reopen its WAL with Engine.recover({directory!r})")
            raise EngineClosedError("the engine is closed")
        if self._durability is not None:
            self._durability.raise_if_unusable()

    def _log(self, payload, columns, seq_start):
        """Queue a matched batch's frame (lock held, so frames go in seq order).

        Rows the book refused for its memory budget are logged as refusals, so that replay
        refuses them too (``Durability.log_batch_refusing``).
        """
        if payload is None:
            return
        if self._book.refused_rows:
            self._durability.log_batch_refusing(columns, seq_start, self._book.refused_rows)
        else:
            self._durability.log_batch(payload, seq_start, columns.ts.shape[0])

    def _refuse_columns(self, columns):
        """Refuse the rows of ``columns`` for the memory budget without matching them: how
        ``durability.replay`` replays the WAL's ``RECORD_REFUSED`` frames (no WAL of its own)."""
        with self._lock:
            self._check_open()
            return self._book.refuse(columns)

    def _after_submit(self, result):
        """Acknowledge ``result`` as the durability mode says (``Durability.acknowledge``); return it."""
        return self._durability.acknowledge(result, self.snapshot)

    def match_columns(self, columns):
        """Match prepared columns (``schema.prepare``); outputs stay in the engine's buffers.

        The kernel-only path, without Arrow on either side (with a WAL the batch is still
        logged and waited for as ``submit`` does). Returns ``(n_trades, n_events)``.
        """
        payload = encode_payload(columns) if self._wal is not None else None
        with self._lock:
            self._check_open()
            seq_start = self.next_seq
            counts = self._book.match(columns)
            self._log(payload, columns, seq_start)
        if self._wal is not None:
            self._after_submit(SubmitResult(None, None, seq_start, seq_start + columns.ts.shape[0], self._wal))
        return counts

    def submit(self, orders):
        """Validate, match and (with a WAL) log a batch of orders.

        Parameters
        ----------
        orders : pyarrow.Table, pyarrow.RecordBatch, object with ``__arrow_c_stream__``, pandas.DataFrame or dict
            Columns of DESIGN §2 (see ``schema.prepare``).

        Returns
        -------
        SubmitResult
            ``trades`` and ``events`` tables and the batch's input sequence range. In
            ``group`` and ``sync`` mode it is returned only once the batch is durable;
            in ``async`` mode ``wait_durable()`` waits for that.

        Raises
        ------
        SchemaError
            When a column is missing, null or of the wrong type. Bad rows never raise:
            they become ``REJECTED`` events.
        WalPoisonedError
            When the WAL has failed: the batch is not acknowledged.
        """
        result = self._submit_unacknowledged(orders)
        if self._wal is not None:
            self._after_submit(result)
        return result

    def submit_many(self, batches, *, ahead=1):
        """Submit batches in order; yield each one's result once acknowledged, matching ahead.

        In ``group`` mode one caller can keep the matching and the WAL's fsync busy at
        once: up to ``ahead`` later batches are matched and queued while an earlier one
        syncs. Results still come in order, and each only once its batch is durable (as
        ``submit`` returns it); the batches matched ahead are in the WAL queue, so a crash
        loses at most those unacknowledged ones, as with ``submit`` from several threads.
        Leaving the loop early leaves up to ``ahead`` batches matched and logged whose
        results were not handed out. A batch that cannot be submitted (a ``SchemaError``)
        raises only after the results of every batch before it were yielded; the
        exception's ``item_index`` is its position and a note says how far the input got.

        Parameters
        ----------
        batches : iterable
            Order batches, each as ``submit`` takes them.
        ahead : int
            Batches matched beyond the oldest unacknowledged one; 0 behaves as ``submit``
            in a loop.

        Yields
        ------
        SubmitResult
            One per batch, in input order.

        Examples
        --------
        >>> eng = Engine()
        >>> flow = [{"ts": [i], "order_id": [i], "kind": [0], "side": [1], "price": [100], "qty": [1]}
        ...         for i in (1, 2)]
        >>> [r.seq_start for r in eng.submit_many(flow)]
        [0, 1]
        """
        return self._pipelined(self._submit_unacknowledged, batches, ahead)

    def submit_rows(self, rows, *, ahead=ROWS_AHEAD):
        """Submit single orders in order; yield each one's result once acknowledged, matching ahead.

        ``submit_many`` for single orders: each row is matched as ``submit_one`` matches
        it, and up to ``ahead`` later rows are matched and queued for the WAL while an
        earlier one syncs, so one thread can have a frame in every group commit instead
        of waiting out a whole fsync per order. Results come in order, each only once its
        order is durable (``group`` and ``sync``), with the same early-exit caveat as
        ``submit_many``.

        Parameters
        ----------
        rows : iterable
            Each a sequence ``(ts, order_id, side, kind, price, qty)`` (``submit_one``'s
            positional arguments), optionally followed by ``symbol, tif, account``, or a
            mapping of ``submit_one``'s argument names.
        ahead : int
            Most orders matched beyond the oldest unacknowledged one, default
            ``ROWS_AHEAD`` (512: about 1.5 ms of matching, several fsyncs of a fast
            disk, so one thread rarely waits for it); 0 behaves as ``submit_one`` in a
            loop. Results are yielded as soon as they are durable, so ``ahead``
            bounds the work in flight, not the latency.

        Yields
        ------
        SubmitResult
            One per row, in input order.

        Examples
        --------
        >>> eng = Engine()
        >>> rows = [(1, 1, 1, 0, 100, 5), {"ts": 2, "order_id": 2, "side": -1, "kind": 0, "price": 100, "qty": 3}]
        >>> [r.n_trades for r in eng.submit_rows(rows)]
        [0, 1]
        """
        return self._pipelined(self._submit_row_unacknowledged, rows, ahead)

    def _pipelined(self, submit_unacknowledged, items, ahead):
        """Yield ``submit_unacknowledged(item)`` of each item once acknowledged, ``ahead`` items matched ahead."""
        if ahead < 0:
            raise ValueError(f"ahead: expected an integer >= 0, got {ahead}")
        unacknowledged = collections.deque()
        # With a WAL that makes acknowledgements wait: the durable watermark, and the
        # oldest result's seq_end once read (a row's result reads it from its block).
        watermark = self._durable if self._wal is not None and self.durability != "async" else None
        oldest_end = None
        for index, item in enumerate(items):
            try:
                unacknowledged.append(submit_unacknowledged(item))
            except Exception as exc:
                # The items before this one were matched: hand their results out first,
                # then say which item failed and how far the input got.
                while unacknowledged:
                    yield self._acknowledge(unacknowledged.popleft())
                exc.item_index = index
                exc.add_note(f"item {index} was refused; the {index} before it were applied "
                             f"(input seq up to {self.next_seq})")
                raise
            if len(unacknowledged) > ahead:
                yield self._acknowledge(unacknowledged.popleft())
                oldest_end = None
            if watermark is None:
                while unacknowledged:
                    yield self._acknowledge(unacknowledged.popleft())
                continue
            durable = watermark[s.Q_DURABLE]
            while unacknowledged:
                if oldest_end is None:
                    oldest_end = unacknowledged[0].seq_end
                if oldest_end > durable:
                    break
                yield self._durability.acknowledge_durable(unacknowledged.popleft(), self.snapshot)
                oldest_end = None
        while unacknowledged:
            yield self._acknowledge(unacknowledged.popleft())

    def _acknowledge(self, result):
        return self._after_submit(result) if self._wal is not None else result

    def _submit_unacknowledged(self, orders):
        """Validate, match and queue a batch's WAL frame; the result is not yet durable.

        Without a WAL a 1-row RecordBatch of a known-good schema is matched as ``submit_one``
        matches its values (``schema.single_row``): the same rules and results, without
        building columns; its result reads its tables from the scalar block. A small
        RecordBatch of exactly the contract's columns (``schema.small_message``) is matched
        from its IPC message by one kernel call of plain arrays (``_submit_message``).
        """
        if self._wal is None:
            row = single_row(orders)
            if row is not None:
                return self._one(*row)
            small = small_message(orders)
            if small is not None:
                return self._submit_message(*small)
        columns = prepare(orders)
        payload = encode_payload(columns) if self._wal is not None else None
        with self._lock:
            self._check_open()
            seq_start = self.next_seq
            n_trades, n_events = self._book.match(columns)
            result = SubmitResult.from_rows(
                self._book.outputs.trades[:n_trades],
                self._book.outputs.events[:n_events],
                seq_start,
                seq_start + columns.ts.shape[0],
                self._wal,
            )
            self._log(payload, columns, seq_start)
        return result

    def _submit_message(self, message, layout):
        """``_submit_unacknowledged`` of a small batch without a WAL, as ``schema.small_message`` holds it.

        The kernel reads the columns from the batch's IPC message (``Book.match_message``):
        no numpy array per column, a dozen plain kernel arguments.
        """
        n = int(layout[9])
        with self._lock:
            if self._closed:
                self._check_open()
            book = self._book
            seq_start = int(book.state.meta[s.M_INPUT_SEQ])
            n_trades, n_events = book.match_message(message, layout)
            trades, events = book.outputs
            return SubmitResult.from_rows(trades[:n_trades], events[:n_events], seq_start, seq_start + n)

    def submit_one(self, ts, order_id, side, kind, price=0, qty=0, *, symbol=0, tif=GTC, account=0):
        """Match one order given as integers: the low-latency path, same rules as ``submit``.

        Every argument must be an integer (Python or numpy); a float raises ``TypeError``
        instead of being truncated.

        Returns
        -------
        OrderResult
            A ``SubmitResult`` for one row; its counts and tables are read from the
            engine's scalar output block only when asked for. With a WAL, returned as the
            durability mode says (like ``submit``).

        Raises
        ------
        ValueRangeError
            When a value does not fit its column's dtype (a ``SchemaError`` and an
            ``OverflowError``, as ``submit`` raises for such a batch): nothing is wrapped.
        """
        result = self._one(ts, order_id, symbol, side, kind, tif, price, qty, account)
        return result if self._wal is None else self._after_submit(result)

    def _submit_row_unacknowledged(self, row):
        if type(row) is tuple:
            return self._submit_one_unacknowledged(*row)
        if isinstance(row, collections.abc.Mapping):
            return self._submit_one_unacknowledged(**row)
        return self._submit_one_unacknowledged(*row)

    def _submit_one_unacknowledged(self, ts, order_id, side, kind, price=0, qty=0, symbol=0, tif=GTC, account=0):
        """``submit_one``'s matching and logging (``symbol``, ``tif``, ``account`` also by position), not yet durable."""
        return self._one(ts, order_id, symbol, side, kind, tif, price, qty, account)

    def _one(self, ts, order_id, symbol, side, kind, tif, price, qty, account):
        """Match and log one order (values in ``OrderColumns`` order); the result is not yet durable.

        The values are packed as int64 into the scalar block's header by one
        ``struct.pack_into`` (which refuses non-integers and values beyond int64); the
        kernel checks the narrower dtypes. Only a refused row pays for building a tuple.
        With a WAL the kernel is ``match_row_logged``, which also appends the order to
        the WAL ring (no Python object per order on the way to the log).
        """
        with self._lock:
            if self._closed or self._durability is not None:
                self._check_open()
            book = self._book
            try:
                _pack_row(book.header, 0, ts, order_id, symbol, side, kind, tif, price, qty, account)
            except struct.error:
                _raise_for_row(ts, order_id, symbol, side, kind, tif, price, qty, account)
            status = book.row_kernel(*book.row_args)
            if status:
                self._resume_row(status)
            call = book.next_call
            book.next_call = call + 1
            result = OrderResult(book.block, call, self._wal)
        return result

    def _resume_row(self, status):
        """Do what the scalar kernel's ``status`` asks for and match the header's row again until ``OK``. Lock held.

        With a WAL: ``WAKE_WRITER`` (the row is done) wakes the writer thread;
        ``RING_FULL`` waits for the writer to free a slot (never drops the order).
        ``BAD_VALUE`` raises as ``submit`` would; a ``NEED_*`` status is the book's to
        grow (``Book.resume_row``), or to refuse the row over the memory budget.
        """
        book = self._book
        while status:
            if status == s.WAKE_WRITER:
                self._wal.wake()
                return
            if status == s.RING_FULL:
                self._wal.wait_ring_space()
            elif status == s.BAD_VALUE:
                check_scalars(book.header_row())
            else:
                refused = book.resume_row(status)
                if refused is not None:
                    if self._wal is not None:
                        row = s.OrderColumns(*(np.array([v], dtype) for v, dtype in zip(refused, s.ORDER_DTYPES.values())))
                        self._durability.log_refused(row, self.next_seq - 1)
                    return
            status = book.row_kernel(*book.row_args)

    # -- durability -------------------------------------------------------------------

    def snapshot(self):
        """Write a snapshot of every book and drop the WAL segments it covers.

        The resting orders and counters are copied under the engine lock (matching
        pauses only for that); the WAL starts a new segment at the snapshot's seq; the
        snapshot file and the ``SNAPSHOT`` pointer are each written to a temp file,
        fsynced, renamed, and the directory fsynced; then covered segments and older
        snapshots are deleted.

        A failure leaves the engine usable and the log recoverable: the previous snapshot
        and every segment after it are kept, a temp file is removed, and the next snapshot
        starts over. Only a failure of the WAL itself (starting the new segment) poisons it.

        Returns
        -------
        str
            Path of the snapshot file.

        Raises
        ------
        OSError
            When writing the snapshot or its pointer, or pruning, failed.
        WalPoisonedError
            When the WAL failed to start the snapshot's segment.
        """
        link = self._durability
        if link is None:
            raise WalError("snapshot() needs an engine with a wal_dir")
        with link.snapshot_lock:
            with self._lock:
                self._check_open()
                trade_seq, event_seq, input_seq = self._book.counters()
                content = link.start_snapshot(input_seq, trade_seq, event_seq, self._book.orders(None))
            return link.finish_snapshot(content)

    def _restore_counters(self, input_seq, trade_seq, event_seq):
        """Set the sequence counters after a snapshot's orders were matched; for ``durability.py`` only."""
        self._book.restore_counters(input_seq, trade_seq, event_seq)

    def close(self):
        """Write and fsync everything logged, stop the WAL thread; later submissions raise.

        Raises
        ------
        WalPoisonedError
            When batches were matched that the WAL could not make durable.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self._durability is not None:
            self._durability.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    # -- views ------------------------------------------------------------------------

    def orders(self, symbol=None):
        """Resting orders in priority order (``schema.RESTING_SCHEMA``); all books when ``symbol`` is None.

        Books come in ascending symbol order; within one, bids best first, then asks best
        first, FIFO per price. This is also the content of a snapshot.
        """
        with self._lock:
            return self._book.orders(symbol)

    def depth(self, symbol=0, levels=10):
        """Aggregated levels (``schema.DEPTH_SCHEMA``): up to ``levels`` bids, best first, then asks."""
        levels = operator.index(levels)
        if levels < 0:
            raise ValueError(f"levels: expected an integer >= 0, got {levels}")
        with self._lock:
            return self._book.depth(symbol, levels)

    def ladder(self, symbol=0, levels=10):
        """``depth(symbol, levels)`` as a ``display.Ladder``: bids and asks side by side, in HTML in Jupyter."""
        return display.Ladder(symbol, self.depth(symbol, levels), levels)

    def symbols(self):
        """Symbols of every book the engine holds (empty ones included), ascending."""
        with self._lock:
            return self._book.symbols()

    def bbo(self, symbol=0, *, without_account=None):
        """Best bid and offer of ``symbol`` as a ``BBO``.

        With ``without_account``, the best levels holding orders of other accounts, and only
        their quantity there (what a participant sees of the market besides its own orders).
        """
        with self._lock:
            return self._book.bbo(symbol, without_account)

    def state_hash(self):
        """SHA-256 of every resting order (docs/semantics.md); equal states, equal hashes."""
        return state_hash(self.orders().to_pydict())

    def check(self):
        """Assert every invariant of the book state (slow; for tests and debugging)."""
        with self._lock:
            self._book.check()

    @property
    def nbytes(self):
        """Bytes held by the book state's arrays (output buffers not counted)."""
        return self._book.nbytes

    @property
    def live_orders(self):
        """Number of resting orders over all books."""
        return self._book.live_orders

    @property
    def next_seq(self):
        """Input sequence number the next submitted row will take."""
        return self._book.next_seq

    def __repr__(self):
        books = self._book.n_books
        return (
            f"<Engine {books} book{'' if books == 1 else 's'}, {self.live_orders} resting orders, "
            f"next seq {self.next_seq}, stp={self.stp}, durability={self.durability}>"
        )

    def _repr_html_(self):
        return display.engine_html(self)

    # -- caller kernels ---------------------------------------------------------------
    # The one public way for code outside the engine (the LOBSTER replay) to run its own
    # numba kernel on the books: under the engine lock, with the engine's grow-and-resume.

    def run_kernel(self, kernel, *args):
        """Run a caller's kernel on this engine's books and output buffers, under the engine lock.

        Calls ``kernel(state, outputs, *args)`` with the engine's ``state.BookState`` and
        ``state.Outputs``. The kernel returns a status (an int, or a tuple whose first
        item is the status): ``state.OK``, or a ``state.NEED_*`` code when a buffer was
        too small, after which the engine grows what it names and calls the kernel again
        with the same arguments. So a kernel that changes the books must leave them as
        they were before the step that needed room, and keep its progress in an argument
        array (a cursor) so that the call resumes there. Every change to the books must
        go through ``kernels.match.match_one`` / ``match_batch``, as the engine's own do.

        Parameters
        ----------
        kernel : numba dispatcher or callable
            ``kernel(state, outputs, *args) -> status | (status, ...)``.
        *args
            Passed on unchanged (arrays and integers: kernels never see Python objects).

        Returns
        -------
        object
            The kernel's return value of the call that ended with ``state.OK``.

        Raises
        ------
        ValueError
            On an engine with a WAL: the kernel's changes would not be logged, so
            recovery could not reproduce them.
        EngineClosedError
            When the engine is closed.

        Examples
        --------
        >>> import nbengine
        >>> from nbengine import state
        >>> from nbengine.kernels.views import book_depth
        >>> def best_levels(st, out, book, rows):
        ...     return state.OK, book_depth(st, book, 1, rows)
        >>> eng = nbengine.Engine()
        >>> _ = eng.submit_one(1, 7, nbengine.BUY, nbengine.LIMIT, 100, 5)
        >>> rows = np.zeros((2, 5), dtype=np.int64)
        >>> eng.run_kernel(best_levels, 0, rows), rows[0].tolist()
        ((0, 1), [1, 0, 100, 5, 1])
        """
        if self._wal is not None:
            raise ValueError("run_kernel: not on an engine with a WAL (the kernel's changes would not be logged)")
        with self._lock:
            self._check_open()
            return self._book.run(kernel, *args)

    # -- output buffers and queue positions, for callers of run_kernel (backtests) ------

    def output_rows(self):
        """``(trades, events)``: the int64 rows kernels run by `run_kernel` appended since `clear_outputs`.

        Views of the engine's buffers (``state.T_*`` / ``state.E_*`` columns), valid until
        the next call that matches.
        """
        return self._book.output_rows()

    def clear_outputs(self):
        """Empty the output buffers (kernels run by `run_kernel` append to them)."""
        self._book.clear_outputs()

    def qty_ahead(self, symbols, order_ids):
        """Resting quantity ahead of each order in its price level's queue (-1: it does not rest).

        ``symbols`` and ``order_ids`` are integer sequences of one length; returns int64.
        """
        symbols = np.asarray(symbols, dtype=np.int64)
        order_ids = np.asarray(order_ids, dtype=np.int64)
        with self._lock:
            return self._book.qty_ahead(symbols, order_ids)

    # -- private handles the tests reach for (test_hostile.py, test_engine.py, test_wal_writer.py) --

    @property
    def _state(self):
        return self._book.state

    @property
    def _out(self):
        return self._book.outputs

    @_out.setter
    def _out(self, outputs):
        self._book.outputs = outputs

    def _grow(self, status):
        self._book.grow(status)

    def _counters(self):
        return self._book.counters()
