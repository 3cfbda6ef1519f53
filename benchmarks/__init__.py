"""asv benchmarks of nbengine; see README.md in this directory.

This module holds the helpers the benchmark files share. Inputs come only from the
seeded generators of ``nbengine.generate``, whose output never changes for a given
``GENERATOR_VERSION``, so results stay comparable across commits.
"""

import functools

import nbengine
from nbengine import generate

SUITE_VERSION = 1
"""Bump when a benchmark starts measuring something different."""

VERSION = f"{SUITE_VERSION}.{generate.GENERATOR_VERSION}"
"""The asv ``version`` of every benchmark: results are comparable while it is equal."""

SEED = 0
"""Seed of every generated input. Changing it changes every input: bump ``SUITE_VERSION``."""

# asv imports the suite once and forks one process per benchmark and parameter, so
# compiling (or loading numba's cache) here does it once for the whole run. Every
# ``setup`` still calls ``nbengine.warmup()``, a no-op by then, so benchmarks stay
# correct when asv spawns instead of forking.
nbengine.warmup()


@functools.lru_cache(maxsize=None)
def cached_flow(name, rows, **options):
    """A generated flow, built once per benchmark process.

    asv may call ``setup`` before every sample; caching keeps that cheap. Callers must
    not modify the returned arrays.

    Parameters
    ----------
    name : {"standard_mix", "cancel_heavy", "deep_book"}
        The generator of ``nbengine.generate`` to call.
    rows : int
        Number of rows.
    **options
        Keyword arguments of the generator (first_id, ...); ``seed`` is ``SEED`` unless given.

    Returns
    -------
    dict of str to numpy.ndarray
        The generator's columns.
    """
    return getattr(generate, name)(rows, **{"seed": SEED, **options})


def split(columns, batch):
    """Consecutive slices of ``batch`` rows (the last may be shorter), as views.

    Parameters
    ----------
    columns : mapping of str to numpy.ndarray
        Equal-length columns.
    batch : int
        Rows per slice.

    Returns
    -------
    list of dict of str to numpy.ndarray
        The slices in order; together they cover every row once.
    """
    rows = len(columns["ts"])
    return [
        {name: values[start : start + batch] for name, values in columns.items()}
        for start in range(0, rows, batch)
    ]


def output_rows(result):
    """Build a submit result's ``trades`` and ``events`` tables and count their rows.

    ``SubmitResult`` builds its tables when they are first read, so a benchmark of the
    Arrow path reads them to include that cost.

    Parameters
    ----------
    result : nbengine.SubmitResult
        What ``Engine.submit`` or ``Engine.submit_one`` returned.

    Returns
    -------
    int
        Trade rows plus event rows.
    """
    return result.trades.num_rows + result.events.num_rows
