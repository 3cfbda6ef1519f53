"""The backtest's read-ahead and write-behind stages: order, bounds, errors, early exit."""

import threading
import time

import pytest

from nbengine.backtest.pipeline import WriteBehind, WriteNow, prefetch


def test_prefetch_yields_every_item_in_order():
    assert list(prefetch(iter(range(1000)), depth=3)) == list(range(1000))


def test_prefetch_stays_at_most_depth_items_ahead():
    produced = []

    def items():
        for i in range(100):
            produced.append(i)
            yield i

    stream = prefetch(items(), depth=2)
    assert next(stream) == 0
    time.sleep(0.2)
    # one handed out, two queued, one produced and waiting for room
    assert len(produced) <= 4
    stream.close()


def test_prefetch_raises_the_producers_error_where_it_happened():
    def items():
        yield 1
        yield 2
        raise ValueError("row 7: bad price")

    stream = prefetch(items())
    assert next(stream) == 1
    assert next(stream) == 2
    with pytest.raises(ValueError, match="row 7: bad price"):
        next(stream)


def test_prefetch_stops_its_thread_when_the_consumer_leaves_early():
    before = threading.active_count()
    for item in prefetch(iter(range(10**9)), depth=2):
        if item == 5:
            break
    assert threading.active_count() == before


def test_write_behind_runs_calls_in_submission_order():
    seen = []
    with WriteBehind(depth=2) as work:
        for i in range(200):
            work.submit(seen.append, i)
    assert seen == list(range(200))


def test_write_behind_bounds_the_calls_outstanding():
    release = threading.Event()
    started = []

    def slow(i):
        started.append(i)
        release.wait(5)

    work = WriteBehind(depth=3)
    for i in range(3):
        work.submit(slow, i)
    blocked = threading.Thread(target=work.submit, args=(slow, 3))
    blocked.start()
    time.sleep(0.2)
    assert blocked.is_alive(), "a fourth call was accepted while three were outstanding"
    release.set()
    blocked.join(5)
    work.close()
    assert started == [0, 1, 2, 3]


def test_write_behind_raises_a_failed_call_on_close():
    def fail():
        raise OSError(28, "No space left on device")

    work = WriteBehind()
    work.submit(fail)
    with pytest.raises(OSError, match="No space left"):
        work.close()


def test_write_behind_raises_a_failed_call_on_a_later_submit():
    def fail():
        raise OSError(5, "Input/output error")

    work = WriteBehind(depth=1)
    work.submit(fail)
    with pytest.raises(OSError, match="Input/output error"):
        work.submit(print, "never")
    work.close()


def test_write_now_runs_each_call_at_once_in_the_callers_thread():
    calls = []
    with WriteNow() as work:
        work.submit(lambda *args: calls.append((threading.current_thread(), args)), 1, 2)
        assert calls == [(threading.current_thread(), (1, 2))]
        with pytest.raises(ValueError, match="disk full"):
            work.submit(_raise, ValueError("disk full"))


def _raise(error):
    raise error
