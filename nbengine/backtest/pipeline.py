"""Overlap the stages of a backtest: read ahead in one thread, write behind in others.

Parquet decoding and encoding and the matching kernels all release the GIL, so a reader
thread, the matching thread and writer threads run on separate cores. Both hand-offs
are bounded, so memory holds at most a few batches whatever the input length.
`WriteNow` has `WriteBehind`'s interface but runs each call at once, in the caller's
thread: a backtest that must keep to one core (a Dask task) uses it instead.
"""

import collections
import queue
import threading
from concurrent.futures import ThreadPoolExecutor

_DONE = object()


def prefetch(items, depth=2):
    """Iterate ``items`` in a background thread, at most ``depth`` items ahead of the caller.

    An exception raised by ``items`` is raised here, at the point of the stream where it
    happened. Leaving the loop early (break, error) stops the thread at its next item.

    Parameters
    ----------
    items : iterable
    depth : int
        Items produced but not yet taken, at most.

    Yields
    ------
    The items of ``items``, in order.
    """
    ready = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item):
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        try:
            for item in items:
                if not offer((item, None)):
                    return
            offer((_DONE, None))
        except BaseException as error:  # handed to the consumer, raised there
            offer((None, error))

    thread = threading.Thread(target=produce, name="nbengine-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item, error = ready.get()
            if error is not None:
                raise error
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
        thread.join()


class WriteBehind:
    """Run calls in order on one background thread, with at most ``depth`` outstanding.

    ``submit`` waits for the oldest call when ``depth`` are pending, so the caller never
    runs more than ``depth`` batches ahead of the writer. The first error of a call is
    raised by the next ``submit`` or by ``close``. Use as a context manager: leaving it
    waits for every call (and raises the first error).
    """

    def __init__(self, depth=4, name="nbengine-writer"):
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._pending = collections.deque()
        self._depth = depth

    def submit(self, function, *args):
        """Queue ``function(*args)`` after every earlier call."""
        while len(self._pending) >= self._depth:
            self._pending.popleft().result()
        self._pending.append(self._executor.submit(function, *args))

    def close(self):
        """Wait for every queued call; raise the first error among them."""
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            for future in self._pending:
                future.cancel()
            self._executor.shutdown(wait=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, traceback):
        if exc_type is None:
            self.close()
        else:
            for future in self._pending:
                future.cancel()
            self._pending.clear()
            self._executor.shutdown(wait=True)


class WriteNow:
    """`WriteBehind`'s interface, running each call at once in the caller's thread."""

    def submit(self, function, *args):
        """Call ``function(*args)`` now."""
        function(*args)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, traceback):
        return None


__all__ = ["WriteBehind", "WriteNow", "prefetch"]
