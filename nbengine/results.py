"""What a submission returns: trade and event tables built from the kernels' output rows."""

import sys

import numpy as np
import pyarrow as pa

from . import display
from . import state as s
from .kernels.columns import event_columns, trade_columns
from .schema import DEPTH_SCHEMA, EVENTS_SCHEMA, RESTING_SCHEMA, TRADES_SCHEMA, numpy_dtypes

__all__ = [
    "NO_ROWS",
    "table_from_rows",
    "trades_table",
    "events_table",
    "SubmitResult",
    "OrderResult",
]


_DTYPES = {schema: numpy_dtypes(schema) for schema in (TRADES_SCHEMA, EVENTS_SCHEMA, RESTING_SCHEMA, DEPTH_SCHEMA)}


NO_ROWS = np.zeros((0, s.T_FIELDS), dtype=np.int64)
NO_ROWS.flags.writeable = False
"""The trade rows of a ``submit_one`` that traded nothing (shared, read-only)."""


def table_from_rows(rows, schema, split=None):
    """A table of ``schema`` from an int64[n, fields] block (copied: buffers are reused).

    ``split`` is a kernel of ``kernels.columns`` that fills every column in one pass;
    without it each column is copied on its own (fine for small views). Arrays are made
    from the column buffers directly, which costs a third of ``pa.array`` per column.
    """
    n = rows.shape[0]
    columns = [np.empty(n, dtype=dtype) for dtype in _DTYPES[schema]]
    if split is not None:
        split(rows, *columns)
    else:
        for i, column in enumerate(columns):
            column[:] = rows[:, i]
    arrays = [pa.Array.from_buffers(field.type, n, [None, pa.py_buffer(c)]) for field, c in zip(schema, columns)]
    return pa.Table.from_batches([pa.RecordBatch.from_arrays(arrays, schema=schema)])


SMALL_ROWS = 4096
"""Largest row block ``trades_table`` / ``events_table`` build through an IPC template (``_IpcLayout``),
and ``SubmitResult.from_rows`` keeps as rows until its tables are read. Larger blocks are split by a
kernel in one pass, eagerly: their cost is in the rows, not in the pyarrow calls."""

_TEMPLATE_CACHE = 1024
"""Most IPC templates (one per schema and row count, about 600 bytes each) kept at once."""


def _padded(nbytes):
    return (nbytes + 7) & ~7


