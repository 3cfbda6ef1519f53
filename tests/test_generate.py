"""Tests of the seeded order-flow generators (nbengine/generate.py)."""

import hashlib
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nbengine import Engine, generate
from nbengine.cli import main
from nbengine.codes import (
    BUY,
    CANCEL,
    FOK,
    GTC,
    IOC,
    LIMIT,
    MARKET,
    MODIFY,
    POST_ONLY,
    REJECTED,
    SELL,
    UNKNOWN_ID,
)

SHARE_TOLERANCE = 0.01
"""Absolute tolerance on a kind's share over 100k rows (about 7 standard deviations)."""

GENERATORS = {
    "standard_mix": lambda n, seed: generate.standard_mix(n, seed=seed),
    "standard_mix_all_options": lambda n, seed: generate.standard_mix(
        n, seed=seed, symbols=5, modify=0.1, fok=0.05, post_only=0.05, accounts=3
    ),
    "cancel_heavy": lambda n, seed: generate.cancel_heavy(n, seed=seed),
    "deep_book": lambda n, seed: generate.deep_book(n, seed=seed),
}

PINNED_DIGESTS = {
    "standard_mix": "f2f375d76b7624045fad3d04279934c81215da0acec1193fc5ba7c15cc0fc1e1",
    "standard_mix_all_options": "4e3e12aad923267bb3659ef7ec827e2ce6809782720bfaae23b21d474ef659fa",
    "cancel_heavy": "c9997bed2baaf8d650206c31fa2f31aa7f7f5caa56d9b04a1855fa87c8fbb894",
    "deep_book": "fdedd6e77efa0495dee427cc12d5ed8f8364471055788eca0aaa39e4eb3d3053",
}
"""SHA-256 of each generator's 10k rows for seed 7, as of GENERATOR_VERSION 1."""


def digest(flow):
    """SHA-256 hex of the columns of a flow, in COLUMNS order, little-endian."""
    sha = hashlib.sha256()
    for name, dtype in generate.COLUMNS.items():
        sha.update(name.encode())
        sha.update(np.ascontiguousarray(flow[name], dtype=dtype.newbyteorder("<")).tobytes())
    return sha.hexdigest()


def assert_flows_equal(left, right):
    assert list(left) == list(right)
    for name in left:
        np.testing.assert_array_equal(left[name], right[name], err_msg=f"column {name}")


def share(flow, kind, tif=None):
    """Fraction of rows of ``kind`` (and ``tif``, when given)."""
    rows = flow["kind"] == kind
    if tif is not None:
        rows &= flow["tif"] == tif
    return rows.mean()


def target_rows(flow):
    """Row of the new order each CANCEL / MODIFY row names, and those rows' indices.

    Asserts along the way that every target id belongs to a new order.
    """
    is_new = np.isin(flow["kind"], (LIMIT, MARKET))
    new_rows = np.flatnonzero(is_new)
    by_id = np.argsort(flow["order_id"][new_rows])
    sorted_ids = flow["order_id"][new_rows][by_id]
    targeting = np.flatnonzero(np.isin(flow["kind"], (CANCEL, MODIFY)))
    wanted = flow["order_id"][targeting]
    found = np.searchsorted(sorted_ids, wanted)
    assert np.all(found < len(sorted_ids)), "a target id is not any new order's id"
    np.testing.assert_array_equal(sorted_ids[found], wanted, err_msg="unknown target id")
    return new_rows[by_id][found], targeting


@pytest.mark.parametrize("name", GENERATORS)
def test_same_seed_gives_identical_arrays(name):
    assert_flows_equal(GENERATORS[name](5_000, 11), GENERATORS[name](5_000, 11))


@pytest.mark.parametrize("name", GENERATORS)
def test_different_seeds_give_different_arrays(name):
    first, second = GENERATORS[name](5_000, 11), GENERATORS[name](5_000, 12)
    assert any(not np.array_equal(first[c], second[c]) for c in generate.COLUMNS)


