"""Seeded, reproducible order-flow generators for tests, benchmarks and examples.

Every generator returns a dict of numpy arrays with the columns and dtypes of
``COLUMNS`` (the order contract of DESIGN §2), built with whole-array numpy
operations: there is no Python loop over orders.

The output for a given set of arguments must never change: asv compares benchmark
results across commits, and a benchmark is only comparable with itself when its input
is. Changing what any generator produces therefore means bumping
``GENERATOR_VERSION`` (and the ``version`` of the benchmarks that use it).

To make that promise hold across numpy releases, random numbers come only from the raw
64-bit output of ``numpy.random.PCG64`` seeded through ``numpy.random.SeedSequence``,
whose streams numpy keeps stable; ``numpy.random.Generator`` methods are not used because
numpy may change their algorithms. Each quantity (symbol, kind, side, price, ...) has a
stream of its own, drawn in row order, and no row depends on later ones, so the first
``m`` rows of a flow of length ``n > m`` equal the flow of length ``m`` generated with
the same arguments.
"""

import operator

import numpy as np

from ._jit import JIT_DISABLED, kernel
from .codes import BUY, CANCEL, FOK, GTC, IOC, LIMIT, MARKET, MODIFY, POST_ONLY, SELL
from .state import ORDER_DTYPES

__all__ = [
    "CANCEL_HEAVY_MAX_DELAY",
    "CANCEL_HEAVY_SHARES",
    "COLUMNS",
    "GENERATOR_VERSION",
    "LIVE_TARGET_CHUNK",
    "MAX_QTY",
    "MAX_TS_GAP_NS",
    "SESSION_NS",
    "STANDARD_SHARES",
    "START_TS",
    "cancel_heavy",
    "deep_book",
    "session_mix",
    "standard_mix",
    "to_table",
]

GENERATOR_VERSION = 1

COLUMNS = ORDER_DTYPES
"""Column names in output order, mapped to their numpy dtypes: ``state.ORDER_DTYPES`` itself,
the one definition of the order contract's columns (not a copy)."""

START_TS = 1_704_205_800_000_000_000
"""Default start of the session: 2024-01-02 09:30:00 New York time (14:30:00 UTC), in ns
since the Unix epoch; the opening time of the US equity markets on the first trading day
of 2024."""

SESSION_NS = 23_400_000_000_000
"""A US equity trading session, 09:30 to 16:00: 6.5 hours in ns."""

LIVE_TARGET_CHUNK = 512
"""With ``live_targets``, rows are matched by an ``Engine`` in chunks of this many rows;
a CANCEL or MODIFY picks its target among the orders resting after the previous chunk."""

MAX_TS_GAP_NS = 1_000
"""Gaps between consecutive timestamps are uniform in ``0 .. MAX_TS_GAP_NS`` ns."""

MAX_QTY = 100
"""Quantities are uniform in ``1 .. MAX_QTY`` lots."""

STANDARD_SHARES = {"limit": 0.60, "cancel": 0.25, "market": 0.10, "ioc": 0.05}
"""Row shares of the standard mix, by kind of row."""

CANCEL_HEAVY_SHARES = {"limit": 0.45, "cancel": 0.45, "market": 0.10}
"""Row shares of the cancel-heavy mix, by kind of row."""

CANCEL_HEAVY_MAX_DELAY = 64
"""A cancel-heavy LIMIT is cancelled after 1 to this many later LIMIT or MARKET rows."""

# One independent random stream per quantity: (seed, purpose) seeds a PCG64.
_STREAM_SYMBOL = 0
_STREAM_KIND = 1
_STREAM_WALK = 2
_STREAM_SIDE = 3
_STREAM_PRICE = 4
_STREAM_QTY = 5
_STREAM_ACCOUNT = 6
_STREAM_TS = 7
_STREAM_TARGET = 8
_STREAM_ARRIVAL = 9
_STREAM_LIVE_TARGET = 10
_STREAM_PASSIVE = 11


