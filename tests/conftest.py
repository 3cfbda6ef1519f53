"""Shared test helpers: compare engine tables with the reference, name the first difference."""

import os

import pytest
from hypothesis import HealthCheck, settings

import nbengine
from nbengine.reference import ReferenceBook

JIT_DISABLED = os.environ.get("NUMBA_DISABLE_JIT", "0") == "1"

settings.register_profile(
    "default", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "nojit", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("nojit" if JIT_DISABLED else "default")

def assert_columns_equal(expected, actual, what):
    """Assert two column mappings are equal; name the first differing column and row."""
    assert list(expected) == list(actual), f"{what}: columns {list(expected)} != {list(actual)}"
    for name in expected:
        want = [int(v) for v in expected[name]]
        got = [int(v) for v in actual[name]]
        if want != got:
            rows = min(len(want), len(got))
            first = next((i for i in range(rows) if want[i] != got[i]), rows)
            raise AssertionError(
                f"{what}: column {name!r} differs first at row {first}: "
                f"expected {want[first:first + 3]}, got {got[first:first + 3]} "
                f"(lengths {len(want)} and {len(got)})"
            )


def assert_same_as_reference(engine, reference, orders):
    """Submit ``orders`` to both; compare trades, events, resting orders and hash; check invariants."""
    result = engine.submit(orders)
    trades, events = reference.submit(orders)
    engine.check()
    reference.validate_book()
    assert_columns_equal(trades, result.trades.to_pydict(), "trades")
    assert_columns_equal(events, result.events.to_pydict(), "events")
    assert_columns_equal(reference.orders(), engine.orders().to_pydict(), "resting orders")
    assert engine.state_hash() == reference.state_hash()
    return result


@pytest.fixture
def pair():
    """A fresh engine and reference with default options."""
    return nbengine.Engine(), ReferenceBook()