@pytest.mark.parametrize("name", GENERATORS)
def test_shorter_flow_is_a_prefix_of_a_longer_one(name):
    short, long = GENERATORS[name](3_000, 5), GENERATORS[name](10_000, 5)
    assert_flows_equal(short, {c: long[c][:3_000] for c in long})


@pytest.mark.parametrize("name", GENERATORS)
def test_output_is_pinned(name):
    """The flows benchmarks run on must never change silently.

    If this fails on purpose, bump GENERATOR_VERSION and the benchmarks' ``version``,
    then update PINNED_DIGESTS.
    """
    assert digest(GENERATORS[name](10_000, 7)) == PINNED_DIGESTS[name]


@pytest.mark.parametrize("name", GENERATORS)
def test_columns_and_dtypes(name):
    flow = GENERATORS[name](1_000, 0)
    assert list(flow) == list(generate.COLUMNS)
    for column, dtype in generate.COLUMNS.items():
        assert flow[column].dtype == dtype, column
        assert flow[column].shape == (1_000,), column


@pytest.mark.parametrize("name", GENERATORS)
def test_empty_flow(name):
    flow = GENERATORS[name](0, 0)
    assert all(flow[c].shape == (0,) and flow[c].dtype == d for c, d in generate.COLUMNS.items())


@pytest.mark.parametrize("name", GENERATORS)
def test_ts_non_decreasing_from_start(name):
    ts = GENERATORS[name](10_000, 3)["ts"]
    assert ts[0] == generate.START_TS
    assert np.all(np.diff(ts) >= 0)
    assert np.diff(ts).max() <= generate.MAX_TS_GAP_NS


@pytest.mark.parametrize("name", GENERATORS)
def test_new_order_ids_unique_and_consecutive(name):
    flow = GENERATORS[name](10_000, 3)
    ids = flow["order_id"][np.isin(flow["kind"], (LIMIT, MARKET))]
    np.testing.assert_array_equal(ids, np.arange(1, len(ids) + 1))


@pytest.mark.parametrize("name", GENERATORS)
def test_new_orders_are_well_formed(name):
    flow = GENERATORS[name](10_000, 3)
    new = np.isin(flow["kind"], (LIMIT, MARKET))
    assert np.all(np.isin(flow["side"][new], (BUY, SELL)))
    assert np.all((flow["qty"] >= 1) & (flow["qty"] <= generate.MAX_QTY))
    assert np.all(flow["price"][flow["kind"] == LIMIT] >= 1)
    assert np.all(flow["price"][flow["kind"] == MARKET] == 0)
    assert np.all(flow["tif"][flow["kind"] == MARKET] == IOC)


def test_standard_mix_shares():
    flow = generate.standard_mix(100_000, seed=1)
    expected = {
        (LIMIT, GTC): 0.60,
        (CANCEL, None): 0.25,
        (MARKET, None): 0.10,
        (LIMIT, IOC): 0.05,
        (MODIFY, None): 0.0,
        (LIMIT, FOK): 0.0,
        (LIMIT, POST_ONLY): 0.0,
    }
    for (kind, tif), expected_share in expected.items():
        assert share(flow, kind, tif) == pytest.approx(expected_share, abs=SHARE_TOLERANCE)


def test_standard_mix_carve_outs_come_from_the_limit_share():
    flow = generate.standard_mix(100_000, seed=1, modify=0.1, fok=0.05, post_only=0.05)
    expected = {
        (LIMIT, GTC): 0.40,
        (MODIFY, None): 0.10,
        (LIMIT, FOK): 0.05,
        (LIMIT, POST_ONLY): 0.05,
        (CANCEL, None): 0.25,
        (MARKET, None): 0.10,
        (LIMIT, IOC): 0.05,
    }
    for (kind, tif), expected_share in expected.items():
        assert share(flow, kind, tif) == pytest.approx(expected_share, abs=SHARE_TOLERANCE)


def test_cancel_heavy_shares():
    flow = generate.cancel_heavy(100_000, seed=1)
    assert share(flow, LIMIT, GTC) == pytest.approx(0.45, abs=SHARE_TOLERANCE)
    assert share(flow, CANCEL) == pytest.approx(0.45, abs=SHARE_TOLERANCE)
    assert share(flow, MARKET) == pytest.approx(0.10, abs=SHARE_TOLERANCE)
    assert np.all(flow["symbol"] == 0)


