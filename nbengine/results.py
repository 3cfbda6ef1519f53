"""What a submission returns: trade and event tables built from the kernels' output rows."""

import numpy as np
import pyarrow as pa

from . import display
from . import state as s
from .kernels.columns import event_columns, rows_into_bodies, rows_into_body, trade_columns
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
and ``SubmitResult.from_rows`` keeps as a filled message until its tables are read. Larger blocks are split by a
kernel in one pass, eagerly: their cost is in the rows, not in the pyarrow calls."""

_TEMPLATE_CACHE = 1024
"""Most IPC templates (one per schema and row count, about 600 bytes each) kept at once."""


class _IpcLayout:
    """The Arrow IPC record-batch message of a table with ``n`` rows and no nulls, body left blank.

    ``pyarrow.ipc.read_record_batch`` turns one such message into a whole batch in one call,
    where building it array by array costs microseconds per column. The metadata (lengths,
    buffer offsets) depends only on the schema and ``n``, so it is taken once from a probe
    batch of ``n`` rows and reused: a table is then one allocation (a copy of the
    template), one kernel call that writes the row block into the body
    (``kernels.columns.rows_into_body``), and one read.

    ``layout`` holds each column's byte offset in the message and its width: the columns
    in schema order, each padded to 8 bytes, filling the body exactly (checked against
    the message's metadata length). ``usable`` is True only if then writing the probe's
    rows over pyarrow's own message of them changes no byte; otherwise the slow path is
    taken.
    """

    __slots__ = ("layout", "template", "usable")

    def __init__(self, probe_rows, probe_batch, widths):
        """Lay out ``probe_batch``: ``probe_rows`` (int64[n, fields]) as columns of ``widths`` bytes (a tuple)."""
        n = probe_rows.shape[0]
        message = np.frombuffer(probe_batch.serialize(), dtype=np.uint8)
        sizes = [(n * width + 7) & ~7 for width in widths]
        start = message.shape[0] - sum(sizes)
        self.template = message.copy()
        self.template[start:] = 0
        offsets = [start + sum(sizes[:column]) for column in range(len(sizes))]
        self.layout = np.array(list(zip(offsets, widths)), dtype=np.int64)
        self.usable = start >= 8 and start % 8 == 0 and message.shape[0] % 8 == 0
        self.usable = self.usable and int(message[4:8].view("<i4")[0]) + 8 == start
        if self.usable:
            rewritten = message.copy()
            rows_into_body(probe_rows, rewritten, self.layout)
            self.usable = rewritten.tobytes() == message.tobytes()

    def fill(self, rows):
        """A new message holding ``rows`` (int64[n, fields], read once); ``_read_message`` makes it a table."""
        message = self.template.copy()
        rows_into_body(rows, message, self.layout)
        return message


def _read_message(message, schema):
    """The ``schema`` table of a message filled by ``_IpcLayout.fill`` (zero-copy: the table holds the message)."""
    return pa.Table.from_batches([pa.ipc.read_record_batch(pa.py_buffer(message), schema)], schema)


class _Probe:
    """``SMALL_ROWS`` rows of distinct small values and their table, built once per schema: ``_IpcLayout``'s probes.

    A layout of ``n`` rows is made from the first ``n`` rows (a zero-copy slice of the
    batch), so making one costs one ``serialize`` rather than building a table.
    """

    __slots__ = ("batch", "rows", "widths")

    def __init__(self, schema):
        """Probe rows for ``schema`` (values in [-50, 50], which every integer type holds)."""
        fields = len(schema)
        self.rows = (np.arange(SMALL_ROWS * fields, dtype=np.int64).reshape(SMALL_ROWS, fields) % 101) - 50
        self.batch = table_from_rows(self.rows, schema).to_batches()[0]
        self.widths = tuple(dtype.itemsize for dtype in _DTYPES[schema])

    def layout(self, n):
        """The ``_IpcLayout`` of ``n`` rows (1 .. ``SMALL_ROWS``)."""
        return _IpcLayout(self.rows[:n], self.batch.slice(0, n), self.widths)


# Keyed by name, never by schema: hashing a pa.Schema costs microseconds.
_SCHEMAS = {"trades": TRADES_SCHEMA, "events": EVENTS_SCHEMA}
_LAYOUTS = {"trades": {}, "events": {}}
_PROBES = {}
"""``_Probe`` of each table name, made when its first layout is (not at import: about 1 MB)."""
_EMPTY = {
    "trades": table_from_rows(np.zeros((0, len(TRADES_SCHEMA)), dtype=np.int64), TRADES_SCHEMA),
    "events": table_from_rows(np.zeros((0, len(EVENTS_SCHEMA)), dtype=np.int64), EVENTS_SCHEMA),
}


def _small_layout(name, n):
    """The ``_IpcLayout`` of ``n`` (1 .. ``SMALL_ROWS``) rows of the ``name`` table, made once and cached."""
    layouts = _LAYOUTS[name]
    layout = layouts.get(n)
    if layout is None:
        if len(layouts) >= _TEMPLATE_CACHE:
            layouts.clear()
        probe = _PROBES.get(name)
        if probe is None:
            probe = _PROBES[name] = _Probe(_SCHEMAS[name])
        layout = layouts[n] = probe.layout(n)
    return layout


def _rows_table(rows, schema, name, split):
    """A table of ``schema`` from an int64 row block: shared when empty, from a template when small."""
    held = _held(rows, name, lambda block: table_from_rows(block, schema, split))
    return held if isinstance(held, pa.Table) else _read_message(held, schema)


def trades_table(rows):
    """``schema.TRADES_SCHEMA`` table of an int64[n, ``state.T_FIELDS``] block (copied)."""
    return _rows_table(rows, TRADES_SCHEMA, "trades", trade_columns)


def events_table(rows):
    """``schema.EVENTS_SCHEMA`` table of an int64[n, ``state.E_FIELDS``] block (copied)."""
    return _rows_table(rows, EVENTS_SCHEMA, "events", event_columns)


def _held(rows, name, build):
    """What ``SubmitResult`` keeps of a row block it does not own: a shared empty table, a filled message, or the table.

    A block of up to ``SMALL_ROWS`` rows is written into a new copy of its ``_IpcLayout``
    template (the one allocation the table will be read from); a larger one is split
    into a table at once, in one pass.
    """
    n = rows.shape[0]
    if n == 0:
        return _EMPTY[name]
    if n <= SMALL_ROWS:
        layout = _small_layout(name, n)
        if layout.usable:
            return layout.fill(rows)
    return build(rows)


class SubmitResult:
    """What one ``Engine.submit`` or ``Engine.submit_one`` produced.

    Attributes
    ----------
    trades, events : pyarrow.Table
        Rows of ``schema.TRADES_SCHEMA`` / ``schema.EVENTS_SCHEMA``, in processing order.
        Small results keep their rows in an Arrow IPC message of their own and read it
        as a table when first read (``SMALL_ROWS``).
    seq_start, seq_end : int
        The input sequence numbers of the batch's rows: ``[seq_start, seq_end)``.
    """

    __slots__ = ("_events", "_n_events", "_n_trades", "_trades", "_wal", "seq_end", "seq_start")

    def __init__(self, trades, events, seq_start, seq_end, wal=None):
        """A result of ``trades`` and ``events`` tables (None: not asked for, as ``Engine.match_columns``)."""
        self._trades = trades
        self._events = events
        self._n_trades = 0 if trades is None else trades.num_rows
        self._n_events = 0 if events is None else events.num_rows
        self.seq_start = seq_start
        self.seq_end = seq_end
        self._wal = wal

    @classmethod
    def from_rows(cls, trades, events, seq_start, seq_end, wal=None):
        """A result of the kernels' ``trades`` / ``events`` row blocks (views of buffers the engine reuses).

        Blocks of up to ``SMALL_ROWS`` rows are copied into IPC messages and become tables
        when first read (the tables equal what ``trades_table`` / ``events_table`` build at
        once); larger ones are split into tables now, in one pass, rather than copied twice.
        Either way the result owns its rows: later calls that reuse the buffers do not
        change it.
        """
        result = cls(None, None, seq_start, seq_end, wal)
        n_trades = result._n_trades = trades.shape[0]
        n_events = result._n_events = events.shape[0]
        if 0 < n_trades <= SMALL_ROWS and 0 < n_events <= SMALL_ROWS:
            # Both blocks small (most batches that trade): both messages filled by one kernel call.
            trade_layout, event_layout = _small_layout("trades", n_trades), _small_layout("events", n_events)
            if trade_layout.usable and event_layout.usable:
                result._trades = trade_layout.template.copy()
                result._events = event_layout.template.copy()
                rows_into_bodies(trades, result._trades, trade_layout.layout, events, result._events, event_layout.layout)
                return result
        result._trades = _held(trades, "trades", trades_table)
        result._events = _held(events, "events", events_table)
        return result

    @property
    def trades(self):
        if not isinstance(self._trades, pa.Table):
            self._trades = _read_message(self._trades, TRADES_SCHEMA)
        return self._trades

    @property
    def events(self):
        if not isinstance(self._events, pa.Table):
            self._events = _read_message(self._events, EVENTS_SCHEMA)
        return self._events

    @property
    def n_trades(self):
        return self._n_trades

    @property
    def n_events(self):
        return self._n_events

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
