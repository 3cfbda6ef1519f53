"""Render a bench report (the dict ``nbengine.bench.run_bench`` builds) as Markdown and JSON."""

import json
import os

from nbengine.wal.writer import DEFAULT_MAX_QUEUED_BYTES, DEFAULT_MAX_QUEUED_FRAMES

REPORT_MD = "report.md"
REPORT_JSON = "report.json"
CHARTS_DIR = "report"
"""Charts go to ``OUT/report/*.png``, beside ``OUT/report.md``."""

_QUEUE_BOUND = f"≤ {DEFAULT_MAX_QUEUED_FRAMES:,} frames and ≤ {DEFAULT_MAX_QUEUED_BYTES >> 20} MiB (the default queue bound)"

DURABILITY_PROMISES = {
    "none": ("matched (no WAL)", "nothing", "nothing"),
    "async": (
        "matched and its frame queued",
        f"every frame the WAL thread has written; loses at most what is still queued: {_QUEUE_BOUND}",
        f"every frame fsynced (the writer fsyncs after each write, no delay); loses at most the same bound",
    ),
    "group": (
        "its frame is fsynced (frames queued meanwhile share the fsync)",
        "every acknowledged batch",
        "every acknowledged batch",
    ),
    "sync": (
        "its own frame is written and fsynced (never shared)",
        "every acknowledged batch",
        "every acknowledged batch",
    ),
}
"""Mode → (acknowledged when, survives kill -9, survives power loss), as README "Durability"
and ``docs/wal-format.md`` state them; "power loss" assumes the disk honours fsync."""

LATENCY_COLUMNS = ("avg", "min", "p50", "p90", "p99", "p99.9", "max")

REPLACED_DESIGN_CLAIMS = {
    "none": "418.8 K orders/s, 1.75 µs",
    "async": "~200 K orders/s, avg ~5 µs, p99 ~15 µs, max ~50 µs",
    "group": "~200 K orders/s, \"zero data loss\"",
    "sync": "9.78 K orders/s, 99.68 µs",
}
"""What the design nbengine replaces claimed for its 50,000-order one-at-a-time test (estimates, not runs)."""

ONE_AT_A_TIME_HOW = {
    "none": "`submit_one` in a loop",
    "async": "`submit_one` in a loop (ack at enqueue)",
    "group": "`submit_rows`, one thread (ack = result released once durable)",
    "sync": "`submit_one` in a loop (one fsync per order)",
}


def rate(per_second):
    """A rate with an SI prefix: ``rate(6_310_000) == "6.31 M"``."""
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if per_second >= scale:
            return f"{per_second / scale:.2f} {prefix}"
    return f"{per_second:.0f}"


def micros(value):
    """A duration in µs with sensible digits: ``micros(3.456) == "3.46"``, ``micros(12345.6) == "12,346"``."""
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _overview(report):
    info, settings = report["overview"], report["settings"]
    rows = [
        ("nbengine", f"{info['nbengine']} at commit `{info['commit']}`"),
        ("Python / numba / numpy / pyarrow", f"{info['python']} / {info['numba']} / {info['numpy']} / {info['pyarrow']}"),
        ("CPU", f"{info['cpu']}, {info['cores']} cores available"),
        ("OS", info["os"]),
        ("date", info["date"]),
        ("flow", f"`generate.standard_mix({settings['orders']:,}, seed={settings['seed']})` "
                 f"(generator version {report['generator_version']})"),
        ("warm-up (`nbengine.warmup()`, not in any figure below)", f"{report['warmup_s']:.2f} s"),
        ("WAL directories", f"new temporary directories under `{report['wal_parent']}`"),
        ("whole bench", f"{report['bench_s']:.1f} s"),
    ]
    return "## Test overview\n\n" + _table(("", ""), rows)


def _results(report):
    main, ref = report["results"], report["reference"]
    mismatches = ref["trade_mismatches"] + ref["event_mismatches"] + (0 if ref["state_hash_equal"] else 1)
    rows = [
        ("orders", f"{main['orders']:,} in `submit` calls of {main['batch']:,} rows, one fresh engine"),
        ("time in `submit`", f"{main['seconds']:.3f} s"),
        ("throughput", f"{rate(main['orders_per_s'])} orders/s"),
        ("trades", f"{main['trades']:,}"),
        ("trade rate", f"{rate(main['trades_per_s'])} trades/s ({main['trades_per_order']:.3f} per order)"),
        ("events", f"{main['events']:,}"),
        ("rejected orders", f"{sum(main['rejects'].values()):,}"),
        ("errors", f"{main['errors'] + mismatches} ({main['errors']} `submit` calls raised; {mismatches} "
                   f"differences from the reference book on the first {ref['orders']:,} orders, checked below)"),
    ]
    text = "## Results\n\n" + _table(("", ""), rows)
    if main["first_error"]:
        text += f"\n\nFirst error: `{main['first_error']}`"
    reasons = [(reason, f"{count:,}") for reason, count in main["rejects"].items()]
    text += "\n\nRejects by reason (see `nbengine/codes.py`; `UNKNOWN_ID` is the standard mix's cancels " \
            "of orders already filled or cancelled):\n\n" + _table(("reason", "orders"), reasons or [("none", 0)])
    return text