@pytest.mark.parametrize(
    "flow",
    [
        generate.standard_mix(20_000, seed=2, symbols=7, modify=0.1),
        generate.cancel_heavy(20_000, seed=2),
    ],
    ids=["standard_mix", "cancel_heavy"],
)
def test_targets_are_earlier_limits_of_the_same_symbol(flow):
    targets, targeting = target_rows(flow)
    assert len(targeting) > 0
    assert np.all(targets < targeting)
    assert np.all(flow["kind"][targets] == LIMIT)
    np.testing.assert_array_equal(flow["symbol"][targets], flow["symbol"][targeting])
    np.testing.assert_array_equal(flow["side"][targets], flow["side"][targeting])
    np.testing.assert_array_equal(flow["account"][targets], flow["account"][targeting])
    cancels = flow["kind"][targeting] == CANCEL
    for column in ("price", "qty"):
        np.testing.assert_array_equal(
            flow[column][targets][cancels], flow[column][targeting][cancels]
        )


def test_standard_mix_targets_reach_far_back():
    flow = generate.standard_mix(20_000, seed=2)
    targets, targeting = target_rows(flow)
    assert np.median(targeting - targets) > 1_000


def test_cancel_heavy_cancels_each_limit_once_soon_after():
    flow = generate.cancel_heavy(20_000, seed=2)
    targets, targeting = target_rows(flow)
    assert len(np.unique(targets)) == len(targets)
    new_orders_so_far = np.cumsum(np.isin(flow["kind"], (LIMIT, MARKET)))
    delay = new_orders_so_far[targeting] - new_orders_so_far[targets]
    assert delay.min() >= 1 and delay.max() <= generate.CANCEL_HEAVY_MAX_DELAY
    limits = np.flatnonzero(flow["kind"] == LIMIT)
    cancelled = np.isin(limits, targets)
    assert np.all(cancelled[: -generate.CANCEL_HEAVY_MAX_DELAY])


def test_cancel_heavy_limits_rest_behind_the_mid():
    """The mid moves one tick per new order, so adjacent opposite limits never cross."""
    flow = generate.cancel_heavy(20_000, seed=2)
    new = np.isin(flow["kind"], (LIMIT, MARKET))
    kind, side, price = flow["kind"][new], flow["side"][new], flow["price"][new]
    opposite_limits = (kind[:-1] == LIMIT) & (kind[1:] == LIMIT) & (side[:-1] != side[1:])
    buy = np.where(side[:-1] == BUY, price[:-1], price[1:])[opposite_limits]
    sell = np.where(side[:-1] == SELL, price[:-1], price[1:])[opposite_limits]
    assert len(buy) > 1_000
    assert np.all(sell > buy)


def test_modify_rows_carry_a_new_price_and_qty():
    flow = generate.standard_mix(20_000, seed=4, modify=0.2)
    modify = flow["kind"] == MODIFY
    assert np.all(flow["price"][modify] >= 1)
    assert np.all((flow["qty"][modify] >= 1) & (flow["qty"][modify] <= generate.MAX_QTY))
    targets, targeting = target_rows(flow)
    is_modify = flow["kind"][targeting] == MODIFY
    assert np.any(flow["price"][targets][is_modify] != flow["price"][targeting][is_modify])


def test_carve_outs_only_replace_limit_gtc_rows():
    plain = generate.standard_mix(20_000, seed=4)
    carved = generate.standard_mix(20_000, seed=4, modify=0.1, fok=0.1, post_only=0.1)
    changed = (plain["kind"] != carved["kind"]) | (plain["tif"] != carved["tif"])
    assert changed.any()
    assert np.all(plain["kind"][changed] == LIMIT) and np.all(plain["tif"][changed] == GTC)


