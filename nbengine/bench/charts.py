"""PNG charts of the batch-size curve; matplotlib is imported only here, and only if installed."""

import os

CHART_FILES = {"throughput": "batch_throughput.png", "latency": "batch_latency.png"}
"""Chart name → file name inside the charts directory."""


def matplotlib_available():
    """Whether matplotlib can be imported (``pip install "nbengine[bench]"``)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def draw_batch_charts(points, directory):
    """Draw throughput and per-call latency against batch size.

    Parameters
    ----------
    points : list of dict
        ``runs.batch_point`` results, in increasing batch size.
    directory : str or os.PathLike
        Where the PNGs go (created if missing).

    Returns
    -------
    dict of str to str
        Chart name → path of its PNG (keys of ``CHART_FILES``).
    """
    from matplotlib.figure import Figure

    os.makedirs(directory, exist_ok=True)
    batches = [point["batch"] for point in points]
    paths = {name: os.path.join(directory, file) for name, file in CHART_FILES.items()}

    figure = Figure(figsize=(7, 4), layout="constrained")
    axes = figure.subplots()
    axes.plot(batches, [point["orders_per_s"] for point in points], marker="o")
    _log_axes(axes, "orders per second", "Engine.submit throughput against batch size")
    figure.savefig(paths["throughput"], dpi=110)

    figure = Figure(figsize=(7, 4), layout="constrained")
    axes = figure.subplots()
    for stat in ("p50", "p99", "max"):
        axes.plot(batches, [point["latency"][stat] for point in points], marker="o", label=stat)
    axes.legend()
    _log_axes(axes, "µs per submit call", "Engine.submit latency per call against batch size")
    figure.savefig(paths["latency"], dpi=110)
    return paths


def _log_axes(axes, ylabel, title):
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("rows per submit call")
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.grid(True, which="both", alpha=0.3)
