"""``nbengine lobster-check``: replay a LOBSTER day and compare the engine's book with the exchange's.

The replay is `loaders.replay` (the same one that makes the faithful order flow for
backtests); this module reads the files and hands back its `CheckReport`.
"""

from . import lobster
from .replay import CheckReport, Mismatch, replay_day

__all__ = ["CheckReport", "Mismatch", "check", "check_day"]


def check(messages_path, orderbook_path, *, price_unit=lobster.DEFAULT_PRICE_UNIT, rows=None, progress=None):
    """Replay a LOBSTER message file and compare the engine's book with the orderbook file.

    Parameters
    ----------
    messages_path, orderbook_path : str or Path
        The pair of files of one day and depth.
    price_unit : int
        LOBSTER price units per tick (default one cent); every price must be on that grid.
    rows : int, optional
        Replay only the first ``rows`` messages.
    progress : callable, optional
        Called as ``progress(rows_done)`` from time to time (for a progress bar).

    Returns
    -------
    CheckReport
        ``report.ok`` is False on any mismatch or wrong maker; ``str(report)`` prints it.
    """
    messages = lobster.read_messages(messages_path)
    orderbook = lobster.read_orderbook(orderbook_path)
    if rows is not None:
        messages, orderbook = messages.slice(0, rows), orderbook[:rows]
    return check_day(messages, orderbook, price_unit=price_unit, progress=progress)


def check_day(messages, orderbook, *, price_unit=lobster.DEFAULT_PRICE_UNIT, progress=None):
    """`check` on tables already read (``lobster.read_messages`` / ``lobster.read_orderbook``)."""
    return replay_day(messages, orderbook, price_unit=price_unit, progress=progress).report