def test_post_only_limits_rest_behind_the_mid():
    mid = generate.standard_mix(20_000, seed=4, spread_ticks=0)["price"]
    flow = generate.standard_mix(20_000, seed=4, spread_ticks=50, post_only=0.2)
    post_only = flow["tif"] == POST_ONLY
    assert post_only.any() and np.all(flow["kind"][post_only] == LIMIT)
    behind = (mid - flow["price"])[post_only] * flow["side"][post_only]
    assert behind.min() == 1 and behind.max() == 51


def test_symbols_are_spread_uniformly():
    symbol = generate.standard_mix(100_000, seed=6, symbols=4)["symbol"]
    counts = np.bincount(symbol, minlength=4)
    assert len(counts) == 4
    assert np.all(np.abs(counts / len(symbol) - 0.25) < SHARE_TOLERANCE)


def test_single_account_is_zero():
    assert np.all(generate.standard_mix(5_000, seed=1)["account"] == 0)


def test_accounts_are_drawn_from_one_to_accounts():
    flow = generate.standard_mix(20_000, seed=1, accounts=3)
    assert set(np.unique(flow["account"])) == {1, 2, 3}


def test_mid_random_walk_moves_one_tick_per_row():
    flow = generate.standard_mix(50_000, seed=8, spread_ticks=0)
    limits = flow["price"][(flow["kind"] == LIMIT) & (flow["tif"] == GTC)]
    assert limits.min() < 100_000 < limits.max()
    rows = np.flatnonzero(flow["kind"] == LIMIT)
    steps = np.abs(np.diff(flow["price"][rows]))
    assert np.all(steps <= np.diff(rows))
    np.testing.assert_array_equal((flow["price"][rows] - 100_000 - rows - 1) % 2, 0)


def test_first_id_and_start_ts():
    flow = generate.standard_mix(1_000, seed=1, first_id=500, start_ts=10)
    new = np.isin(flow["kind"], (LIMIT, MARKET))
    assert flow["order_id"][new][0] == 500
    assert flow["ts"][0] == 10


def test_deep_book_never_crosses():
    book = generate.deep_book(100_000, seed=3, levels=1_000)
    bids = book["price"][book["side"] == BUY]
    asks = book["price"][book["side"] == SELL]
    assert bids.max() < 100_000 < asks.min()
    assert len(np.unique(bids)) == 1_000 and len(np.unique(asks)) == 1_000
    assert bids.min() == 99_000 and asks.max() == 101_000
    assert np.all(book["kind"] == LIMIT) and np.all(book["tif"] == GTC)
    np.testing.assert_array_equal(book["order_id"], np.arange(1, 100_001))


def test_deep_book_then_standard_mix_ids_do_not_collide():
    book = generate.deep_book(1_000, seed=3)
    flow = generate.standard_mix(1_000, seed=3, first_id=1_001)
    new = np.isin(flow["kind"], (LIMIT, MARKET))
    assert flow["order_id"][new].min() == 1_001
    assert book["order_id"].max() == 1_000


def test_to_table_keeps_values_and_declares_the_schema():
    flow = generate.standard_mix(1_000, seed=1, symbols=3)
    table = generate.to_table(flow)
    assert table.schema.names == list(generate.COLUMNS)
    for field in table.schema:
        assert not field.nullable
        assert field.type.to_pandas_dtype() == generate.COLUMNS[field.name]
        np.testing.assert_array_equal(table.column(field.name).to_numpy(), flow[field.name])


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"n": -1}, ValueError),
        ({"n": 1.5}, TypeError),
        ({"n": 10, "seed": -1}, ValueError),
        ({"n": 10, "symbols": 0}, ValueError),
        ({"n": 10, "accounts": 0}, ValueError),
        ({"n": 10, "spread_ticks": -1}, ValueError),
        ({"n": 10, "modify": -0.1}, ValueError),
        ({"n": 10, "modify": 0.3, "fok": 0.2, "post_only": 0.2}, ValueError),
    ],
)
def test_standard_mix_rejects_bad_arguments(kwargs, error):
    with pytest.raises(error):
        generate.standard_mix(**kwargs)


def test_deep_book_needs_room_below_the_mid():
    with pytest.raises(ValueError, match="mid"):
        generate.deep_book(10, mid=1_000, levels=1_000)


