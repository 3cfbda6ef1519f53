"""Crash tests: a child process submits batches and reports each acknowledged seq; the test
SIGKILLs it at random moments and checks what recovery finds.

``group`` and ``sync``: every acknowledged batch is recovered, and the recovered state
equals a clean run over exactly the recovered prefix. The same for single orders
acknowledged by ``submit_rows``, whose frames the writer joins. ``async``: the loss is within the
documented bound (the writer's queue, ``ASYNC_MAX_QUEUED_FRAMES`` frames). The random
seed of the kill moments is in every failure message.
"""

import os
import random
import select
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import nbengine
from nbengine.wal.reader import WalReader, list_segments
from nbengine.durability import replay

from .wal_crash_child import ASYNC_MAX_QUEUED_FRAMES
from .wal_support import JIT_DISABLED, CleanRun, batches

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BATCH = 20 if JIT_DISABLED else 50
BATCHES = 2000
KILLS = {"group": 45, "sync": 40, "async": 20, "group-rows": 20, "async-rows": 20}
if JIT_DISABLED:
    KILLS = {"group": 12, "sync": 12, "async": 8, "group-rows": 6, "async-rows": 6}
MAX_DELAY = 0.15
SEED = 11


class ForkServer:
    """The ``wal_crash_child`` process and a line reader over its stdout."""

    def __init__(self):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.wal_crash_child"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self.buffer = b""
        assert self.readline(timeout=300) == "ready"

    def readline(self, timeout):
        """The next line, or None when none arrived within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        fd = self.process.stdout.fileno()
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                raise AssertionError("the crash child exited")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.decode()

    def run_and_kill(self, directory, durability, seed, delay):
        """Start a worker, SIGKILL it after ``delay`` seconds; return the acknowledged seqs."""
        self.process.stdin.write(f"{directory} {durability} {seed} {BATCH * BATCHES} {BATCH}\n".encode())
        self.process.stdin.flush()
        pid = int(self.readline(timeout=60).split()[1])
        acks = []
        deadline = time.monotonic() + delay
        while (left := deadline - time.monotonic()) > 0:
            line = self.readline(timeout=left)
            if line is None:
                break
            assert line != "done", f"the worker finished before the kill at {delay:.3f} s; give it more batches"
            acks.append(int(line.split()[1]))
        os.kill(pid, signal.SIGKILL)
        while (line := self.readline(timeout=60)) is not None and not line.startswith("exit"):
            if line.startswith("ack"):
                acks.append(int(line.split()[1]))
        assert line is not None, "the worker did not die"
        status = int(line.split()[1])
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, status
        return acks

    def close(self):
        self.process.stdin.close()
        self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def server():
    fork_server = ForkServer()
    yield fork_server
    fork_server.close()


@pytest.fixture(scope="module")
def hashes():
    return CleanRun(batches(BATCH * BATCHES, BATCH, seed=SEED))


@pytest.mark.parametrize("durability", ["group", "sync", "async"])
def test_sigkill_at_random_moments_loses_no_acknowledged_batch(tmp_path, server, hashes, durability):
    kill_seed = random.SystemRandom().randrange(2**32)
    rng = random.Random(kill_seed)
    allowed_loss = ASYNC_MAX_QUEUED_FRAMES * BATCH if durability == "async" else 0
    recovered_some = 0
    for kill in range(KILLS[durability]):
        directory = tmp_path / f"kill{kill}"
        delay = rng.uniform(0.0, MAX_DELAY)
        acks = server.run_and_kill(directory, durability, SEED, delay)
        where = f"{durability} kill {kill} after {delay:.3f} s (kill seed {kill_seed})"
        acknowledged = max(acks, default=0)
        if not os.path.exists(directory) or not list_segments(directory):
            assert acknowledged == 0, where  # killed before the WAL existed
            continue
        engine, report = replay(nbengine.Engine, directory)
        assert report.end_seq >= acknowledged - allowed_loss, f"{where}: acked {acknowledged}, recovered {report.end_seq}"
        assert report.end_seq % BATCH == 0, where
        assert engine.state_hash() == hashes[report.end_seq // BATCH], where
        recovered_some += report.end_seq > 0
        if kill % 10 == 0:  # recover for real: truncate the tail, log one more batch, recover again
            continued = nbengine.Engine.recover(directory)
            batch_index = report.end_seq // BATCH
            continued.submit(hashes.chunks[batch_index])
            continued.close()
            again, _ = replay(nbengine.Engine, directory)
            assert again.state_hash() == hashes[batch_index + 1], where
    assert recovered_some >= KILLS[durability] // 3, "most kills came before anything was logged"


@pytest.mark.parametrize("durability", ["group-rows", "async-rows"])
def test_sigkill_while_single_orders_are_joined_loses_no_acknowledged_order(tmp_path, server, hashes, durability):
    """Pipelined single orders through the WAL ring: ``group`` (``submit_rows``) loses no
    acknowledged order; ``async`` (``submit_one``) at most the ring's capacity."""
    allowed_loss = ASYNC_MAX_QUEUED_FRAMES if durability == "async-rows" else 0
    flow = {name: np.concatenate([chunk[name] for chunk in hashes.chunks]) for name in hashes.chunks[0]}
    kill_seed = random.SystemRandom().randrange(2**32)
    rng = random.Random(kill_seed)
    recovered_some = joined = 0
    for kill in range(KILLS[durability]):
        directory = tmp_path / f"kill{kill}"
        delay = rng.uniform(0.0, MAX_DELAY)
        acks = server.run_and_kill(directory, durability, SEED, delay)
        where = f"{durability} kill {kill} after {delay:.3f} s (kill seed {kill_seed})"
        acknowledged = max(acks, default=0)
        if not os.path.exists(directory) or not list_segments(directory):
            assert acknowledged == 0, where
            continue
        engine, report = replay(nbengine.Engine, directory)
        assert report.end_seq >= acknowledged - allowed_loss, f"{where}: acked {acknowledged}, recovered {report.end_seq}"
        clean = nbengine.Engine()
        if report.end_seq:
            clean.submit({name: values[: report.end_seq] for name, values in flow.items()})
        assert engine.state_hash() == clean.state_hash(), where
        recovered_some += report.end_seq > 0
        joined += any(record.rows > 1 for record in WalReader(directory).records())
    assert recovered_some >= KILLS[durability] // 3, "most kills came before anything was logged"
    assert joined, "no kill found a frame of several single orders"