def standard_mix(
    n,
    *,
    seed=0,
    symbols=1,
    mid=100_000,
    spread_ticks=50,
    modify=0.0,
    fok=0.0,
    post_only=0.0,
    accounts=1,
    first_id=1,
    start_ts=START_TS,
    duration=None,
    rate=None,
    live_targets=False,
    passive=0.0,
):
    """The standard order flow: limits around a random-walk mid, cancels, markets.

    Rows are, in expectation:

    - 60 % LIMIT GTC at ``mid_t + U[-spread_ticks, spread_ticks]`` (so some cross),
      minus the shares carved out by ``modify``, ``fok`` and ``post_only``;
    - 25 % CANCEL of an earlier LIMIT of the same symbol chosen uniformly among all of
      them, so many targets are already filled or cancelled (they get ``UNKNOWN_ID``);
    - 10 % MARKET (``tif`` IOC, ``price`` 0);
    - 5 % LIMIT IOC, priced like the GTC limits.

    ``mid_t`` is a random walk per symbol: it starts at ``mid`` and moves one tick up or
    down on every row of its symbol. Limit prices below 1 are raised to 1.

    Parameters
    ----------
    n : int
        Number of rows.
    seed : int, default 0
        Non-negative seed; the same arguments always give the same arrays.
    symbols : int, default 1
        Rows are spread uniformly over the books ``0 .. symbols - 1``.
    mid : int, default 100_000
        Starting mid price of every book, in ticks.
    spread_ticks : int, default 50
        Half-width of the price band around the mid, in ticks.
    modify : float, default 0.0
        Share of rows that are MODIFY of an earlier LIMIT of the same symbol (chosen as
        for CANCEL), with a new price drawn like a limit's and a new qty in
        ``1 .. MAX_QTY``.
    fok : float, default 0.0
        Share of rows that are LIMIT FOK, priced like the GTC limits.
    post_only : float, default 0.0
        Share of rows that are LIMIT POST_ONLY, priced 1 to ``spread_ticks + 1`` ticks
        behind the mid on their own side.
    accounts : int, default 1
        With 1, every row has account 0. With more, new orders draw their account
        uniformly from ``1 .. accounts`` (for self-trade prevention).
    first_id : int, default 1
        Order id of the first new order; new orders (LIMIT and MARKET rows) take
        consecutive ids from here in row order.
    start_ts : int, default START_TS
        Start of the flow in ns since the epoch. Without ``duration`` or ``rate`` the
        first row is at ``start_ts`` and later rows follow with gaps of
        ``0 .. MAX_TS_GAP_NS`` ns (so 1 M rows span about 0.5 s).
    duration : int, optional
        Market time the flow spans, in ns (``SESSION_NS`` is a 6.5-hour session). Rows
        arrive as a Poisson process conditioned on ``n`` arrivals in
        ``[start_ts, start_ts + duration)``: their times are the sorted uniform order
        statistics of that interval, drawn as normalised exponential spacings.
    rate : float, optional
        Mean arrival rate in rows per second of market time: rows arrive as a Poisson
        process (independent exponential gaps of mean ``1e9 / rate`` ns, rounded to the
        ns) after ``start_ts``. At most one of ``duration`` and ``rate``.
    passive : float, default 0.0
        Share of the LIMIT GTC rows priced behind the mid on their own side, 1 to
        ``spread_ticks + 1`` ticks away (as POST_ONLY rows are), so that they rest
        unless the book has moved through the mid; the others are priced in the band
        around the mid as above, where half of them cross it. Real books are mostly
        passive orders: with ``passive`` near 0 and ``live_targets`` the cancels empty
        the books.
    live_targets : bool, default False
        When True, each CANCEL or MODIFY names an order that is resting when it is
        drawn: the flow is matched by an ``Engine`` (default settings, ``stp="none"``) in
        chunks of ``LIVE_TARGET_CHUNK`` rows, and a CANCEL or MODIFY picks its target
        uniformly among the orders of its symbol resting after the previous chunk that
        no earlier row of its chunk targets. Only an order filled within that chunk
        before the row can make it an ``UNKNOWN_ID``. A CANCEL carries the resting
        order's current ``price`` and remaining ``qty``. When False, targets are drawn
        among every earlier LIMIT, filled or not (see above).

    Returns
    -------
    dict of str to numpy.ndarray
        The columns of ``COLUMNS``, each of length ``n``. CANCEL and MODIFY rows carry
        the target's ``order_id``, ``side`` and ``account``; a CANCEL also carries the
        target's ``price`` and ``qty``. A CANCEL or MODIFY drawn before its symbol has
        any LIMIT (with ``live_targets``: any resting order it may target) becomes a
        LIMIT GTC, so every target is an earlier LIMIT row.

    Raises
    ------
    ValueError
        If an argument is out of range (the shares, ``passive`` included, must be in
        [0, 1]), ``modify + fok + post_only > 0.6``, or both
        ``duration`` and ``rate`` are given.

    Notes
    -----
    ``modify``, ``fok`` and ``post_only`` only take rows from the LIMIT GTC share; with
    all three at 0 and ``duration``, ``rate`` and ``live_targets`` at their defaults the
    output is the same as it has always been for version ``GENERATOR_VERSION``.
    ``duration``, ``rate`` and ``live_targets`` change only the timestamps, and which
    rows are CANCEL / MODIFY targets (with the ids and copied columns that follow);
    ``passive`` changes only prices of LIMIT GTC rows.

    Timestamps of ``duration`` and ``rate`` come from ``numpy.log1p`` on doubles and are
    rounded to whole ns, so a last-bit difference between two platforms' ``log1p``
    changes a timestamp only if it falls on a rounding boundary (odds around 1e-11 a
    row). With ``duration`` the flow of ``m < n`` rows is not a prefix of the flow of
    ``n`` rows (the times are spread over the same span); with ``rate`` it is.

    Examples
    --------
    >>> flow = standard_mix(8, seed=1)
    >>> list(flow) == list(COLUMNS)
    True
    >>> flow["kind"]
    array([0, 2, 0, 0, 2, 0, 0, 0], dtype=int8)
    >>> flow["order_id"]
    array([1, 1, 2, 3, 2, 4, 5, 6])
    """
    carved = {"modify": modify, "fok": fok, "post_only": post_only}
    for name, share in {**carved, "passive": passive}.items():
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"{name} must be a share in [0, 1], got {share!r}")
    gtc_share = STANDARD_SHARES["limit"] - sum(carved.values())
    if gtc_share < 0.0:
        raise ValueError(
            "modify + fok + post_only must be at most the LIMIT share "
            f"{STANDARD_SHARES['limit']}, got {sum(carved.values())!r}"
        )
    mix = (
        (LIMIT, GTC, gtc_share),
        (MODIFY, GTC, modify),
        (LIMIT, FOK, fok),
        (LIMIT, POST_ONLY, post_only),
        (CANCEL, GTC, STANDARD_SHARES["cancel"]),
        (MARKET, IOC, STANDARD_SHARES["market"]),
        (LIMIT, IOC, STANDARD_SHARES["ioc"]),
    )
    return _flow(
        n,
        seed=seed,
        symbols=symbols,
        mid=mid,
        spread_ticks=spread_ticks,
        mix=mix,
        accounts=accounts,
        first_id=first_id,
        start_ts=start_ts,
        duration=duration,
        rate=rate,
        live_targets=live_targets,
        passive=passive,
    )