@settings(max_examples=50, deadline=None)
@given(
    n=st.integers(0, 400),
    seed=st.integers(0, 2**32),
    symbols=st.integers(1, 6),
    modify=st.sampled_from([0.0, 0.2]),
)
def test_targets_valid_for_any_small_flow(n, seed, symbols, modify):
    flow = generate.standard_mix(n, seed=seed, symbols=symbols, modify=modify)
    targets, targeting = target_rows(flow)
    assert np.all(targets < targeting)
    assert np.all(flow["kind"][targets] == LIMIT)
    np.testing.assert_array_equal(flow["symbol"][targets], flow["symbol"][targeting])


# -- realistic sessions: Poisson arrivals, live targets (nbengine generate) ------------

SAMPLE = Path(__file__).resolve().parent.parent / "io" / "sample_orders.parquet"
UNKNOWN_ID_BOUND = 0.02
"""Largest share of rows a session flow may have rejected UNKNOWN_ID (issue 16)."""


def unknown_id_share(flow):
    """Share of ``flow``'s rows an Engine (default settings) rejects with UNKNOWN_ID."""
    events = Engine().submit(flow).events
    rejected = events.column("event").to_numpy() == REJECTED
    return np.sum(rejected & (events.column("reason").to_numpy() == UNKNOWN_ID)) / len(flow["ts"])


def test_session_same_seed_gives_identical_arrays():
    assert_flows_equal(generate.session_mix(20_000, seed=5), generate.session_mix(20_000, seed=5))
    other = generate.session_mix(20_000, seed=6)
    assert any(not np.array_equal(other[c], generate.session_mix(20_000, seed=5)[c]) for c in generate.COLUMNS)


@pytest.mark.parametrize("n", [2_000, 30_000])
@pytest.mark.parametrize("seed", [1, 2])
def test_session_cancels_and_modifies_find_their_orders(n, seed):
    """The bound of issue 16 with room to spare: the chunked targeting leaves no UNKNOWN_ID."""
    flow = generate.session_mix(n, seed=seed, symbols=3)
    assert unknown_id_share(flow) <= UNKNOWN_ID_BOUND
    assert unknown_id_share(flow) == 0.0


def test_session_keeps_the_standard_shares_once_books_fill():
    flow = generate.session_mix(100_000, seed=1)
    expected = {(CANCEL, None): 0.25, (MODIFY, None): 0.05, (MARKET, None): 0.10, (LIMIT, FOK): 0.02,
                (LIMIT, POST_ONLY): 0.03, (LIMIT, IOC): 0.05}
    for (kind, tif), expected_share in expected.items():
        assert share(flow, kind, tif) == pytest.approx(expected_share, abs=SHARE_TOLERANCE)


def test_session_targets_are_earlier_limits_of_the_same_symbol():
    flow = generate.session_mix(20_000, seed=2, symbols=5)
    targets, targeting = target_rows(flow)
    assert len(targeting) > 0.25 * len(flow["ts"])
    assert np.all(targets < targeting)
    assert np.all(flow["kind"][targets] == LIMIT)
    for column in ("symbol", "side", "account"):
        np.testing.assert_array_equal(flow[column][targets], flow[column][targeting], err_msg=column)


def test_session_cancel_carries_the_resting_price_and_qty():
    flow = generate.session_mix(5_000, seed=3)
    resting = {}
    engine = Engine()
    for row in range(len(flow["ts"])):
        if flow["kind"][row] == CANCEL:
            book = engine.orders(int(flow["symbol"][row])).to_pydict()
            where = book["order_id"].index(int(flow["order_id"][row]))
            resting[row] = (book["price"][where], book["qty"][where])
            assert resting[row] == (flow["price"][row], flow["qty"][row]), row
        engine.submit({c: flow[c][row : row + 1] for c in flow})
        if len(resting) >= 40:
            break
    assert len(resting) >= 40


