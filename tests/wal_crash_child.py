"""Child process of the WAL crash tests: a fork server whose workers get SIGKILLed.

Run as ``python -m tests.wal_crash_child`` from the repository root. It imports nbengine
and loads the kernels once, writes ``ready``, then reads commands from stdin, one a line:
``<dir> <durability> <seed> <rows> <batch>``. For each it forks a worker that writes
``pid <pid>``, submits ``wal_support.batches(rows, batch, seed=seed)`` one batch at a time
to ``Engine(wal_dir=dir, durability=durability)`` and writes ``ack <seq_end>`` each time a
submit returns (in ``group`` and ``sync`` mode: once the batch is durable), then ``done``.
Durability ``group-rows`` submits the same orders one at a time in ``group`` mode with
``submit_rows(ahead=ROWS_AHEAD)``, so the writer joins queued orders into frames, and
acknowledges each order as ``submit_rows`` yields it. Durability ``async-rows`` submits
them with ``submit_one`` in ``async`` mode (acknowledged at enqueue into the WAL ring,
whose capacity is ``ASYNC_MAX_QUEUED_FRAMES`` orders).
The server waits for the worker (normally killed by the parent) and writes
``exit <wait status>``. Lines go straight to the file descriptor, unbuffered, so every
``ack`` the parent reads was written before the worker died.
"""

import os
import sys

ASYNC_MAX_QUEUED_FRAMES = 4
"""Queue bound of the async workers: at most this many acknowledged frames (``async``) or
single orders (``async-rows``: the WAL ring's capacity) may be lost."""


def _say(line):
    os.write(1, (line + "\n").encode())


ROWS_AHEAD = 8
"""Orders a ``group-rows`` worker matches beyond the oldest unacknowledged one."""


def _work(directory, durability, chunks):
    import nbengine

    from .wal_support import order_rows

    options = {"max_queued_frames": ASYNC_MAX_QUEUED_FRAMES} if durability.startswith("async") else None
    if durability == "async-rows":
        engine = nbengine.Engine(wal_dir=directory, durability="async", wal_options=options)
        for row in order_rows(chunks):
            _say(f"ack {engine.submit_one(**row).seq_end}")
    elif durability == "group-rows":
        engine = nbengine.Engine(wal_dir=directory, durability="group")
        for result in engine.submit_rows(order_rows(chunks), ahead=ROWS_AHEAD):
            _say(f"ack {result.seq_end}")
    else:
        engine = nbengine.Engine(wal_dir=directory, durability=durability, wal_options=options)
        for chunk in chunks:
            _say(f"ack {engine.submit(chunk).seq_end}")
    engine.close()
    _say("done")


def _warm_up():
    """Load every code path a worker runs (kernels, WAL, recovery-free), so workers start fast."""
    import tempfile

    import nbengine

    from .wal_support import batches

    nbengine.warmup()
    with tempfile.TemporaryDirectory() as directory:
        with nbengine.Engine(wal_dir=directory) as engine:  # closed: no writer thread at fork time
            engine.submit(batches(64, 64)[0])
            engine.submit_one(1, 1, nbengine.BUY, nbengine.LIMIT, 100, 1)  # loads match_row_logged (WAL ring)


def main():
    _warm_up()
    _say("ready")
    from .wal_support import batches

    flows = {}
    for command in sys.stdin:
        directory, durability, *flow = command.split()
        if tuple(flow) not in flows:  # generated here once, before forking, so workers start at once
            seed, rows, batch = map(int, flow)
            flows[tuple(flow)] = batches(rows, batch, seed=seed)
        pid = os.fork()
        if pid == 0:
            _say(f"pid {os.getpid()}")
            try:
                _work(directory, durability, flows[tuple(flow)])
            finally:
                os._exit(0)
        _, status = os.waitpid(pid, 0)
        _say(f"exit {status}")


if __name__ == "__main__":
    main()
