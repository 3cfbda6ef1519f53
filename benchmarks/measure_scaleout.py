"""Time ``nbengine backtest --workers N`` for N = 1 and 2, alternating, and print medians.

    python -m benchmarks.measure_scaleout ORDERS.parquet [repeats]

from the repository root, after ``nbengine generate --orders 5000000 --symbols 64 --seed 2026
--out ORDERS.parquet`` (docs/scale-out.md's figure comes from ``repeats`` = 3). Each run is
a new ``nbengine backtest`` process with its own LocalCluster. Printed per run: the
summary's ``wall_seconds`` (first task submitted to last result, kernels already loaded on
every worker), the whole command's elapsed time (cluster start and stop included) and the
CPU seconds of the command and all its processes (workers included), whose ratio to the
wall time says how many cores the run kept busy.

Then the machine's own ceiling, without Dask: two processes each running the
single-process backtest of half the symbols (even / odd), one after the other and then
both at once. On an idle 2-core machine the ratio is close to 2; on a shared one it shows
how much of a second core was to be had.
"""

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _children_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(orders, workers, out):
    """``(wall_seconds, elapsed_seconds, cpu_seconds)`` of one ``nbengine backtest --workers``."""
    cpu = _children_cpu_seconds()
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "nbengine.cli", "backtest", str(orders), "--out", str(out), "--workers", str(workers),
         "--quiet"],
        check=True, stdout=subprocess.DEVNULL,
    )
    elapsed = time.perf_counter() - started
    summary = json.loads((Path(out) / "summary.json").read_text())
    return summary["wall_seconds"], elapsed, _children_cpu_seconds() - cpu


_HALF = (
    "import sys, nbengine; from nbengine.parquet_input import count_rows_by_symbol; "
    "symbols = list(count_rows_by_symbol([sys.argv[1]])); "
    "nbengine.backtest(sys.argv[1], sys.argv[2], symbols=symbols[int(sys.argv[3])::2], quiet=True)"
)


def _half_backtest(orders, out, parity):
    return subprocess.Popen([sys.executable, "-c", _HALF, str(orders), f"{out}/half-{parity}", str(parity)],
                            env={**os.environ, "OMP_NUM_THREADS": "1"})


def _wait(process):
    if process.wait() != 0:
        raise subprocess.CalledProcessError(process.returncode, process.args)


def ceiling_once(orders, out):
    """``(sequential, concurrent)`` seconds of the two half backtests (processes started included)."""
    started = time.perf_counter()
    for parity in (0, 1):
        _wait(_half_backtest(orders, out, parity))
    sequential = time.perf_counter() - started
    started = time.perf_counter()
    for process in [_half_backtest(orders, out, parity) for parity in (0, 1)]:
        _wait(process)
    return sequential, time.perf_counter() - started


def main(orders, repeats):
    runs = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as out:
        for repeat in range(repeats):
            for workers in runs:
                wall, elapsed, cpu = run_once(orders, workers, out)
                runs[workers].append((wall, elapsed, cpu))
                print(f"run {repeat + 1}, {workers} worker(s): wall {wall:.2f} s, command {elapsed:.2f} s, "
                      f"CPU {cpu:.2f} s ({cpu / elapsed:.2f} cores busy)", flush=True)
    medians = {workers: [statistics.median(column) for column in zip(*values)] for workers, values in runs.items()}
    for workers, (wall, elapsed, cpu) in medians.items():
        print(f"median, {workers} worker(s): wall {wall:.2f} s, command {elapsed:.2f} s, CPU {cpu:.2f} s")
    print(f"speed-up 2 vs 1 worker(s): wall {medians[1][0] / medians[2][0]:.2f}x, "
          f"command {medians[1][1] / medians[2][1]:.2f}x")
    with tempfile.TemporaryDirectory() as out:
        ratios = []
        for repeat in range(repeats):
            sequential, concurrent = ceiling_once(orders, out)
            ratios.append(sequential / concurrent)
            print(f"ceiling run {repeat + 1}: two half backtests one after the other {sequential:.2f} s, "
                  f"at once {concurrent:.2f} s ({ratios[-1]:.2f}x)", flush=True)
    print(f"median ceiling without Dask: {statistics.median(ratios):.2f}x")


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 3)