def _latency_row(label, stats):
    return (label, *(micros(stats[name]) for name in LATENCY_COLUMNS))


def _latency(report):
    scalar = report["latency"]["scalar"]
    text = (
        "## Latency\n\n"
        f"### Per order: `Engine.submit_one` (scalar path)\n\n"
        f"{scalar['orders']:,} orders one at a time into a fresh engine (no WAL), each call timed with "
        f"`time.perf_counter_ns`; {rate(scalar['orders_per_s'])} orders/s over the summed call times. µs:\n\n"
        + _table(("calls", *LATENCY_COLUMNS), [_latency_row(f"{scalar['latency']['n']:,}", scalar["latency"])])
    )
    rows = [
        (f"{p['batch']:,}", f"{p['calls']:,}", f"{rate(p['orders_per_s'])}",
         *(micros(p["latency"][name]) for name in LATENCY_COLUMNS))
        for p in report["latency"]["batches"]
    ]
    text += (
        "\n\n### Per batch: `Engine.submit` (Arrow table in, trade and event tables out)\n\n"
        "Consecutive slices of the flow into a fresh engine, each call timed; small batches stop after "
        f"{report['settings']['max_calls']:,} calls, large ones repeat the flow on fresh engines until "
        f"{report['settings']['min_samples']} calls were timed. Orders/s is orders over the summed call times; "
        "latencies are µs per call (the whole batch):\n\n"
        + _table(("batch rows", "calls", "orders/s", *LATENCY_COLUMNS), rows)
    )
    return text


def _batch_curve(report):
    charts = report["charts"]
    if charts is None:
        return "## Batch-size curve\n\nCharts skipped: matplotlib is not installed " \
               "(`pip install \"nbengine[bench]\"`); the numbers are in the table above."
    return (
        "## Batch-size curve\n\n"
        f"![throughput against batch size]({charts['throughput']})\n\n"
        f"![latency per call against batch size]({charts['latency']})"
    )


def _percentiles(stats):
    return f"{micros(stats['p50'])} / {micros(stats['p99'])} / {micros(stats['p99.9'])}"


def _durability(report):
    modes = report["durability"]
    first = modes[0]
    promises = [(f"`{mode['mode']}`", *DURABILITY_PROMISES[mode["mode"]]) for mode in modes]
    header = ["mode"]
    for point in first["batches"]:
        header += [f"orders/s, {point['batch']:,}-row batches", f"ack µs p50 / p99 / p99.9, {point['batch']:,} rows"]
    header += [f"`submit_many` orders/s, {first['pipelined']['batch']:,} rows"]
    header += ["`submit_one` orders/s", "`submit_one` ack µs p50 / p99 / p99.9"]
    rows = []
    for mode in modes:
        cells = [f"`{mode['mode']}`"]
        for point in mode["batches"]:
            cells += [rate(point["orders_per_s"]), _percentiles(point["ack"])]
        cells += [rate(mode["pipelined"]["orders_per_s"])]
        cells += [rate(mode["scalar_orders_per_s"]), _percentiles(mode["scalar_ack"])]
        rows.append(cells)
    sizes = " and ".join(f"{point['batch']:,}" for point in first["batches"])
    return (
        "## Durability\n\n"
        "What each mode promises (the contract of README \"Durability\" and `docs/wal-format.md`, "
        "proven by the crash tests: `tests/test_wal_crash.py` SIGKILLs a child submitting in each mode at "
        "random moments and recovery holds every acknowledged batch; \"power loss\" assumes the disk honours "
        "`fsync`). This bench measures speed only.\n\n"
        + _table(("mode", "acknowledged once", "survives kill -9", "survives power loss"), promises)
        + f"\n\nMeasured with `Engine(wal_dir=tmp, durability=mode)`: the first {first['orders']:,} orders in "
        f"`submit` calls of {sizes} rows, then {first['scalar_orders']:,} orders through `submit_one`, each "
        "into a fresh engine and WAL directory. The acknowledgement latency runs from the call until the caller "
        "holds a result as durable as the mode promises: `submit` returning, then `result.wait_durable()` for "
        "`group` and `sync`; `async` acknowledges before its frame is fsynced. Throughput is wall time from the "
        "first call through `close()`, which fsyncs what `async` still holds. One submitting thread; "
        "`submit_many` (the same batches, one caller) matches the next batch while the previous one syncs "
        "and hands each result back once durable.\n\n"
        + _table(header, rows)
    )


