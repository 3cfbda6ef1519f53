"""Matching throughput against batch size, kernel only and through Arrow.

Every measurement pushes the first rows of a fixed 2**20-row flow through a fresh
``Engine`` in consecutive batches of ``batch`` rows. For small batches the number of
calls is capped so one measurement stays within a few seconds. Throughput is tracked as
nanoseconds per order (time taken over orders matched), lower is better like every asv
number, so ``asv continuous`` flags a slowdown as a regression.
"""

import time

import nbengine
from nbengine import generate

from . import VERSION, cached_flow, output_rows, split

FLOW_ROWS = 2**20
"""Rows of the flow every measurement draws from."""

BATCH_SIZES = [1, 64, 1024, 65536, 1048576]

MAX_KERNEL_CALLS = 8_192
"""Most ``match_columns`` calls in one measurement (caps rows for small batches)."""

MAX_SUBMIT_CALLS = 2_048
"""Most ``submit`` calls in one measurement (caps rows for small batches)."""

DEEP_BOOK_RESTING = 100_000
"""Resting orders the deep-book variant starts from."""


class _BatchThroughput:
    """Throughput of ``match_columns`` and ``submit`` over one flow, by batch size.

    Subclasses name the flow through ``flow_name`` and ``flow_options``, and may set
    ``prefill_resting`` to start every measurement from a deep book of that many
    resting orders.
    """

    params = BATCH_SIZES
    param_names = ["batch"]
    version = VERSION
    number = 1
    repeat = (1, 5, 20.0)
    warmup_time = 0.0
    timeout = 300

    flow_name = "standard_mix"
    flow_options = {}
    prefill_resting = 0

    def setup(self, batch):
        """Warm the JIT and the allocator, slice and prepare the inputs, build a fresh engine."""
        nbengine.warmup()
        self.kernel_rows = min(FLOW_ROWS, batch * MAX_KERNEL_CALLS)
        self.submit_rows = min(FLOW_ROWS, batch * MAX_SUBMIT_CALLS)
        flow = cached_flow(self.flow_name, FLOW_ROWS, **self.flow_options)
        kernel_flow = {name: values[: self.kernel_rows] for name, values in flow.items()}
        self.kernel_batches = [nbengine.prepare(part) for part in split(kernel_flow, batch)]
        flow_table = generate.to_table(flow)
        self.submit_batches = [
            flow_table.slice(start, batch) for start in range(0, self.submit_rows, batch)
        ]
        # One untimed call of the largest size on a throwaway engine: the first time a
        # process allocates buffers this large it pays page faults that later calls do not.
        nbengine.Engine().match_columns(self.kernel_batches[0])
        output_rows(nbengine.Engine().submit(self.submit_batches[0]))
        self.engine = nbengine.Engine()
        if self.prefill_resting:
            prefill = cached_flow("deep_book", self.prefill_resting)
            self.engine.match_columns(nbengine.prepare(prefill))

    def track_kernel_ns_per_order(self, batch):
        """Nanoseconds per order through ``Engine.match_columns`` (prepared columns, no Arrow)."""
        start = time.perf_counter_ns()
        self.time_kernel(batch)
        return (time.perf_counter_ns() - start) / self.kernel_rows

    track_kernel_ns_per_order.unit = "ns/order"

    def track_submit_ns_per_order(self, batch):
        """Nanoseconds per order through ``Engine.submit``: ``pa.Table`` in, tables out."""
        start = time.perf_counter_ns()
        self.time_submit(batch)
        return (time.perf_counter_ns() - start) / self.submit_rows

    track_submit_ns_per_order.unit = "ns/order"

    def time_kernel(self, batch):
        """Time to match the capped flow with ``Engine.match_columns``."""
        for columns in self.kernel_batches:
            self.engine.match_columns(columns)

    def time_submit(self, batch):
        """Time to match the capped flow with ``Engine.submit``, building every table."""
        rows_out = 0
        for table in self.submit_batches:
            rows_out += output_rows(self.engine.submit(table))
        return rows_out


class StandardMix(_BatchThroughput):
    """The standard mix (``generate.standard_mix``) on an empty book."""


class CancelHeavy(_BatchThroughput):
    """Cancels as frequent as limits, mostly of live orders (``generate.cancel_heavy``)."""

    flow_name = "cancel_heavy"


class DeepBook(_BatchThroughput):
    """The standard mix on a book already holding ``DEEP_BOOK_RESTING`` orders."""

    flow_options = {
        "first_id": DEEP_BOOK_RESTING + 1,
        "start_ts": generate.START_TS + DEEP_BOOK_RESTING * generate.MAX_TS_GAP_NS,
    }
    prefill_resting = DEEP_BOOK_RESTING