def test_live_targets_change_nothing_but_targets():
    plain = generate.standard_mix(20_000, seed=4, symbols=2, modify=0.05)
    live = generate.standard_mix(20_000, seed=4, symbols=2, modify=0.05, live_targets=True)
    np.testing.assert_array_equal(plain["ts"], live["ts"])
    np.testing.assert_array_equal(plain["symbol"], live["symbol"])
    same_kind = plain["kind"] == live["kind"]
    assert np.all(np.isin(plain["kind"][~same_kind], (CANCEL, MODIFY)) & (live["kind"][~same_kind] == LIMIT))
    limits = same_kind & (plain["kind"] == LIMIT)
    np.testing.assert_array_equal(plain["price"][limits], live["price"][limits])
    assert unknown_id_share(live) < 0.2 * unknown_id_share(plain)


def test_passive_limits_rest_behind_the_mid():
    mid = generate.standard_mix(20_000, seed=4, spread_ticks=0)["price"]
    flow = generate.standard_mix(20_000, seed=4, passive=1.0)
    gtc = (flow["kind"] == LIMIT) & (flow["tif"] == GTC)
    behind = (mid - flow["price"])[gtc] * flow["side"][gtc]
    assert behind.min() == 1 and behind.max() == 51
    plain = generate.standard_mix(20_000, seed=4)
    other = ~gtc & np.isin(flow["kind"], (LIMIT, MARKET))  # a CANCEL copies its target's price
    np.testing.assert_array_equal(plain["price"][other], flow["price"][other])


@pytest.mark.parametrize("duration", [90 * 10**9, 30 * 60 * 10**9, generate.SESSION_NS])
def test_duration_spans_the_session(duration):
    n = 50_000
    ts = generate.standard_mix(n, seed=9, duration=duration)["ts"]
    assert np.all(np.diff(ts) >= 0)
    assert ts[0] >= generate.START_TS and ts[-1] < generate.START_TS + duration
    # Uniform order statistics: the first and last fall within ~10 mean gaps of the ends.
    assert ts[0] - generate.START_TS < 10 * duration / n
    assert generate.START_TS + duration - ts[-1] < 10 * duration / n
    # Poisson counts: each tenth of the session holds n / 10 rows, give or take a few sqrt.
    counts = np.bincount((ts - generate.START_TS) * 10 // duration, minlength=10)
    assert np.all(np.abs(counts - n / 10) < 5 * np.sqrt(n / 10))


@pytest.mark.parametrize("rate", [3.5, 1_000.0, 2e6])
def test_rate_gives_the_mean_arrival_rate(rate):
    n = 50_000
    ts = generate.standard_mix(n, seed=9, rate=rate, start_ts=7)["ts"]
    assert ts[0] >= 7 and np.all(np.diff(ts) >= 0)
    measured = n / ((ts[-1] - 7) / 1e9)
    assert measured == pytest.approx(rate, rel=5 / np.sqrt(n))
    gaps = np.diff(ts).astype(float)
    # Exponential gaps: their standard deviation equals their mean.
    assert gaps.std() == pytest.approx(gaps.mean(), rel=0.05)


def test_rate_flow_is_a_prefix_of_a_longer_one():
    short = generate.session_mix(3_000, seed=5, rate=20.0)
    long = generate.session_mix(10_000, seed=5, rate=20.0)
    assert_flows_equal(short, {c: long[c][:3_000] for c in long})


def test_session_starts_at_the_open():
    ts = generate.session_mix(1_000, seed=1)["ts"]
    opening = np.datetime64(int(generate.START_TS), "ns")
    assert str(opening) == "2024-01-02T14:30:00.000000000"  # 09:30 in New York (EST)
    assert generate.START_TS <= ts[0] and ts[-1] < generate.START_TS + generate.SESSION_NS


def test_empty_session():
    flow = generate.session_mix(0)
    assert all(flow[c].shape == (0,) and flow[c].dtype == d for c, d in generate.COLUMNS.items())


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"duration": 10, "rate": 1.0}, ValueError),
        ({"duration": 0}, ValueError),
        ({"rate": 0.0}, ValueError),
        ({"rate": float("nan")}, ValueError),
        ({"rate": "fast"}, TypeError),
        ({"passive": 1.5}, ValueError),
    ],
)
def test_standard_mix_rejects_bad_timing(kwargs, error):
    with pytest.raises(error):
        generate.standard_mix(10, **kwargs)