def _reference(report):
    ref = report["reference"]
    rows = [
        ("orders (the flow's first)", f"{ref['orders']:,}"),
        ("`nbengine.Engine.submit`, one call", f"{rate(ref['engine_orders_per_s'])} orders/s"),
        ("`nbengine.reference.ReferenceBook.submit`, one call", f"{rate(ref['reference_orders_per_s'])} orders/s"),
        ("engine / reference", f"{ref['ratio']:,.0f}×"),
        ("trades (reference)", f"{ref['trades']:,}; rows differing from the engine's: {ref['trade_mismatches']}"),
        ("events (reference)", f"{ref['events']:,}; rows differing from the engine's: {ref['event_mismatches']}"),
        ("resting orders equal (`state_hash`)", "yes" if ref["state_hash_equal"] else "NO"),
    ]
    return (
        "## Against the plain-Python reference book\n\n"
        "The same orders through the engine and through `nbengine.reference.ReferenceBook` (dicts and deques, "
        "the oracle of the test suite), each from an empty book; every trade and event row compared, column by "
        "column.\n\n" + _table(("", ""), rows)
    )


def one_at_a_time_rows(report):
    """The replaced design's table as rows: mode, how, claimed, measured orders/s, then µs per ``LATENCY_COLUMNS``."""
    return [
        (f"`{mode['mode']}`", ONE_AT_A_TIME_HOW[mode["mode"]], REPLACED_DESIGN_CLAIMS[mode["mode"]],
         rate(mode["orders_per_s"]), *(micros(mode["latency"][name]) for name in LATENCY_COLUMNS))
        for mode in report["one_at_a_time"]["modes"]
    ]


def _one_at_a_time(report):
    test = report["one_at_a_time"]
    disk = test["disk"]
    return (
        "## One order at a time: the replaced design's test\n\n"
        f"The test the design nbengine replaces reported: {test['orders']:,} orders of the standard mix, one at a "
        "time, in each durability mode, each into a fresh engine (and WAL directory). Its figures were estimates; "
        "these are runs. `none`, `async` and `sync`: orders/s over the summed `submit_one` call times, latency "
        "per call; `group`: one thread pulling results from `Engine.submit_rows` (default `ahead`), orders/s "
        "over wall time, latency from handing the order over to holding its durable result. µs:\n\n"
        + _table(("mode", "how", "the replaced design claimed", "orders/s", *LATENCY_COLUMNS),
                 one_at_a_time_rows(report))
        + f"\n\nThe disk itself, in the same run and directory: {disk['syncs']:,} appends of 4 KiB each followed "
        f"by `fsync`: {rate(disk['syncs_per_s'])} per second, µs:\n\n"
        + _table(LATENCY_COLUMNS, [tuple(micros(disk["latency"][name]) for name in LATENCY_COLUMNS)])
    )


def render_markdown(report):
    """The report as Markdown: the command that reproduces it, then every section.

    Parameters
    ----------
    report : dict
        What ``nbengine.bench.run_bench`` returns.

    Returns
    -------
    str
    """
    sections = [
        "# nbengine performance report",
        "Measured on the machine below by real runs of the public API (nothing estimated). Reproduce with:\n\n"
        f"```bash\n{report['command']}\n```\n\n"
        "(from a checkout: `pip install \".[bench]\"` first; the charts need matplotlib, the progress bar tqdm). "
        "Numbers move between runs on a shared or virtualised machine; run it on yours.",
        _overview(report), _results(report), _latency(report), _one_at_a_time(report), _batch_curve(report),
        _durability(report), _reference(report),
    ]
    return "\n\n".join(sections) + "\n"


def write_report(report, out_dir):
    """Write ``report.json`` and ``report.md`` into ``out_dir``; return their paths."""
    os.makedirs(out_dir, exist_ok=True)
    json_path = os.path.join(out_dir, REPORT_JSON)
    md_path = os.path.join(out_dir, REPORT_MD)
    with open(json_path, "w", encoding="utf-8") as out:
        json.dump(report, out, indent=2)
        out.write("\n")
    with open(md_path, "w", encoding="utf-8") as out:
        out.write(render_markdown(report))
    return md_path, json_path
