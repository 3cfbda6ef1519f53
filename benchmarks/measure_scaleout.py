"""Time ``nbengine backtest --workers N`` for N = 1 and 2 and single-process runs, alternating; print medians.

    python -m benchmarks.measure_scaleout ORDERS.parquet [repeats] [--no-ceiling]

from the repository root, after ``nbengine generate --orders 5000000 --symbols 64 --seed 2026
--out ORDERS.parquet`` (docs/scale-out.md's figures come from ``repeats`` = 5). Each round
runs, one after another: ``--workers 1``, ``--workers 2``, and the single-process
``nbengine backtest`` with ``--layout files`` and ``--layout by_symbol``; every run is a
new process (with its own LocalCluster for ``--workers``). Printed per run: the summary's
``wall_seconds`` (for ``--workers``: first task submitted to last result, kernels already
loaded on every worker), the whole command's elapsed time (cluster start and stop
included), the CPU seconds of the command and all its processes (workers included),
whose ratio to the elapsed time says how many cores the run kept busy, and the CPU seconds
other processes of the machine used meanwhile (from ``/proc/stat``): a run during which
they used more than a few seconds was slowed by them. CPU seconds vary much less than
wall times on a shared machine.

Then, unless ``--no-ceiling``, the machine's own ceiling without Dask: two processes each
running what one partition's task runs (the backtest of half the symbols, even / odd,
stages in series, results by symbol), one after the other and then both at once. On an
idle 2-core machine the ratio is close to 2; on a shared one it shows how much of a
second core was to be had.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = {
    "1 worker": ["--workers", "1"],
    "2 workers": ["--workers", "2"],
    "one process, --layout files": ["--layout", "files"],
    "one process, --layout by_symbol": ["--layout", "by_symbol"],
}
"""What each round runs: a label and the ``nbengine backtest`` options."""


def _children_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def machine_busy_seconds():
    """CPU seconds all processes of the machine have used since boot (Linux), or None."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(value) for value in stat.readline().split()[1:]]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def run_once(orders, options, out):
    """``(wall_seconds, elapsed_seconds, cpu_seconds, others_cpu_seconds)`` of one ``nbengine backtest ORDERS *options``.

    ``others_cpu_seconds`` is what the rest of the machine used meanwhile (None off Linux).
    """
    cpu = _children_cpu_seconds()
    busy = machine_busy_seconds()
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "nbengine.cli", "backtest", str(orders), "--out", str(out), *options, "--quiet"],
        check=True, stdout=subprocess.DEVNULL,
    )
    elapsed = time.perf_counter() - started
    summary = json.loads((Path(out) / "summary.json").read_text())
    cpu = _children_cpu_seconds() - cpu
    others = None if busy is None else max(machine_busy_seconds() - busy - cpu, 0.0)
    return summary["wall_seconds"], elapsed, cpu, others


_HALF = (
    "import sys, nbengine; from nbengine.parquet_input import count_rows_by_symbol; "
    "symbols = list(count_rows_by_symbol([sys.argv[1]])); "
    "nbengine.backtest(sys.argv[1], sys.argv[2], symbols=symbols[int(sys.argv[3])::2], quiet=True, "
    "layout='by_symbol', pipelined=False)"
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


def _seconds(value):
    return "unknown" if value is None else f"{value:.2f} CPU s"


def main(orders, repeats, ceiling=True):
    runs = {label: [] for label in RUNS}
    with tempfile.TemporaryDirectory() as out:
        for repeat in range(repeats):
            for label, options in RUNS.items():
                wall, elapsed, cpu, others = run_once(orders, options, out)
                runs[label].append((wall, elapsed, cpu))
                print(f"run {repeat + 1}, {label}: wall {wall:.2f} s, command {elapsed:.2f} s, "
                      f"CPU {cpu:.2f} s ({cpu / elapsed:.2f} cores busy), other processes {_seconds(others)}",
                      flush=True)
    medians = {label: [statistics.median(column) for column in zip(*values)] for label, values in runs.items()}
    for label, (wall, elapsed, cpu) in medians.items():
        walls = [values[0] for values in runs[label]]
        print(f"median, {label}: wall {wall:.2f} s ({min(walls):.2f}-{max(walls):.2f}), command {elapsed:.2f} s, "
              f"CPU {cpu:.2f} s")
    one, two = medians["1 worker"], medians["2 workers"]
    print(f"speed-up 2 vs 1 worker(s): wall {one[0] / two[0]:.2f}x, command {one[1] / two[1]:.2f}x")
    if not ceiling:
        return
    with tempfile.TemporaryDirectory() as out:
        ratios = []
        for repeat in range(repeats):
            sequential, concurrent = ceiling_once(orders, out)
            ratios.append(sequential / concurrent)
            print(f"ceiling run {repeat + 1}: two half backtests one after the other {sequential:.2f} s, "
                  f"at once {concurrent:.2f} s ({ratios[-1]:.2f}x)", flush=True)
    print(f"median ceiling without Dask: {statistics.median(ratios):.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("orders", type=Path)
    parser.add_argument("repeats", type=int, nargs="?", default=3)
    parser.add_argument("--no-ceiling", action="store_true", help="skip the two-process ceiling")
    arguments = parser.parse_args()
    main(arguments.orders, arguments.repeats, ceiling=not arguments.no_ceiling)