class _IpcLayout:
    """The Arrow IPC record-batch message of ``schema`` with ``n`` rows and no nulls, body left blank.

    ``pyarrow.ipc.read_record_batch`` turns one such message into a whole batch in one call,
    where building it array by array costs microseconds per column. The metadata (lengths,
    buffer offsets) depends only on ``schema`` and ``n``, so it is serialized once, from a
    probe batch built the slow way, and reused: a table is then one allocation (a copy of
    the template), a few strided copies of the row block into the body, and one read.

    ``groups`` holds ``(dtype, start, first, stop)``: the body's columns ``first:stop`` (all
    of ``dtype``, consecutive) start at element ``start`` of the message viewed as ``dtype``.
    The layout is checked against the probe when made; ``usable`` is False if pyarrow laid
    the message out differently (then the slow path is taken).
    """

    __slots__ = ("template", "groups", "single", "usable")

    def __init__(self, schema, dtypes, n):
        body = [(_padded(n * dtype.itemsize), dtype) for dtype in dtypes]
        body_size = sum(size for size, _ in body)
        probe_rows = (np.arange(n * len(dtypes), dtype=np.int64).reshape(n, len(dtypes)) % 101) - 50
        message = np.frombuffer(table_from_rows(probe_rows, schema).to_batches()[0].serialize(), dtype=np.uint8)
        start = message.shape[0] - body_size
        self.template = message.copy()
        self.template[start:] = 0
        # One row: every column is one 8-byte slot, so the body is the row itself as int64
        # (a narrow column's value is in the slot's low bytes on a little-endian machine;
        # the rest is padding, which Arrow never reads).
        self.single = start // 8 if n == 1 and start % 8 == 0 and sys.byteorder == "little" else -1
        self.groups = []
        offset = start
        for column, (size, dtype) in enumerate(body):
            if self.groups and self.groups[-1][0] == dtype and n * dtype.itemsize == size:
                group = self.groups[-1]
                self.groups[-1] = (dtype, group[1], group[2], column + 1)
            else:
                if offset % dtype.itemsize:
                    self.usable = False
                    return
                self.groups.append((dtype, offset // dtype.itemsize, column, column + 1))
            offset += size
        self.usable = start >= 8 and int(message[4:8].view("<i4")[0]) + 8 == start
        self.usable = self.usable and self.build(probe_rows, schema).equals(table_from_rows(probe_rows, schema))

    def build(self, rows, schema):
        n = rows.shape[0]
        message = self.template.copy()
        if self.single >= 0:
            message.view(np.int64)[self.single :] = rows[0]
            return pa.Table.from_batches([pa.ipc.read_record_batch(pa.py_buffer(message), schema)], schema)
        for dtype, start, first, stop in self.groups:
            target = message.view(dtype)[start : start + (stop - first) * n]
            if stop - first == 1:
                target[:] = rows[:, first]
            else:
                target.reshape(stop - first, n)[:] = rows[:, first:stop].T
        batch = pa.ipc.read_record_batch(pa.py_buffer(message), schema)
        return pa.Table.from_batches([batch], schema)


# Keyed by name, never by schema: hashing a pa.Schema costs microseconds.
_LAYOUTS = {"trades": {}, "events": {}}
_EMPTY = {
    "trades": table_from_rows(np.zeros((0, len(TRADES_SCHEMA)), dtype=np.int64), TRADES_SCHEMA),
    "events": table_from_rows(np.zeros((0, len(EVENTS_SCHEMA)), dtype=np.int64), EVENTS_SCHEMA),
}


def _rows_table(rows, schema, name, split):
    """A table of ``schema`` from an int64 row block: shared when empty, from a template when small."""
    n = rows.shape[0]
    if n == 0:
        return _EMPTY[name]
    if n <= SMALL_ROWS:
        layouts = _LAYOUTS[name]
        layout = layouts.get(n)
        if layout is None:
            if len(layouts) >= _TEMPLATE_CACHE:
                layouts.clear()
            layout = layouts[n] = _IpcLayout(schema, _DTYPES[schema], n)
        if layout.usable:
            return layout.build(rows, schema)
    return table_from_rows(rows, schema, split)


def trades_table(rows):
    """``schema.TRADES_SCHEMA`` table of an int64[n, ``state.T_FIELDS``] block (copied)."""
    return _rows_table(rows, TRADES_SCHEMA, "trades", trade_columns)


def events_table(rows):
    """``schema.EVENTS_SCHEMA`` table of an int64[n, ``state.E_FIELDS``] block (copied)."""
    return _rows_table(rows, EVENTS_SCHEMA, "events", event_columns)


def _held(rows, name, build):
    """What ``SubmitResult`` keeps of a row block it does not own: a copy, a shared empty table, or the table."""
    n = rows.shape[0]
    if n == 0:
        return _EMPTY[name]
    if n <= SMALL_ROWS:
        return rows.copy()
    return build(rows)


class SubmitResult:
    """What one ``Engine.submit`` or ``Engine.submit_one`` produced.

    Attributes
    ----------
    trades, events : pyarrow.Table
        Rows of ``schema.TRADES_SCHEMA`` / ``schema.EVENTS_SCHEMA``, in processing order.
        Small results keep their rows as numpy and build the tables when first read
        (``SMALL_ROWS``), each from one allocation.
    seq_start, seq_end : int
        The input sequence numbers of the batch's rows: ``[seq_start, seq_end)``.
    """

    __slots__ = ("_trades", "_events", "seq_start", "seq_end", "_wal")

    def __init__(self, trades, events, seq_start, seq_end, wal=None):
        self._trades = trades
        self._events = events
        self.seq_start = seq_start
        self.seq_end = seq_end
        self._wal = wal

    @classmethod
    def from_rows(cls, trades, events, seq_start, seq_end, wal=None):
        """A result of the kernels' ``trades`` / ``events`` row blocks (views of buffers the engine reuses).

        Blocks of up to ``SMALL_ROWS`` rows are copied and become tables when first read
        (the tables equal what ``trades_table`` / ``events_table`` build at once); larger
        ones are split into tables now, in one pass, rather than copied twice.
        """
        return cls(_held(trades, "trades", trades_table), _held(events, "events", events_table), seq_start, seq_end,
                   wal)

    @property
    def trades(self):
        if not isinstance(self._trades, pa.Table):
            self._trades = trades_table(self._trades)
        return self._trades

    @property
    def events(self):
        if not isinstance(self._events, pa.Table):
            self._events = events_table(self._events)
        return self._events

    @property
    def n_trades(self):
        return len(self._trades)

    @property
    def n_events(self):
        return len(self._events)

    def wait_durable(self, timeout=None):
        """Block until this batch (and every earlier one) is durable in the WAL.

        Parameters
        ----------
        timeout : float, optional
            Seconds to wait at most.

        Returns
        -------
        bool
            True once durable (at once without a WAL); False when ``timeout`` passed first.

        Raises
        ------
        WalPoisonedError
            When the WAL failed before the batch became durable: it never will.
        """
        if self._wal is None:
            return True
        return self._wal.wait_durable(self.seq_end, timeout)

    def _repr_html_(self):
        return display.result_html(self)

    def __repr__(self):
        return (
            f"<SubmitResult seq {self.seq_start}..{self.seq_end}: "
            f"{self.n_trades} trades, {self.n_events} events>"
        )


class OrderResult(SubmitResult):
    """What one ``Engine.submit_one`` produced: a ``SubmitResult`` read from a ``state.ScalarOutputs`` block.

    Holds the block and the call's number in it, nothing else; counts, seqs and tables
    are read from the block's call record when asked for (the block is never overwritten).
    """

    __slots__ = ("_block", "_record")

    def __init__(self, block, call, wal=None):
        self._block = block
        self._record = s.C_HEADER + call * s.C_STRIDE
        self._wal = wal
        self._trades = self._events = None

    def _field(self, field):
        return int(self._block.calls[self._record + field])

    @property
    def seq_start(self):
        return self._field(s.C_SEQ)

    @property
    def seq_end(self):
        return self._field(s.C_SEQ) + 1

    @property
    def trades(self):
        if self._trades is None:
            self._trades = trades_table(self._block.trades[self._field(s.C_T0) : self._field(s.C_T1)])
        return self._trades

    @property
    def events(self):
        if self._events is None:
            self._events = events_table(self._block.events[self._field(s.C_E0) : self._field(s.C_E1)])
        return self._events

    @property
    def n_trades(self):
        return self._field(s.C_T1) - self._field(s.C_T0)

    @property
    def n_events(self):
        return self._field(s.C_E1) - self._field(s.C_E0)
