"""Helpers of the WAL tests: seeded batches, clean-run hashes, a fault-injecting file layer."""

import errno
import os
import threading
import time

import nbengine
from nbengine import generate
from nbengine.wal.files import FileLayer

JIT_DISABLED = os.environ.get("NUMBA_DISABLE_JIT", "0") == "1"


def batches(rows, batch, *, seed=0, symbols=2):
    """The standard mix of ``rows`` rows cut into consecutive dicts of ``batch`` rows."""
    flow = generate.standard_mix(rows, seed=seed, symbols=symbols, modify=0.05, fok=0.02, post_only=0.03, accounts=3)
    return [{name: values[i : i + batch] for name, values in flow.items()} for i in range(0, rows, batch)]


def order_rows(chunks):
    """Every order of ``chunks`` as a mapping of ``Engine.submit_one``'s argument names, in order (lazily)."""
    return ({name: int(values[i]) for name, values in chunk.items()} for chunk in chunks for i in range(len(chunk["ts"])))


def clean_hashes(chunks):
    """``hashes[k]`` is the state hash of a WAL-less engine after the first ``k`` chunks."""
    return CleanRun(chunks)[: len(chunks) + 1]


class CleanRun:
    """State hashes of a WAL-less engine after the first ``k`` chunks, computed on demand.

    ``run[k]`` matches chunks only as far as ``k`` (once), so a long list of chunks costs
    only what the largest index asked for.
    """

    def __init__(self, chunks):
        self.chunks = chunks
        self.engine = nbengine.Engine()
        self.hashes = [self.engine.state_hash()]

    def __getitem__(self, k):
        stop = (k.stop if k.stop is not None else len(self.chunks) + 1) - 1 if isinstance(k, slice) else k
        while len(self.hashes) <= stop:
            self.engine.submit(self.chunks[len(self.hashes) - 1])
            self.hashes.append(self.engine.state_hash())
        return self.hashes[k]


class SimulatedCrash(OSError):
    """Raised by ``FaultyFiles`` where a test wants the process to 'die'."""


class FaultyFiles(FileLayer):
    """A ``FileLayer`` that fails one chosen call, and records every call.

    Parameters
    ----------
    fail : str, optional
        Operation to fail (``"write"``, ``"fsync"``, ``"write_durably"``, ``"fsync_dir"``,
        ``"rename"``, ...), or ``"any"`` for the n-th call of any operation.
    nth : int
        Fail the ``nth`` call (1-based) of that operation, counted from ``arm()``.
    error : int
        The errno of the ``OSError`` raised.
    written : float
        For ``write`` and ``write_durably``: the fraction of the data written before the
        failure (0.5: a full disk; 1.0 for ``write_durably``: the data reached the file
        but its sync failed).
    delay : float
        Seconds every ``fsync`` and ``write_durably`` sleeps (a slow disk); ``on_fsync``,
        when set, is called before each of them too.
    exception : type
        ``OSError`` or ``SimulatedCrash``.
    """

    def __init__(self, fail=None, nth=1, error=errno.EIO, written=0.0, delay=0.0, exception=OSError):
        self.fail = fail
        self.nth = nth
        self.error = error
        self.written = written
        self.delay = delay
        self.exception = exception
        self.armed = fail is not None
        self.counts = {}
        self.calls = []
        self.on_fsync = None
        self._lock = threading.Lock()

    def arm(self, fail, nth, exception=OSError):
        with self._lock:
            self.fail, self.nth, self.exception, self.armed = fail, nth, exception, True
            self.counts = {}

    def _check(self, op, data=None, fd=None):
        with self._lock:
            self.calls.append(op)
            if not self.armed:
                return
            key = "any" if self.fail == "any" else op
            if key != self.fail:
                return
            self.counts[key] = self.counts.get(key, 0) + 1
            if self.counts[key] != self.nth:
                return
        if op in ("write", "write_durably") and self.written:
            whole = b"".join(data)
            super().write(fd, [whole[: int(len(whole) * self.written)]])
        raise self.exception(self.error, f"injected {os.strerror(self.error)} on {op}")

    def create(self, path):
        self._check("create")
        return super().create(path)

    def open_append(self, path):
        self._check("open_append")
        return super().open_append(path)

    def write(self, fd, buffers):
        self._check("write", buffers, fd)
        super().write(fd, buffers)

    def fsync(self, fd):
        self._check("fsync")
        self._slow_sync()
        super().fsync(fd)

    def write_durably(self, fd, buffers):
        self._check("write_durably", buffers, fd)
        self._slow_sync()
        super().write_durably(fd, buffers)

    def _slow_sync(self):
        if self.on_fsync is not None:
            self.on_fsync()
        if self.delay:
            time.sleep(self.delay)

    def fsync_dir(self, path):
        self._check("fsync_dir")
        super().fsync_dir(path)

    def rename(self, source, target):
        self._check("rename")
        super().rename(source, target)

    def remove(self, path):
        self._check("remove")
        super().remove(path)

    def truncate(self, path, size):
        self._check("truncate")
        super().truncate(path, size)