def session_mix(
    n,
    *,
    seed=0,
    symbols=4,
    duration=SESSION_NS,
    rate=None,
    start_ts=START_TS,
    modify=0.05,
    fok=0.02,
    post_only=0.03,
    passive=0.8,
    accounts=4,
    first_id=1,
):
    """A realistic session: `standard_mix` with Poisson arrivals, live targets, passive limits.

    What ``nbengine generate`` writes (its options have these defaults). ``standard_mix``
    with ``live_targets=True``: every CANCEL and MODIFY names an order resting at the
    time, so that matched by an ``Engine`` with default settings about 1 % of the rows
    are rejected ``UNKNOWN_ID`` (an order filled in the same 512-row chunk before its
    cancel); rows arrive as a Poisson process over ``duration`` ns of market time (or at
    ``rate`` rows a second), from 09:30 New York time on 2024-01-02 by default.

    Parameters
    ----------
    n : int
        Number of rows.
    seed : int, default 0
        Non-negative seed; the same arguments always give the same arrays.
    symbols : int, default 4
        Books ``0 .. symbols - 1``; rows are spread uniformly over them.
    duration : int, default SESSION_NS
        Market time the rows span, in ns (6.5 hours by default); ignored when ``rate``
        is given.
    rate : float, optional
        Rows per second of market time instead of a fixed ``duration``.
    start_ts : int, default START_TS
        Start of the session in ns since the epoch.
    modify, fok, post_only, passive : float
        Shares as in `standard_mix` (defaults 0.05, 0.02, 0.03 and 0.8).
    accounts : int, default 4
        New orders draw their account from ``1 .. accounts``.
    first_id : int, default 1
        Order id of the first new order.

    Returns
    -------
    dict of str to numpy.ndarray
        The columns of ``COLUMNS``, each of length ``n``.

    Examples
    --------
    >>> flow = session_mix(10_000, seed=1, duration=60 * 10**9)
    >>> bool(flow["ts"][-1] - START_TS < 60 * 10**9)
    True
    >>> from nbengine import Engine
    >>> from nbengine.codes import UNKNOWN_ID
    >>> reasons = Engine().submit(flow).events.column("reason").to_numpy()
    >>> bool(np.sum(reasons == UNKNOWN_ID) / len(flow["ts"]) < 0.02)
    True
    """
    return standard_mix(
        n,
        seed=seed,
        symbols=symbols,
        modify=modify,
        fok=fok,
        post_only=post_only,
        passive=passive,
        accounts=accounts,
        first_id=first_id,
        start_ts=start_ts,
        duration=None if rate is not None else duration,
        rate=rate,
        live_targets=True,
    )


