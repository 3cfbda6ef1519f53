"""What a submission returns: trade and event tables built from the kernels' output rows."""

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


def trades_table(rows):
    return table_from_rows(rows, TRADES_SCHEMA, trade_columns)


def events_table(rows):
    return table_from_rows(rows, EVENTS_SCHEMA, event_columns)


class SubmitResult:
    """What one ``Engine.submit`` or ``Engine.submit_one`` produced.

    Attributes
    ----------
    trades, events : pyarrow.Table
        Rows of ``schema.TRADES_SCHEMA`` / ``schema.EVENTS_SCHEMA``, in processing order.
        ``submit_one`` keeps its few rows as numpy and builds the tables when first read.
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
