"""Copy a bench report's summary into a README, between ``<!-- bench:start -->`` and ``<!-- bench:end -->``."""

import os

from .report import LATENCY_COLUMNS, micros, one_at_a_time_rows, rate

START = "<!-- bench:start -->"
END = "<!-- bench:end -->"


def summary_markdown(report, report_link):
    """A short summary of ``report``: the machine, the command, the headline figures.

    Parameters
    ----------
    report : dict
        What ``nbengine.bench.run_bench`` returns.
    report_link : str
        Relative link to the full ``report.md``.

    Returns
    -------
    str
    """
    info, main, ref = report["overview"], report["results"], report["reference"]
    scalar = report["latency"]["scalar"]["latency"]
    batches = {point["batch"]: point for point in report["latency"]["batches"]}
    best = max(batches.values(), key=lambda point: point["orders_per_s"])
    rows = [
        (f"`submit`, {main['batch']:,}-row batches of the standard mix, {main['orders']:,} orders",
         f"{rate(main['orders_per_s'])} orders/s, {rate(main['trades_per_s'])} trades/s"),
        ("`submit`, best point of the batch-size curve",
         f"{rate(best['orders_per_s'])} orders/s at {best['batch']:,} rows per call"),
    ]
    if 1 in batches:
        rows.append(("`submit` of a 1-row table, p50 / p99", f"{micros(batches[1]['latency']['p50'])} / "
                     f"{micros(batches[1]['latency']['p99'])} µs"))
    rows.append(("`submit_one` (scalar path), p50 / p99 / p99.9",
                 f"{micros(scalar['p50'])} / {micros(scalar['p99'])} / {micros(scalar['p99.9'])} µs"))
    for mode in report["durability"]:
        largest = mode["batches"][-1]
        rows.append((f"durability `{mode['mode']}`: {largest['batch']:,}-row batches, `submit` / `submit_many`; "
                     "`submit_one` ack p50 / p99",
                     f"{rate(largest['orders_per_s'])} / {rate(mode['pipelined']['orders_per_s'])} orders/s; "
                     f"{micros(mode['scalar_ack']['p50'])} / {micros(mode['scalar_ack']['p99'])} µs"))
    rows.append((f"against the plain-Python reference book ({ref['orders']:,} orders)",
                 f"{ref['ratio']:,.0f}× faster; {ref['trade_mismatches']} trade and {ref['event_mismatches']} "
                 "event rows differ"))
    table = "\n".join(["| what | measured |", "|---|---|", *(f"| {what} | {value} |" for what, value in rows)])
    header = ("mode", "how", "claimed", "orders/s", *(f"{name} µs" for name in LATENCY_COLUMNS))
    replaced = "\n".join(
        ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        + ["| " + " | ".join(row) + " |" for row in one_at_a_time_rows(report)]
    )
    test = report["one_at_a_time"]
    table += (
        f"\n\nThe replaced design's test, {test['orders']:,} orders one at a time (its claims beside; the disk's own "
        f"4 KiB write + fsync rate in the same run: {rate(test['disk']['syncs_per_s'])}/s):\n\n{replaced}"
    )
    return (
        f"Measured by `{report['command']}` on {info['cpu']} ({info['cores']} cores), Python {info['python']}, "
        f"numba {info['numba']}, pyarrow {info['pyarrow']}, nbengine at `{info['commit'][:12]}`, "
        f"{info['date'][:10]}. Full report with latency percentiles, every batch size, charts and what each "
        f"durability mode survives: [{report_link}]({report_link}).\n\n{table}"
    )


def update_readme(readme_path, report, report_path):
    """Replace the text between the bench markers of ``readme_path`` with ``report``'s summary.

    Parameters
    ----------
    readme_path : str or os.PathLike
        A Markdown file holding ``START`` and, after it, ``END``, each on its own line.
    report : dict
        What ``nbengine.bench.run_bench`` returns.
    report_path : str or os.PathLike
        The written ``report.md``; linked relative to the README.

    Raises
    ------
    ValueError
        When the markers are missing or out of order.
    """
    with open(readme_path, encoding="utf-8") as readme:
        text = readme.read()
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"{readme_path}: expected the lines {START!r} and then {END!r}")
    link = os.path.relpath(report_path, os.path.dirname(os.path.abspath(readme_path))).replace(os.sep, "/")
    body = summary_markdown(report, link)
    with open(readme_path, "w", encoding="utf-8") as readme:
        readme.write(f"{text[:start]}{START}\n{body}\n{text[end:]}")