def cancel_heavy(n, *, seed=0, first_id=1, start_ts=START_TS):
    """A flow where every limit is soon cancelled: cancels as frequent as limits.

    One book (symbol 0). Rows are, in expectation, 45 % LIMIT GTC, 45 % CANCEL and
    10 % MARKET (``tif`` IOC, ``price`` 0). Each LIMIT rests 1 to ``spread_ticks + 1``
    ticks behind a random-walk mid (as a POST_ONLY of `standard_mix`) and is cancelled
    once, after 1 to ``CANCEL_HEAVY_MAX_DELAY`` later LIMIT or MARKET rows, so most
    cancels find their order live; the rest find it already filled by a MARKET or by
    the mid walking through it, and get ``UNKNOWN_ID``.

    The mid starts at 100_000 and moves one tick on every LIMIT or MARKET row; the
    price band is ``spread_ticks`` = 50 ticks and qty is uniform in ``1 .. MAX_QTY``.

    Parameters
    ----------
    n : int
        Number of rows.
    seed : int, default 0
        Non-negative seed; the same arguments always give the same arrays.
    first_id : int, default 1
        Order id of the first new order, as in `standard_mix`.
    start_ts : int, default START_TS
        Timestamp of the first row in ns, as in `standard_mix`.

    Returns
    -------
    dict of str to numpy.ndarray
        The columns of ``COLUMNS``, each of length ``n``. A CANCEL row copies its
        target's ``order_id``, ``side``, ``price``, ``qty`` and ``account``.

    Raises
    ------
    ValueError
        If an argument is out of range.

    Examples
    --------
    >>> flow = cancel_heavy(100_000, seed=3)
    >>> [round(float(np.mean(flow["kind"] == kind)), 2) for kind in (LIMIT, CANCEL, MARKET)]
    [0.45, 0.45, 0.1]
    """
    n = _check_int("n", n, low=0)
    seed = _check_int("seed", seed, low=0)
    first_id = _check_int("first_id", first_id, low=-(2**62), high=2**62)
    start_ts = _check_int("start_ts", start_ts, low=0, high=2**62)
    mid, spread_ticks = 100_000, 50

    # The first n rows of the merged flow only ever involve the first n new orders.
    new_limit_share = CANCEL_HEAVY_SHARES["limit"] / (
        CANCEL_HEAVY_SHARES["limit"] + CANCEL_HEAVY_SHARES["market"]
    )
    is_limit = _uniform(seed, _STREAM_KIND, n) < new_limit_share
    side = _sides(seed, n)
    mid_now = mid + np.cumsum(_unit_steps(seed, n))
    depth = 1 + np.abs(_uniform_int(seed, _STREAM_PRICE, n, -spread_ticks, spread_ticks))
    new_orders = {
        "order_id": first_id + np.arange(n, dtype=np.int64),
        "side": side,
        "kind": np.where(is_limit, LIMIT, MARKET),
        "tif": np.where(is_limit, GTC, IOC),
        "price": np.where(is_limit, np.maximum(mid_now - side * depth, 1), 0),
        "qty": _uniform_int(seed, _STREAM_QTY, n, 1, MAX_QTY),
    }
    limit_rows = np.flatnonzero(is_limit)
    delay = _uniform_int(seed, _STREAM_TARGET, n, 1, CANCEL_HEAVY_MAX_DELAY)[limit_rows]
    cancels = {name: values[limit_rows] for name, values in new_orders.items()}
    cancels["kind"] = np.full(len(limit_rows), CANCEL)
    cancels["tif"] = np.full(len(limit_rows), GTC)
    # Order by position: new order i at 2 i, the cancel of order i + delay just after it.
    position = np.concatenate([2 * np.arange(n), 2 * (limit_rows + delay) + 1])
    merged = np.argsort(position, kind="stable")[:n]
    return _columns(
        ts=_timestamps(seed, n, start_ts),
        symbol=np.zeros(n, dtype=np.int32),
        account=np.zeros(n, dtype=np.int64),
        **{
            name: np.concatenate([new_orders[name], cancels[name]])[merged]
            for name in new_orders
        },
    )


def deep_book(
    n_resting, *, seed=0, levels=1000, mid=100_000, first_id=1, start_ts=START_TS
):
    """Passive limits that never cross: every row rests, building a deep book.

    One book (symbol 0), every row a LIMIT GTC of account 0 with qty in
    ``1 .. MAX_QTY``. Buys are priced ``mid - U[1, levels]`` and sells
    ``mid + U[1, levels]``, so no row can trade with another and the book ends with
    ``n_resting`` orders over up to ``levels`` price levels per side.

    Parameters
    ----------
    n_resting : int
        Number of rows (all of which rest).
    seed : int, default 0
        Non-negative seed; the same arguments always give the same arrays.
    levels : int, default 1000
        Price levels per side.
    mid : int, default 100_000
        The price no order reaches, in ticks; must exceed ``levels``.
    first_id : int, default 1
        Order id of the first row; rows take consecutive ids. To follow with another
        flow on the same engine, start that flow at ``first_id + n_resting``.
    start_ts : int, default START_TS
        Timestamp of the first row in ns, as in `standard_mix`.

    Returns
    -------
    dict of str to numpy.ndarray
        The columns of ``COLUMNS``, each of length ``n_resting``.

    Raises
    ------
    ValueError
        If an argument is out of range, or ``mid - levels < 1``.

    Examples
    --------
    >>> book = deep_book(4, seed=0, levels=10)
    >>> book["side"]
    array([-1,  1, -1, -1], dtype=int8)
    >>> book["price"]
    array([100007,  99996, 100002, 100006])
    """
    n_resting = _check_int("n_resting", n_resting, low=0)
    seed = _check_int("seed", seed, low=0)
    levels = _check_int("levels", levels, low=1, high=2**31)
    mid = _check_int("mid", mid, low=levels + 1, high=2**62)
    first_id = _check_int("first_id", first_id, low=-(2**62), high=2**62)
    start_ts = _check_int("start_ts", start_ts, low=0, high=2**62)

    side = _sides(seed, n_resting)
    depth = _uniform_int(seed, _STREAM_PRICE, n_resting, 1, levels)
    return _columns(
        ts=_timestamps(seed, n_resting, start_ts),
        order_id=first_id + np.arange(n_resting, dtype=np.int64),
        symbol=np.zeros(n_resting, dtype=np.int32),
        side=side,
        kind=np.full(n_resting, LIMIT, dtype=np.int8),
        tif=np.full(n_resting, GTC, dtype=np.int8),
        price=mid - side * depth,
        qty=_uniform_int(seed, _STREAM_QTY, n_resting, 1, MAX_QTY),
        account=np.zeros(n_resting, dtype=np.int64),
    )


