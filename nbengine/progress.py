"""A progress bar on a terminal only: tqdm when installed (``pip install nbengine[progress]``)."""

import contextlib
import sys


@contextlib.contextmanager
def progress_bar(total, *, quiet=False, unit="rows", stream=None):
    """Yield ``update(done)``, which moves a bar to ``done`` of ``total``; silent when not wanted.

    The bar is drawn only when ``quiet`` is False, ``stream`` (default ``sys.stderr``) is a
    terminal and tqdm is importable; otherwise ``update`` does nothing. tqdm shows the
    count, the rate and the time left.
    """
    stream = sys.stderr if stream is None else stream
    tqdm = None
    if not quiet and stream.isatty():
        with contextlib.suppress(ImportError):
            from tqdm import tqdm
    if tqdm is None:
        yield lambda done: None
        return
    with tqdm(total=total, unit=unit, unit_scale=True, file=stream, dynamic_ncols=True) as bar:
        yield lambda done: bar.update(max(0, done - bar.n))


__all__ = ["progress_bar"]