def test_bundled_sample_is_the_documented_command():
    """io/sample_orders.parquet is what the README's `nbengine generate` command writes."""
    sample = pq.read_table(SAMPLE)
    flow = generate.session_mix(200_000, seed=2026, symbols=4, duration=generate.SESSION_NS)
    assert sample.schema.names == list(generate.COLUMNS)
    for column in generate.COLUMNS:
        np.testing.assert_array_equal(sample.column(column).to_numpy(), flow[column], err_msg=column)
    assert unknown_id_share(flow) <= UNKNOWN_ID_BOUND
    assert sample.column("ts").to_numpy()[-1] - generate.START_TS > 6.4 * 3600 * 10**9
    readme = (SAMPLE.parent.parent / "README.md").read_text()
    assert " ".join("--orders 200000 --symbols 4 --seed 2026 --duration 6.5h".split()) in " ".join(readme.split())


def test_cli_generate_same_seed_same_bytes(tmp_path, capsys):
    for name in ("a", "b"):
        assert main(["generate", "--orders", "3000", "--seed", "4", "--duration", "30min",
                     "--out", str(tmp_path / f"{name}.parquet")]) == 0
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    ts = pq.read_table(tmp_path / "a.parquet").column("ts").to_numpy()
    assert 29 * 60 * 10**9 < ts[-1] - generate.START_TS < 30 * 60 * 10**9
    assert "3,000 orders" in capsys.readouterr().out


def test_cli_generate_rate_and_start(tmp_path):
    out = tmp_path / "flow.parquet"
    assert main(["generate", "--orders", "20000", "--rate", "100", "--start", "2024-03-01T09:30:00-05:00",
                 "--out", str(out)]) == 0
    ts = pq.read_table(out).column("ts").to_numpy()
    opening = int(np.datetime64("2024-03-01T14:30:00", "ns").astype(np.int64))
    assert opening <= ts[0] < opening + 10**9
    assert (ts[-1] - opening) / 1e9 == pytest.approx(200, rel=0.05)


@pytest.mark.parametrize(
    ("text", "ns"),
    [("6.5h", 23_400 * 10**9), ("30min", 1_800 * 10**9), ("90s", 90 * 10**9), ("250ms", 250 * 10**6),
     ("1.5us", 1_500), ("1000", 1_000), ("12ns", 12)],
)
def test_cli_duration_units(tmp_path, text, ns):
    out = tmp_path / "flow.parquet"
    assert main(["generate", "--orders", "500", "--duration", text, "--out", str(out)]) == 0
    ts = pq.read_table(out).column("ts").to_numpy()
    assert ts[-1] < generate.START_TS + ns


@pytest.mark.parametrize("argv", [["--duration", "1.5x"], ["--duration", "0s"], ["--duration", "1", "--rate", "2"],
                                  ["--rate", "-1"], ["--passive", "2"], ["--start", "yesterday"]])
def test_cli_generate_mistakes_are_one_line(tmp_path, argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["generate", "--orders", "10", *argv, "--out", str(tmp_path / "x.parquet")])
    assert exit_info.value.code not in (0, None)
    assert "Traceback" not in capsys.readouterr().err


def test_cli_generate_help_gives_every_default(capsys):
    with pytest.raises(SystemExit):
        main(["generate", "--help"])
    text = capsys.readouterr().out
    assert "``" not in text and ":func:" not in text
    blocks, current = {}, None
    for line in text[text.index("options:"):].splitlines()[1:]:
        if line.startswith("  --"):  # an option; wrapped help lines are indented further
            current = line.split()[0]
            blocks[current] = ""
        if current is not None:
            blocks[current] += " " + line.strip()
    assert {"--orders", "--duration", "--rate", "--start", "--seed", "--out"} <= set(blocks)
    for option, block in blocks.items():
        assert "default" in block or "required" in block, option