def to_table(columns):
    """Wrap generated columns in a pyarrow Table with a declared, non-nullable schema.

    Parameters
    ----------
    columns : mapping of str to numpy.ndarray
        At least the columns of ``COLUMNS``, e.g. the output of a generator.

    Returns
    -------
    pyarrow.Table
        The columns of ``COLUMNS`` in that order, typed as listed there. Integer arrays
        of the listed dtypes are wrapped without copying.

    Examples
    --------
    >>> table = to_table(standard_mix(3))
    >>> table.num_rows, table.schema.field("side").type
    (3, DataType(int8))
    """
    import pyarrow as pa

    from .schema import ORDERS_SCHEMA

    schema = ORDERS_SCHEMA.remove_metadata()
    arrays = [pa.array(columns[field.name], type=field.type) for field in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def _flow(
    n, *, seed, symbols, mid, spread_ticks, mix, accounts, first_id, start_ts, duration, rate, live_targets,
    passive,
):
    """Build a mixed flow from ``(kind, tif, share)`` rows; see `standard_mix`."""
    n = _check_int("n", n, low=0)
    seed = _check_int("seed", seed, low=0)
    symbols = _check_int("symbols", symbols, low=1, high=2**31)
    spread_ticks = _check_int("spread_ticks", spread_ticks, low=0, high=2**30)
    mid = _check_int("mid", mid, low=1, high=2**62)
    accounts = _check_int("accounts", accounts, low=1, high=2**31)
    first_id = _check_int("first_id", first_id, low=-(2**62), high=2**62)
    start_ts = _check_int("start_ts", start_ts, low=0, high=2**62)
    if duration is not None and rate is not None:
        raise ValueError(f"give duration or rate, not both (got duration={duration!r}, rate={rate!r})")
    if duration is not None:
        duration = _check_int("duration", duration, low=1, high=2**62 - start_ts)
        ts = _poisson_in_span(seed, n, start_ts, duration)
    elif rate is not None:
        ts = _poisson_at_rate(seed, n, start_ts, _check_rate(rate))
    else:
        ts = _timestamps(seed, n, start_ts)

    mix_kinds = np.array([kind for kind, _, _ in mix], dtype=np.int8)
    mix_tifs = np.array([tif for _, tif, _ in mix], dtype=np.int8)
    share_edges = np.cumsum([share for _, _, share in mix])
    category = np.searchsorted(share_edges, _uniform(seed, _STREAM_KIND, n), side="right")
    category = np.minimum(category, len(mix) - 1)
    kind = mix_kinds[category]
    tif = mix_tifs[category]

    symbol = _uniform_int(seed, _STREAM_SYMBOL, n, 0, symbols - 1).astype(np.int32)
    groups = _SymbolGroups(symbol)

    side = _sides(seed, n)
    mid_now = mid + groups.running_sum(_unit_steps(seed, n))
    offset = _uniform_int(seed, _STREAM_PRICE, n, -spread_ticks, spread_ticks)
    behind_mid = tif == POST_ONLY
    if passive:
        behind_mid |= (kind == LIMIT) & (tif == GTC) & (_uniform(seed, _STREAM_PASSIVE, n) < passive)
    price = np.where(behind_mid, mid_now - side * (1 + np.abs(offset)), mid_now + offset)
    price = np.maximum(price, 1)
    price[kind == MARKET] = 0
    qty = _uniform_int(seed, _STREAM_QTY, n, 1, MAX_QTY)
    if accounts == 1:
        account = np.zeros(n, dtype=np.int64)
    else:
        account = _uniform_int(seed, _STREAM_ACCOUNT, n, 1, accounts)
    if live_targets:
        return _with_live_targets(
            seed, symbols, first_id,
            _columns(ts=ts, order_id=np.zeros(n), symbol=symbol, side=side, kind=kind, tif=tif,
                     price=price, qty=qty, account=account),
        )

    targeted = (kind == CANCEL) | (kind == MODIFY)
    orphaned = targeted & (groups.running_count(kind == LIMIT) == 0)
    kind[orphaned] = LIMIT
    tif[orphaned] = GTC
    targeted &= ~orphaned
    is_limit = kind == LIMIT
    is_new = is_limit | (kind == MARKET)

    order_id = first_id - 1 + np.cumsum(is_new, dtype=np.int64)

    target_rows = _earlier_limit_rows(seed, symbol, is_limit, groups, targeted)
    targeting_rows = np.flatnonzero(targeted)
    order_id[targeting_rows] = order_id[target_rows]
    side[targeting_rows] = side[target_rows]
    account[targeting_rows] = account[target_rows]
    cancel_rows = targeting_rows[kind[targeting_rows] == CANCEL]
    cancel_targets = target_rows[kind[targeting_rows] == CANCEL]
    price[cancel_rows] = price[cancel_targets]
    qty[cancel_rows] = qty[cancel_targets]

    return _columns(
        ts=ts,
        order_id=order_id,
        symbol=symbol,
        side=side,
        kind=kind,
        tif=tif,
        price=price,
        qty=qty,
        account=account,
    )


def _with_live_targets(seed, symbols, first_id, flow):
    """Re-aim ``flow``'s CANCEL and MODIFY rows at resting orders; assign order ids.

    ``flow`` holds every column but ``order_id`` as drawn for ``standard_mix``: a CANCEL
    or MODIFY row's ``price`` and ``qty`` are those of a LIMIT, its ``side`` and
    ``account`` placeholders. Chunk by chunk, the rows are matched by an ``Engine``;
    `_pick_live_targets` gives each CANCEL or MODIFY of a chunk a distinct order of its
    symbol resting after the previous chunk that the chunk's earlier rows cannot fill,
    and a row with none to take becomes a LIMIT GTC. Modified in place and returned.
    """
    from .engine import Engine  # the engine imports pyarrow; plain generators need not

    n = len(flow["ts"])
    kind, tif, symbol = flow["kind"], flow["tif"], flow["symbol"]
    order_id, side, price, qty, account = (flow[c] for c in ("order_id", "side", "price", "qty", "account"))
    draws = _raw(seed, _STREAM_LIVE_TARGET, n)
    engine = Engine()
    next_id = first_id
    wanted = np.arange(symbols, dtype=np.int32)
    for start in range(0, n, LIVE_TARGET_CHUNK):
        rows = slice(start, min(n, start + LIVE_TARGET_CHUNK))
        resting = engine.orders()
        pool = {c: resting.column(c).to_numpy() for c in ("symbol", "side", "order_id", "price", "qty", "account")}
        # Orders come by book, bids best first, then asks best first, FIFO within a price:
        # cumulative qty within each (symbol, side) is the qty at or ahead of each order.
        running = np.cumsum(pool["qty"])
        starts_group = np.ones(len(running), dtype=bool)
        starts_group[1:] = (pool["symbol"][1:] != pool["symbol"][:-1]) | (pool["side"][1:] != pool["side"][:-1])
        group_start = np.flatnonzero(starts_group)
        before_group = (running - pool["qty"])[group_start]
        pool["depth"] = running - before_group[np.cumsum(starts_group) - 1]
        best = np.zeros(2 * symbols, dtype=np.int64)  # best bid of s at 2 s, best ask at 2 s + 1
        best[2 * pool["symbol"][group_start] + (pool["side"][group_start] == SELL)] = pool["price"][group_start]
        by_id = np.lexsort((pool["order_id"], pool["symbol"]))
        pool = {c: values[by_id] for c, values in pool.items()}
        first = np.searchsorted(pool["symbol"], wanted, side="left").astype(np.int64)
        count = np.searchsorted(pool["symbol"], wanted, side="right") - first

        chunk_kind, chunk_tif = kind[rows], tif[rows]
        pick = np.empty(rows.stop - rows.start, dtype=np.int64)
        _pick_live_targets(
            (chunk_kind, chunk_tif, symbol[rows], side[rows], price[rows], qty[rows], draws[rows]),
            (first, count, pool["side"], pool["price"], pool["qty"], pool["depth"], best),
            np.arange(len(by_id), dtype=np.int64),
            np.zeros(5 * symbols, dtype=np.int64),
            pick,
        )

        orphaned = ((chunk_kind == CANCEL) | (chunk_kind == MODIFY)) & (pick < 0)
        chunk_kind[orphaned] = LIMIT
        chunk_tif[orphaned] = GTC
        is_new = (chunk_kind == LIMIT) | (chunk_kind == MARKET)
        ids = next_id - 1 + np.cumsum(is_new, dtype=np.int64)
        next_id = int(ids[-1]) + 1
        aimed = np.flatnonzero(pick >= 0)
        target = pick[aimed]
        ids[aimed] = pool["order_id"][target]
        order_id[rows] = ids
        side[rows][aimed] = pool["side"][target]
        account[rows][aimed] = pool["account"][target]
        cancels = aimed[chunk_kind[aimed] == CANCEL]
        price[rows][cancels] = pool["price"][pick[cancels]]
        qty[rows][cancels] = pool["qty"][pick[cancels]]
        engine.submit({c: values[rows] for c, values in flow.items()})
    return flow


_PICK_TRIES = 16
"""Uniform draws a CANCEL / MODIFY makes among its symbol's remaining orders before it
scans them in order for one it may take."""


@kernel
def _pick_live_targets(chunk, pool, perm, used, pick):
    """Choose a distinct, unfillable resting order for each CANCEL / MODIFY row of one chunk.

    Parameters
    ----------
    chunk : tuple of numpy.ndarray
        ``(kind, tif, symbol, side, price, qty, draws)``, one value per row of the
        chunk as drawn (a CANCEL / MODIFY row's ``side`` is a placeholder; its
        ``price`` and ``qty`` are a MODIFY's new ones, or a LIMIT's should it find no
        target); ``symbol`` in ``0 .. len(first) - 1``; ``draws`` raw uint64.
    pool : tuple of numpy.ndarray
        ``(first, count, side, price, qty, depth, best)``. The orders resting before
        the chunk, sorted by symbol then order id: symbol ``s``'s are at ``first[s] ..
        first[s] + count[s] - 1``; ``depth`` is the qty resting at or ahead of each
        order in its book side's priority order (its own qty included); ``best`` holds
        the best bid of symbol ``s`` at ``2 s`` and its best ask at ``2 s + 1``.
    perm : numpy.ndarray of int64
        Scratch, ``arange`` of the pool's length; permuted in place.
    used : numpy.ndarray of int64
        Scratch, ``5 * len(first)`` zeros. For symbol ``s``: orders taken so far at
        ``5 s``; their qty from the bids at ``5 s + 1`` and from the asks at ``5 s + 2``;
        the qty of earlier rows that can trade with the bids resting before the chunk at
        ``5 s + 3``, with the asks at ``5 s + 4``.
    pick : numpy.ndarray of int64
        Output, one per row: the pool index of the row's target, or -1 (not a CANCEL or
        MODIFY, or no order of its symbol it may take).

    Notes
    -----
    Row ``r`` may take an order that no earlier row of the chunk took and that no earlier
    row can fill: the qty of the chunk's earlier rows that could trade with it or with
    an order ahead of it (opposite side; a MARKET, or a LIMIT other than POST_ONLY or a
    MODIFY priced to reach the best price of its side before the chunk) must stay below
    its ``depth`` minus the qty the chunk already took from its side (as if every taken
    order had been ahead of it). Orders the chunk adds only ever go ahead of it or
    elsewhere, so such an order still rests when row ``r`` arrives and the engine
    (``stp="none"``) accepts the CANCEL or MODIFY. The row tries up to
    ``_PICK_TRIES`` uniform draws among its symbol's orders not yet taken (a partial
    Fisher-Yates shuffle of ``perm`` per symbol; draws after the first come from
    SplitMix64), then takes the first it may in ``perm`` order.
    """
    kind, tif, symbol, side, price, qty, draws = chunk
    first, count, pool_side, pool_qty, pool_depth, best = pool[0], pool[1], pool[2], pool[4], pool[5], pool[6]
    for row in range(kind.shape[0]):
        pick[row] = -1
        s = symbol[row]
        k = kind[row]
        row_side = side[row]
        if k == CANCEL or k == MODIFY:
            left = count[s] - used[5 * s]
            here = first[s] + used[5 * s]
            draw = draws[row]
            found = -1
            for attempt in range(_PICK_TRIES + left if left > 0 else 0):
                if attempt < _PICK_TRIES:
                    offset = np.int64(((draw >> np.uint64(32)) * np.uint64(left)) >> np.uint64(32))
                    draw = _splitmix64(draw)
                else:
                    offset = attempt - _PICK_TRIES
                order = perm[here + offset]
                book_side = 0 if pool_side[order] == BUY else 1
                if used[5 * s + 1 + book_side] + used[5 * s + 3 + book_side] < pool_depth[order]:
                    found = here + offset
                    break
            if found < 0:
                k = LIMIT  # no order to take: the row becomes a LIMIT GTC as drawn
            else:
                perm[here], perm[found] = perm[found], perm[here]
                order = perm[here]
                pick[row] = order
                used[5 * s] += 1
                used[5 * s + 1 + (0 if pool_side[order] == BUY else 1)] += pool_qty[order]
                if k == CANCEL:
                    continue
                row_side = pool_side[order]
        # Whether this row can trade with the opposite side's orders resting before the chunk.
        if k == MARKET:
            reaches = True
        elif k == LIMIT and tif[row] == POST_ONLY:
            reaches = False
        elif row_side == BUY:
            reaches = price[row] >= best[2 * s + 1]
        else:
            reaches = price[row] <= best[2 * s]
        if reaches:
            used[5 * s + 3 + (1 if row_side == BUY else 0)] += qty[row]


@kernel
def _splitmix64(state):
    """The next raw uint64 of a SplitMix64 sequence from ``state`` (Vigna's mixer)."""
    z = state + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


if JIT_DISABLED:
    _MASK64 = (1 << 64) - 1

    def _splitmix64(state):  # noqa: F811 (the same mixer on Python ints)
        """``_splitmix64`` as plain Python: numpy's uint64 scalars warn on the wrap the mixer relies on."""
        z = (int(state) + 0x9E3779B97F4A7C15) & _MASK64
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        return np.uint64(z ^ (z >> 31))


class _SymbolGroups:
    """Rows grouped by symbol, for running totals within each symbol in row order.

    Parameters
    ----------
    symbol : numpy.ndarray of int32
        The symbol of every row.
    """

    def __init__(self, symbol):
        self.by_symbol = np.argsort(symbol, kind="stable")
        sorted_symbol = symbol[self.by_symbol]
        starts_group = np.ones(len(symbol), dtype=bool)
        starts_group[1:] = sorted_symbol[1:] != sorted_symbol[:-1]
        self.group_starts = np.flatnonzero(starts_group)
        self.group_of_sorted = np.cumsum(starts_group) - 1
        self.one_group = len(self.group_starts) <= 1

    def running_sum(self, values):
        """Sum of ``values`` over the rows of the same symbol up to and including each row.

        Parameters
        ----------
        values : numpy.ndarray
            One integer or bool per row.

        Returns
        -------
        numpy.ndarray of int64
            The inclusive running sum, in row order.
        """
        if self.one_group:
            return np.cumsum(values, dtype=np.int64)
        sorted_values = values[self.by_symbol].astype(np.int64)
        running = np.cumsum(sorted_values)
        before_group = (running - sorted_values)[self.group_starts]
        sums = np.empty_like(running)
        sums[self.by_symbol] = running - before_group[self.group_of_sorted]
        return sums

    def running_count(self, flags):
        """Number of flagged rows of the same symbol strictly before each row.

        Parameters
        ----------
        flags : numpy.ndarray of bool
            One flag per row.

        Returns
        -------
        numpy.ndarray of int64
            The exclusive running count, in row order.
        """
        return self.running_sum(flags) - flags


def _earlier_limit_rows(seed, symbol, is_limit, groups, targeted):
    """Row index of the LIMIT each targeted row points at, uniform among earlier ones.

    Parameters
    ----------
    seed : int
        The flow's seed.
    symbol : numpy.ndarray of int32
        The symbol of every row.
    is_limit : numpy.ndarray of bool
        Which rows are LIMITs.
    groups : _SymbolGroups
        The rows grouped by ``symbol``.
    targeted : numpy.ndarray of bool
        Which rows need a target; each has at least one earlier LIMIT of its symbol.

    Returns
    -------
    numpy.ndarray of int64
        One row index per targeted row, in row order, each an earlier LIMIT row of the
        same symbol.
    """
    limit_rows_by_symbol = groups.by_symbol[is_limit[groups.by_symbol]]
    targeting_rows = np.flatnonzero(targeted)
    earlier_limits = groups.running_count(is_limit)[targeting_rows]
    choice_raw = _raw(seed, _STREAM_TARGET, len(symbol))[targeting_rows]
    position = _scale(choice_raw, earlier_limits)
    first_limit_of_symbol = np.searchsorted(
        symbol[limit_rows_by_symbol], symbol[targeting_rows], side="left"
    )
    return limit_rows_by_symbol[first_limit_of_symbol + position]


def _columns(**arrays):
    """The generator output: ``arrays`` in ``COLUMNS`` order, cast to its dtypes."""
    from .schema import order_columns

    return order_columns(arrays)


def _check_int(name, value, *, low, high=2**63):
    """``value`` as a Python int, or ValueError unless ``low <= value < high``."""
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}") from None
    if not low <= number < high:
        raise ValueError(f"{name} must be in [{low}, {high}), got {number}")
    return number


