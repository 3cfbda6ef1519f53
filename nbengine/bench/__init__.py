"""``nbengine bench``: a performance report measured by real runs on this machine.

``runs`` measures, ``sysinfo`` describes the machine, ``charts`` draws PNGs (when
matplotlib is installed), ``report`` renders Markdown and JSON, ``readme`` copies a
summary into the README.
"""

import dataclasses
import itertools
import os
import tempfile
import time

from nbengine.durability import DURABILITY_MODES
from nbengine.generate import GENERATOR_VERSION
from nbengine.progress import progress_bar

from . import charts, runs, sysinfo
from .readme import update_readme
from .report import CHARTS_DIR, REPORT_JSON, REPORT_MD, write_report
from .runs import QUICK, BenchSettings

__all__ = ["BenchSettings", "QUICK", "run_bench", "run_from_args", "settings_for"]


def _ticker(update):
    """A function that moves the progress bar one step further each call."""
    done = itertools.count(1)
    return lambda: update(next(done))


def measure(settings, *, quiet=False):
    """Run every measurement of ``settings``, with a progress bar on a terminal.

    Returns
    -------
    dict
        The measured sections, keyed as ``report.render_markdown`` reads them.
    """
    settings = settings.capped()
    steps = 6 + len(settings.batch_sizes) + len(DURABILITY_MODES)
    with progress_bar(steps, quiet=quiet, unit="steps") as update:
        tick = _ticker(update)
        warmup_s = runs.timed_warmup()
        tick()
        columns, table = runs.make_flow(settings)
        tick()
        results = runs.main_run(table, settings.main_batch)
        tick()
        batches = []
        for batch in settings.batch_sizes:
            batches.append(runs.batch_point(table, batch, settings))
            tick()
        scalar = runs.scalar_latency(columns, settings)
        tick()
        durability = []
        for mode in DURABILITY_MODES:
            durability.append(runs.durability_mode(mode, table, columns, settings))
            tick()
        reference = runs.reference_comparison(columns, settings)
        tick()
        one_at_a_time = runs.one_at_a_time(columns, settings)
        tick()
    return {
        "settings": dataclasses.asdict(settings),
        "generator_version": GENERATOR_VERSION,
        "warmup_s": warmup_s,
        "wal_parent": tempfile.gettempdir(),
        "results": results,
        "latency": {"scalar": scalar, "batches": batches},
        "durability": durability,
        "reference": reference,
        "one_at_a_time": one_at_a_time,
    }


def run_bench(settings, out_dir, *, command, quiet=False):
    """Measure, draw and write the report: ``OUT/report.md``, ``report.json``, ``report/*.png``.

    Parameters
    ----------
    settings : BenchSettings
        What to run (``BenchSettings()`` for the defaults, ``QUICK`` for ``--quick``).
    out_dir : str or os.PathLike
        Directory of the report (created if missing).
    command : str
        The command line that reproduces this report; printed at its top.
    quiet : bool
        No progress bar.

    Returns
    -------
    dict
        The report as written to ``report.json``.
    """
    start = time.perf_counter()
    report = {"command": command, "overview": sysinfo.overview()}
    report |= measure(settings, quiet=quiet)
    report["charts"] = None
    if charts.matplotlib_available():
        paths = charts.draw_batch_charts(report["latency"]["batches"], os.path.join(out_dir, CHARTS_DIR))
        report["charts"] = {name: f"{CHARTS_DIR}/{os.path.basename(path)}" for name, path in paths.items()}
    report["bench_s"] = time.perf_counter() - start
    write_report(report, out_dir)
    return report


def settings_for(*, quick=False, orders=None, seed=None, batch_sizes=None):
    """``BenchSettings`` for the command-line options: defaults or ``QUICK``, then overrides.

    Examples
    --------
    >>> settings_for(quick=True, orders=2000, batch_sizes=[1, 100]).batch_sizes
    (1, 100)
    """
    settings = QUICK if quick else BenchSettings()
    overrides = {"orders": orders, "seed": seed, "batch_sizes": None if batch_sizes is None else tuple(batch_sizes)}
    return dataclasses.replace(settings, **{name: value for name, value in overrides.items() if value is not None})


def command_line(*, quick, orders, seed, batch_sizes, out, readme):
    """The ``nbengine bench`` command line with these options, for the top of the report."""
    parts = ["nbengine bench"]
    parts += ["--quick"] if quick else []
    parts += [f"--orders {orders}"] if orders is not None else []
    parts += [f"--seed {seed}"]
    parts += [f"--batch-sizes {','.join(map(str, batch_sizes))}"] if batch_sizes is not None else []
    parts += [f"--out {out}"]
    parts += [f"--readme {readme}"] if readme is not None else []
    return " ".join(parts)


def run_from_args(args):
    """Run ``nbengine bench`` for parsed command-line ``args``; print where the report went."""
    options = {"quick": args.quick, "orders": args.orders, "seed": args.seed, "batch_sizes": args.batch_sizes}
    command = command_line(**options, out=args.out, readme=args.readme)
    report = run_bench(settings_for(**options), args.out, command=command, quiet=args.quiet)
    md_path = os.path.join(args.out, REPORT_MD)
    if args.readme is not None:
        update_readme(args.readme, report, md_path)
        print(f"updated the bench section of {args.readme}")
    main = report["results"]
    print(f"{main['orders']:,} orders (seed {report['settings']['seed']}): {main['orders_per_s']:,.0f} orders/s, "
          f"{main['trades']:,} trades, errors {main['errors']}; bench took {report['bench_s']:.1f} s")
    print(f"report: {md_path} (and {REPORT_JSON}{'' if report['charts'] else ', charts skipped: no matplotlib'})")
    return 0