def _raw(seed, stream, size):
    """``size`` raw uint64 draws of the stream ``stream`` of ``seed`` (version-stable)."""
    sequence = np.random.SeedSequence(seed, spawn_key=(stream,))
    return np.random.PCG64(sequence).random_raw(size)


def _scale(raw, span):
    """Map raw uint64 draws to ``0 .. span - 1`` by multiply-shift on the top 32 bits.

    ``span`` (a scalar or one value per draw) must be in ``1 .. 2**32``.
    """
    return (((raw >> np.uint64(32)) * np.asarray(span, dtype=np.uint64)) >> np.uint64(32)).astype(
        np.int64
    )


def _uniform_int(seed, stream, size, low, high):
    """``size`` int64 draws uniform in ``low .. high`` (inclusive; span up to 2**32)."""
    return low + _scale(_raw(seed, stream, size), high - low + 1)


def _uniform(seed, stream, size):
    """``size`` float64 draws uniform in [0, 1), from the top 53 bits."""
    return (_raw(seed, stream, size) >> np.uint64(11)) * 2.0**-53


def _sides(seed, size):
    """``size`` sides, BUY or SELL with equal probability, as int8."""
    top_bit = _raw(seed, _STREAM_SIDE, size) >> np.uint64(63)
    return np.where(top_bit == 1, BUY, SELL).astype(np.int8)


def _unit_steps(seed, size):
    """``size`` random-walk steps of +1 or -1 tick, as int64."""
    top_bit = _raw(seed, _STREAM_WALK, size) >> np.uint64(63)
    return 2 * top_bit.astype(np.int64) - 1


def _check_rate(rate):
    """``rate`` as a positive finite float, or TypeError / ValueError."""
    try:
        value = float(rate)
    except (TypeError, ValueError):
        raise TypeError(f"rate must be a number, got {type(rate).__name__}") from None
    if not (value > 0.0 and np.isfinite(value)):
        raise ValueError(f"rate must be a positive number of rows per second, got {rate!r}")
    return value


def _exponentials(seed, size):
    """``size`` float64 draws of the standard exponential distribution (inverse CDF)."""
    return -np.log1p(-_uniform(seed, _STREAM_ARRIVAL, size))


def _poisson_in_span(seed, size, start_ts, duration):
    """Poisson arrival times of ``size`` rows conditioned to fall in ``[start_ts, start_ts + duration)``.

    Given their number, the arrivals of a Poisson process on an interval are uniform
    order statistics; those are the partial sums of ``size + 1`` exponentials divided by
    their total. Floored to the ns, so non-decreasing and below ``start_ts + duration``.
    """
    sums = np.cumsum(_exponentials(seed, size + 1))
    fraction = sums[:size] / sums[size]
    return start_ts + np.floor(fraction * duration).astype(np.int64)


def _poisson_at_rate(seed, size, start_ts, rate):
    """Poisson arrival times after ``start_ts`` at ``rate`` rows per second: exponential gaps rounded to the ns."""
    gaps = np.rint(_exponentials(seed, size) * (1e9 / rate))
    if size and start_ts + float(np.sum(gaps)) >= 2.0**62:
        raise ValueError(f"rate {rate!r} is too low for {size} rows: their times pass 2**62 ns")
    return start_ts + np.cumsum(gaps.astype(np.int64))


def _timestamps(seed, size, start_ts):
    """Non-decreasing ns timestamps from ``start_ts`` with gaps of ``0 .. MAX_TS_GAP_NS``."""
    gaps = _uniform_int(seed, _STREAM_TS, size, 0, MAX_TS_GAP_NS)
    return start_ts + np.cumsum(gaps) - gaps
