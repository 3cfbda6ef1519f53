"""Strategy backtests: results independent of batching, wake-ups, latency, fees, queue position."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

import nbengine
from nbengine import BUY, CANCEL, IOC, LIMIT, SELL
from nbengine.backtest import loop as strategy_loop
from nbengine.backtest.examples import MidQuoter, QueueJoiner
from nbengine.generate import standard_mix, to_table
from nbengine.readable import numeric
from nbengine.reference import ReferenceBook

from .conftest import JIT_DISABLED

OUTPUTS = ("trades.parquet", "events.parquet", "own_fills.parquet", "own_orders.parquet", "strategy.parquet")


def _write(tmp_path, columns, name="flow.parquet"):
    flow = {k: np.asarray(v) for k, v in columns.items()}
    n = len(flow["ts"])
    for name_, default in (("symbol", 0), ("tif", 0), ("price", 0), ("qty", 0), ("side", 0), ("account", 0)):
        flow.setdefault(name_, np.full(n, default))
    path = tmp_path / name
    pq.write_table(to_table(nbengine.prepare(flow)._asdict()), path)
    return path


def _run(path, out, strategy, **options):
    options.setdefault("quiet", True)
    summary = nbengine.backtest(path, out, strategy=strategy, **options)
    return summary, {name: numeric(pq.read_table(out / name)) for name in OUTPUTS}


class Recorder(nbengine.Strategy):
    """Records every call: (method, ctx.now, payload)."""

    def __init__(self, symbols=None, plan=None):
        self.symbols = symbols
        self.calls = []
        self.plan = plan or {}

    def on_start(self, ctx):
        self.calls.append(("start", ctx.now, None))
        for ts in sorted(self.plan):
            ctx.wake_at(ts)

    def on_wake(self, ctx):
        self.calls.append(("wake", ctx.now, ctx.bbo(0)))
        action = self.plan.get(ctx.now)
        if action is not None:
            action(ctx)

    def on_fill(self, ctx, fill):
        self.calls.append(("fill", ctx.now, fill))

    def on_order(self, ctx, update):
        self.calls.append(("order", ctx.now, update))

    def on_end(self, ctx):
        self.calls.append(("end", ctx.now, None))

    def of(self, kind):
        return [(now, payload) for what, now, payload in self.calls if what == kind]


@pytest.fixture(scope="module")
def mixed_flow(tmp_path_factory):
    n = 700 if JIT_DISABLED else 4000
    flow = standard_mix(n, seed=7, symbols=2, spread_ticks=6)
    flow["ts"] = np.repeat(np.arange(0, n, 2) * 1000, 2)[:n]  # pairs of rows share a timestamp
    path = tmp_path_factory.mktemp("mixed") / "flow.parquet"
    pq.write_table(to_table(flow), path)
    return path


@pytest.mark.parametrize(
    "make, options",
    [
        (lambda: MidQuoter(symbol=0, half_spread=1, size=3, max_position=9), {"wake_on": "bbo"}),
        (lambda: QueueJoiner(symbol=1, size=2, max_ahead=6), {"wake_every_ns": 5000,
                                                               "latency": nbengine.Latency(1500, 700)}),
    ],
    ids=["mid-quoter-bbo", "queue-joiner-timer-latency"],
)
def test_every_output_is_the_same_for_every_batch_size(mixed_flow, tmp_path, make, options):
    sizes = (7, 1000, 65536) if JIT_DISABLED else (1, 7, 1000, 65536)
    runs = []
    for rows in sizes:
        latency = options.get("latency")
        run_options = {**options, "latency": latency and nbengine.Latency(latency.entry_ns, latency.response_ns)}
        summary, tables = _run(mixed_flow, tmp_path / str(rows), make(), batch_rows=rows, **run_options)
        written = json.loads((tmp_path / str(rows) / "summary.json").read_text())
        for timing in ("wall_seconds", "compile_or_cache_load_seconds", "orders_per_second"):
            written.pop(timing)
        runs.append((rows, written, tables))
    first_rows, first_summary, first_tables = runs[0]
    assert first_summary["strategy"]["fills"] > 0 and first_summary["strategy"]["orders"] > 10
    for rows, summary, tables in runs[1:]:
        assert summary == first_summary, f"summary differs between batch_rows {first_rows} and {rows}"
        for name in OUTPUTS:
            assert tables[name].equals(first_tables[name]), f"{name} differs between batch_rows {first_rows} and {rows}"
        metadata = pq.ParquetFile(tmp_path / str(rows) / "events.parquet").metadata
        assert metadata.num_row_groups == pq.ParquetFile(tmp_path / str(first_rows) / "events.parquet").metadata.num_row_groups


def _bbo_after_each_time(path):
    """Times whose events changed symbol 0's BBO, by submitting each group of equal ts through Engine.submit."""
    table = pq.read_table(path)
    ts = table.column("ts").to_numpy()
    engine = nbengine.Engine()
    changes = []
    starts = np.flatnonzero(np.r_[True, ts[1:] != ts[:-1]])
    for start, end in zip(starts, [*starts[1:], ts.size]):
        before = engine.bbo(0)
        engine.submit(table.slice(start, end - start))
        if engine.bbo(0) != before:
            changes.append(int(ts[start]))
    return changes


def test_bbo_wakes_at_every_time_that_changed_the_best_prices_and_only_then(mixed_flow, tmp_path):
    recorder = Recorder(symbols=[0])
    _run(mixed_flow, tmp_path / "out", recorder, wake_on="bbo", batch_rows=333)
    woken = [now for now, _ in recorder.of("wake")]
    assert woken == _bbo_after_each_time(mixed_flow)
    engine = nbengine.Engine()
    table = pq.read_table(mixed_flow)
    ts = table.column("ts").to_numpy()
    for now, seen in recorder.of("wake")[:50]:
        rows = int(np.searchsorted(ts, now, side="right"))
        engine = nbengine.Engine()
        engine.submit(table.slice(0, rows))
        assert seen == engine.bbo(0), f"wake at {now} saw {seen}, the book after every event <= {now} is {engine.bbo(0)}"


def test_timer_wakes_fall_on_multiples_within_the_replay(tmp_path):
    path = _write(tmp_path, {"ts": [1_500, 2_000, 9_999], "order_id": [1, 2, 3], "kind": [LIMIT] * 3,
                             "side": [BUY, SELL, BUY], "price": [99, 101, 98], "qty": [1, 1, 1]})
    recorder = Recorder()
    _run(path, tmp_path / "out", recorder, wake_every_ns=2_000)
    assert [now for now, _ in recorder.of("wake")] == [2_000, 4_000, 6_000, 8_000]
    assert recorder.calls[0][:2] == ("start", 1_500) and recorder.calls[-1][:2] == ("end", 9_999)
    assert recorder.of("wake")[0][1] == nbengine.BBO(99, 1, 101, 1)


def _latency_flow(tmp_path):
    """Asks: 100x5 (id 1) at 0, 101x5 (id 2) at 10; id 1 cancelled at 20; 100x5 (id 3) added at 25."""
    return _write(tmp_path, {
        "ts": [0, 10, 20, 25, 100], "order_id": [1, 2, 1, 3, 4], "kind": [LIMIT, LIMIT, CANCEL, LIMIT, LIMIT],
        "side": [SELL, SELL, 0, SELL, BUY], "price": [100, 101, 0, 100, 90], "qty": [5, 5, 0, 5, 1],
    })


@pytest.mark.parametrize("entry, maker, price", [(3, 1, 100), (5, 2, 101), (7, 2, 101), (10, 3, 100)])
def test_an_order_takes_the_book_as_it_is_when_it_arrives(tmp_path, entry, maker, price):
    """Sent at 15 with entry latency L: misses what was cancelled in (15, 15+L], takes what was added there."""
    path = _latency_flow(tmp_path)
    recorder = Recorder(plan={15: lambda ctx: ctx.submit(0, BUY, 101, 5, tif=IOC)})
    summary, tables = _run(path, tmp_path / "out", recorder, latency=nbengine.Latency(entry_ns=entry))
    fills = tables["own_fills.parquet"].to_pylist()
    own_trades = [t for t in tables["trades.parquet"].to_pylist() if t["taker_order_id"] < 0]
    assert [t["maker_order_id"] for t in own_trades] == [maker]
    assert [(f["ts"], f["price"], f["qty"], f["liquidity"]) for f in fills] == [(15 + entry, price, 5, "taker")]
    assert summary["strategy"]["position"] == {"0": 5}


def test_reports_reach_the_strategy_after_the_response_latency(tmp_path):
    path = _latency_flow(tmp_path)
    recorder = Recorder(plan={15: lambda ctx: ctx.submit(0, BUY, 100, 5)})
    _run(path, tmp_path / "out", recorder, latency=nbengine.Latency(entry_ns=10, response_ns=7))
    (ack_now, ack), = recorder.of("order")
    (fill_now, fill), = recorder.of("fill")
    assert (ack.event, ack.ts, ack_now) == ("ack", 25, 32)
    assert (fill.ts, fill.report_ts, fill_now, fill.liquidity, fill.leaves) == (25, 32, 32, "taker", 0)


def test_own_orders_are_in_flight_until_acked_and_then_show_their_queue_position(tmp_path):
    """A bid joins the back of 100 behind 7 lots; replayed cancels ahead and adds behind move it as the reference says."""
    flow = {
        "ts": [0, 1, 50, 60, 70, 80], "order_id": [1, 2, 3, 1, 4, 5],
        "kind": [LIMIT, LIMIT, LIMIT, CANCEL, LIMIT, LIMIT], "side": [BUY, BUY, BUY, 0, BUY, SELL],
        "price": [100, 100, 100, 0, 100, 100], "qty": [3, 4, 6, 0, 2, 4],
    }
    path = _write(tmp_path, flow)
    seen = {}

    def send(ctx):
        seen["sent"] = ctx.submit(0, BUY, 100, 5)
        seen["at_send"] = ctx.own_orders(0)

    plan = {10: send}
    for t in (40, 55, 65, 75, 80):
        plan[t] = lambda ctx, t=t: seen.setdefault(t, ctx.own_orders(0))
    recorder = Recorder(plan=plan)
    _run(path, tmp_path / "out", recorder, latency=nbengine.Latency(entry_ns=30, response_ns=5))
    assert [o.state for o in seen["at_send"]] == ["in_flight"] and seen["at_send"][0].qty_ahead is None
    # The reference book with the own order placed at its arrival (40, after the replayed rows <= 40).
    reference = ReferenceBook()
    own = {"ts": [40], "order_id": [seen["sent"]], "kind": [LIMIT], "side": [BUY], "price": [100], "qty": [5],
           "account": [strategy_loop.OWN_ACCOUNT]}
    rows = [{k: v[i] for k, v in flow.items()} for i in range(6)]
    merged = rows[:2] + [{k: v[0] for k, v in own.items()}] + rows[2:]
    expected = {}
    for i, row in enumerate(merged):
        reference.submit({k: [row.get(k, 0)] for k in ("ts", "order_id", "kind", "side", "price", "qty", "account")})
        for t in (40, 55, 65, 75, 80):
            if row["ts"] <= t and (i + 1 == len(merged) or merged[i + 1]["ts"] > t):
                book = reference.orders(0)
                ahead = 0
                for oid, qty, price in zip(book["order_id"], book["qty"], book["price"]):
                    if oid == seen["sent"]:
                        expected[t] = ahead
                        break
                    if price == 100:
                        ahead += qty
                else:
                    expected[t] = None
    assert seen[40][0].state == "in_flight"
    for t in (55, 65, 75):
        assert seen[t][0].state == "resting" and seen[t][0].qty_ahead == expected[t], t
    assert expected[55] == 7 and expected[65] == 4
    # At 80 the replayed sell takes 4 lots ahead of it (id 2), nothing of ours.
    assert seen[80][0].qty_ahead == expected[80] == 0


def test_fees_and_pnl_against_hand_computed_cases(tmp_path):
    """Buy 5 @ 100 taking (fee 0.5/lot), sell 5 @ 102 resting (rebate 0.2/lot): cash +10, fees 1.5, P&L 8.5."""
    path = _write(tmp_path, {
        "ts": [0, 1, 30, 40], "order_id": [1, 2, 3, 4], "kind": [LIMIT] * 4, "side": [SELL, BUY, BUY, SELL],
        "price": [100, 90, 102, 104], "qty": [5, 1, 5, 1],
    })
    recorder = Recorder(plan={10: lambda ctx: (ctx.submit(0, BUY, 100, 5), ctx.submit(0, SELL, 102, 5))})
    summary, tables = _run(path, tmp_path / "out", recorder, fees=nbengine.Fees(maker=-0.2, taker=0.5))
    fills = tables["own_fills.parquet"].to_pylist()
    assert [(f["side"], f["price"], f["qty"], f["liquidity"], f["fee"]) for f in fills] == [
        (BUY, 100, 5, "taker", 2.5), (SELL, 102, 5, "maker", -1.0)]
    s = summary["strategy"]
    assert (s["cash"], s["fees"], s["position"], s["pnl"]["0"]) == (10, 1.5, {"0": 0}, 8.5)
    assert s["fills"] == 2 and s["fill_ratio"] == 1.0 and s["turnover"] == 1010
    bps = _run(path, tmp_path / "bps", Recorder(plan={10: lambda ctx: (ctx.submit(0, BUY, 100, 5),
                                                                      ctx.submit(0, SELL, 102, 5))}),
               fees=nbengine.Fees(maker=-1, taker=2, per="bps"))[0]["strategy"]
    assert bps["fees"] == pytest.approx(500 * 2 / 1e4 - 510 * 1 / 1e4)


def test_own_orders_arriving_together_match_in_the_order_sent(tmp_path):
    path = _write(tmp_path, {"ts": [0, 50], "order_id": [1, 2], "kind": [LIMIT, LIMIT], "side": [SELL, BUY],
                             "price": [100, 90], "qty": [3, 1]})
    recorder = Recorder(plan={10: lambda ctx: [ctx.submit(0, BUY, 100, 2) for _ in range(3)]})
    _, tables = _run(path, tmp_path / "out", recorder)
    assert [(f["order_id"], f["qty"]) for f in tables["own_fills.parquet"].to_pylist()] == [(-1, 2), (-2, 1)]


def test_replayed_ids_and_accounts_of_the_strategy_and_falling_times_are_refused(tmp_path):
    for columns, message in (
        ({"ts": [0, 1], "order_id": [1, -5]}, "order_id: negative ids"),
        ({"ts": [0, 1], "order_id": [1, 2], "account": [0, -1]}, "account: -1"),
        ({"ts": [5, 1], "order_id": [1, 2]}, "ts: a strategy backtest needs non-decreasing times, got 1 after 5"),
    ):
        path = _write(tmp_path, {**columns, "kind": [LIMIT, LIMIT], "side": [BUY, BUY], "price": [1, 1], "qty": [1, 1]})
        with pytest.raises(ValueError, match=message):
            nbengine.backtest(path, tmp_path / "out", strategy=Recorder(), quiet=True)


def test_a_strategy_answering_itself_forever_at_one_time_is_stopped(tmp_path, monkeypatch):
    monkeypatch.setattr(strategy_loop, "MAX_STEPS_AT_ONE_TIME", 200)

    class Echo(nbengine.Strategy):
        def on_start(self, ctx):
            ctx.submit(0, BUY, 1, 1)

        def on_order(self, ctx, update):
            ctx.submit(0, BUY, 1, 1)

    path = _write(tmp_path, {"ts": [0, 1], "order_id": [1, 2], "kind": [LIMIT, LIMIT], "side": [SELL, SELL],
                             "price": [10, 11], "qty": [1, 1]})
    with pytest.raises(RuntimeError, match="without time moving on"):
        nbengine.backtest(path, tmp_path / "out", strategy=Echo(), quiet=True)


def test_strategy_options_are_checked(tmp_path):
    path = _latency_flow(tmp_path)
    for options, message in (
        ({"wake_on": "trades"}, "wake_on: expected one of"),
        ({"wake_every_ns": 0}, "wake_every_ns: expected a positive"),
        ({"impact": "partial"}, "impact: expected one of"),
        ({"wal_dir": tmp_path / "wal"}, "wal_dir: a strategy backtest keeps no WAL"),
        ({"batch_rows": 0}, "batch_rows: expected an integer >= 1"),
    ):
        with pytest.raises(ValueError, match=message):
            nbengine.backtest(path, tmp_path / "out", strategy=Recorder(), quiet=True, **options)
    with pytest.raises(ValueError, match="Latency: entry_ns must be >= 0"):
        nbengine.Latency(entry_ns=-1)
    with pytest.raises(ValueError, match="Fees: per must be one of"):
        nbengine.Fees(per="share")


def test_the_example_of_docs_strategy_md_runs(tmp_path, monkeypatch, capsys):
    root = __import__("pathlib").Path(__file__).resolve().parents[1]
    text = (root / "docs" / "strategy.md").read_text()
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(root)
    code = code.replace('"io/out/quoter"', repr(str(tmp_path / "quoter")))
    exec(compile(code, "docs/strategy.md", "exec"), {})
    printed = capsys.readouterr().out
    assert "'orders':" in printed and "fill" in printed


def test_values_a_strategy_sends_that_cannot_be_represented_are_refused(tmp_path):
    path = _latency_flow(tmp_path)
    for action, error, message in (
        (lambda ctx: ctx.submit(2**32 + 5, BUY, 100, 1), ValueError, r"submit: symbol: expected int32"),
        (lambda ctx: ctx.submit(0, BUY, 100.5, 1), TypeError, r"submit: price: expected an integer, got 100.5"),
        (lambda ctx: ctx.submit(0, BUY, 100, 2**63), ValueError, r"submit: qty: expected int64"),
        (lambda ctx: ctx.cancel(12345), ValueError, r"cancel: 12345 is not an order this strategy sent"),
        (lambda ctx: ctx.wake_at(ctx.now), ValueError, r"wake_at: expected a time after now"),
    ):
        with pytest.raises(error, match=message):
            nbengine.backtest(path, tmp_path / "out", strategy=Recorder(plan={15: action}), quiet=True)


def test_rejected_and_cancelled_own_orders_are_reported_and_leave_the_book(tmp_path):
    path = _latency_flow(tmp_path)

    def act(ctx):
        ctx.submit(0, BUY, 0, 5)  # price 0: BAD_PRICE
        resting = ctx.submit(0, BUY, 95, 5)
        ctx.cancel(resting)
        ctx.submit(0, SELL, 99, 1, tif=nbengine.POST_ONLY)  # would take nothing: rests? asks at 100, bids none

    recorder = Recorder(plan={15: act})
    summary, tables = _run(path, tmp_path / "out", recorder)
    updates = [(u.order_id, u.event, u.reason, u.request) for _, u in recorder.of("order")]
    assert updates == [(-1, "reject", "BAD_PRICE", "new"), (-2, "ack", None, "new"), (-2, "cancel", None, "cancel"),
                       (-3, "ack", None, "new")]
    assert [(o.order_id, o.state) for o in recorder.calls[-1][2] or []] == []
    events = tables["own_orders.parquet"].to_pylist()
    assert [(e["order_id"], e["request"], e["decision_ts"], e["arrival_ts"], e["exchange_ts"]) for e in events] == [
        (-1, "new", 15, 15, 15), (-2, "new", 15, 15, 15), (-2, "cancel", 15, 15, 15), (-3, "new", 15, 15, 15)]
    assert summary["resting_orders"] == 3 + 1 and summary["strategy"]["orders"] == 3  # ids 2, 3, 4 and own -3


@pytest.mark.skipif(JIT_DISABLED, reason="a whole LOBSTER day is too slow without the JIT")
def test_a_strategy_in_the_faithful_lobster_replay_is_batch_independent(tmp_path):
    from .lobster_support import day_files, read_messages_quietly

    messages, orderbook = day_files(5)
    executions = read_messages_quietly(messages).filter(
        __import__("pyarrow.compute").compute.equal(read_messages_quietly(messages).column("type"), 4)
    )
    plain = nbengine.backtest(messages, tmp_path / "plain", format="lobster", orderbook=orderbook, quiet=True)
    assert (plain["trades"], plain["volume"]) == (executions.num_rows, sum(executions.column("size").to_pylist()))
    assert plain["lobster_replay"]["makers_named"] > 0.8 * plain["trades"]
    runs = []
    for rows in (4096, 65536):
        summary, tables = _run(messages, tmp_path / str(rows), MidQuoter(symbol=0, half_spread=2, size=100, max_position=1000),
                               format="lobster", orderbook=orderbook, wake_every_ns=10**9, batch_rows=rows,
                               latency=nbengine.Latency(entry_ns=100_000, response_ns=100_000))
        runs.append((summary["strategy"], summary["state_hash"], tables))
    assert runs[0][0]["fills"] > 100 and runs[0][:2] == runs[1][:2]
    assert all(runs[0][2][name].equals(runs[1][2][name]) for name in OUTPUTS)


def test_replayed_messages_on_orders_the_strategy_consumed_apply_as_far_as_they_can_and_are_counted(tmp_path):
    """The own IOC takes id 1 at 18; the replayed cancel of id 1 at 20 finds it gone (impact="full")."""
    path = _latency_flow(tmp_path)
    recorder = Recorder(plan={15: lambda ctx: ctx.submit(0, BUY, 100, 5, tif=IOC)})
    summary, tables = _run(path, tmp_path / "out", recorder, latency=nbengine.Latency(entry_ns=3))
    assert summary["strategy"]["replayed_on_consumed"] == {"rejected": 1, "modified": 0}
    assert summary["rejects"] == {"UNKNOWN_ID": 1}
    untouched = _run(path, tmp_path / "late", Recorder(plan={15: lambda ctx: ctx.submit(0, BUY, 100, 5, tif=IOC)}),
                     latency=nbengine.Latency(entry_ns=10))[0]
    assert untouched["strategy"]["replayed_on_consumed"] == {"rejected": 0, "modified": 0}


def test_impact_none_leaves_the_replayed_market_as_it_was(mixed_flow, tmp_path):
    plain = nbengine.backtest(mixed_flow, tmp_path / "plain", quiet=True)
    summary, tables = _run(mixed_flow, tmp_path / "none", MidQuoter(symbol=0, half_spread=1, size=3, max_position=9),
                           wake_on="bbo", impact="none", latency=nbengine.Latency(1000, 1000))
    assert summary["strategy"]["fills"] > 0
    for name in ("trades.parquet", "events.parquet"):
        assert tables[name].equals(numeric(pq.read_table(tmp_path / "plain" / name))), name
    assert summary["state_hash"] == plain["state_hash"] and summary["orders"] == plain["orders"]
    full = _run(mixed_flow, tmp_path / "full", MidQuoter(symbol=0, half_spread=1, size=3, max_position=9),
                wake_on="bbo", impact="full", latency=nbengine.Latency(1000, 1000))[0]
    assert full["state_hash"] != plain["state_hash"]


def test_impact_none_fills_a_resting_order_from_what_trades_behind_it_or_beyond_its_price(tmp_path):
    """Own bid of 5 at 100 joins behind 3 lots (id 1); id 2 (4 lots) joins behind it; a sell of 5 at 100
    trades 3 with id 1 and 2 with id 2 in the replay: 2 of them passed our queue position. A sell sweeping to
    99 then trades the other 2 of id 2 at 100 and 1 at 99: our last lot fills from what went beyond 100."""
    path = _write(tmp_path, {
        "ts": [0, 1, 20, 30, 40, 50], "order_id": [1, 9, 2, 3, 4, 5], "kind": [LIMIT] * 6,
        "side": [BUY, BUY, BUY, SELL, SELL, BUY], "price": [100, 99, 100, 100, 99, 90], "qty": [3, 1, 4, 5, 3, 1],
    })
    seen = {}
    recorder = Recorder(plan={
        10: lambda ctx: ctx.submit(0, BUY, 100, 5),
        25: lambda ctx: seen.setdefault(25, ctx.own_orders(0)),
        35: lambda ctx: seen.setdefault(35, ctx.own_orders(0)),
    })
    summary, tables = _run(path, tmp_path / "out", recorder, impact="none")
    assert [(o.state, o.qty_ahead) for o in seen[25]] == [("resting", 3)]
    assert [(o.qty, o.qty_ahead) for o in seen[35]] == [(3, 0)]
    fills = [(f["ts"], f["price"], f["qty"], f["leaves"], f["liquidity"]) for f in tables["own_fills.parquet"].to_pylist()]
    assert fills == [(30, 100, 2, 3, "maker"), (40, 100, 3, 0, "maker")]
    replayed = [(t["maker_order_id"], t["price"], t["qty"]) for t in tables["trades.parquet"].to_pylist()]
    assert replayed == [(1, 100, 3), (2, 100, 2), (2, 100, 2), (9, 99, 1)]


def test_impact_none_cancels_ahead_move_a_resting_order_up_and_takers_take_without_removing(tmp_path):
    path = _write(tmp_path, {
        "ts": [0, 1, 2, 20, 60], "order_id": [1, 2, 3, 1, 4], "kind": [LIMIT, LIMIT, LIMIT, CANCEL, LIMIT],
        "side": [BUY, BUY, SELL, 0, BUY], "price": [100, 100, 105, 0, 90], "qty": [3, 2, 4, 0, 1],
    })
    seen = {}
    recorder = Recorder(plan={
        10: lambda ctx: (ctx.submit(0, BUY, 100, 5), ctx.submit(0, BUY, 106, 3, tif=IOC),
                         ctx.submit(0, BUY, 106, 9, tif=nbengine.FOK), ctx.submit(0, BUY, 105, 1, tif=nbengine.POST_ONLY)),
        30: lambda ctx: seen.setdefault(30, ctx.own_orders(0)),
    })
    summary, tables = _run(path, tmp_path / "out", recorder, impact="none")
    assert [(o.order_id, o.qty_ahead) for o in seen[30]] == [(-1, 2)]
    updates = [(u.order_id, u.event, u.reason) for _, u in recorder.of("order")]
    assert updates == [(-1, "ack", None), (-2, "ack", None), (-3, "reject", "FOK_UNFILLABLE"),
                       (-4, "reject", "WOULD_TAKE")]
    assert [(f["order_id"], f["price"], f["qty"], f["liquidity"]) for f in tables["own_fills.parquet"].to_pylist()] == [
        (-2, 105, 3, "taker")]
    assert summary["resting_orders"] == 3  # the replay's ids 2, 3, 4: own orders never enter its book
    assert nbengine.backtest(path, tmp_path / "plain", quiet=True)["state_hash"] == summary["state_hash"]


def test_impact_none_a_replayed_modify_down_ahead_moves_a_resting_order_up_by_what_it_removed(tmp_path):
    path = _write(tmp_path, {
        "ts": [0, 20, 30], "order_id": [1, 1, 2], "kind": [LIMIT, nbengine.MODIFY, LIMIT],
        "side": [SELL, 0, BUY], "price": [100, 100, 90], "qty": [10, 4, 1],
    })
    seen = {}
    recorder = Recorder(plan={10: lambda ctx: ctx.submit(0, SELL, 100, 2),
                              25: lambda ctx: seen.setdefault(25, ctx.own_orders(0))})
    _run(path, tmp_path / "out", recorder, impact="none")
    assert [(o.order_id, o.qty_ahead) for o in seen[25]] == [(-1, 4)]


def test_orders_sent_at_the_last_wake_up_still_arrive_by_the_end(tmp_path):
    """A best-price wake-up at the last time; its zero-latency order arrives then and trades."""
    path = _write(tmp_path, {"ts": [0, 5], "order_id": [1, 2], "kind": [LIMIT, LIMIT], "side": [SELL, SELL],
                             "price": [101, 100], "qty": [1, 2]})

    class TakeTheNewAsk(nbengine.Strategy):
        def on_wake(self, ctx):
            if ctx.now == 5:
                ctx.submit(0, BUY, 100, 2, tif=IOC)

    summary, tables = _run(path, tmp_path / "out", TakeTheNewAsk(), wake_on="bbo")
    assert [(f["ts"], f["price"], f["qty"]) for f in tables["own_fills.parquet"].to_pylist()] == [(5, 100, 2)]


def test_cli_runs_a_strategy_class_and_refuses_bad_ones_in_one_line(mixed_flow, tmp_path, capsys):
    from nbengine.cli import main

    base = ["backtest", str(mixed_flow), "--out", str(tmp_path / "out"), "--quiet"]
    main(base + ["--strategy", "nbengine.backtest.examples:MidQuoter", "--strategy-args",
                 '{"half_spread": 1, "size": 3, "max_position": 9}', "--wake-every", "4000",
                 "--entry-latency", "500", "--response-latency", "500"])
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["strategy"]["fills"] > 0 and (tmp_path / "out" / "strategy.parquet").exists()
    for extra, message in (
        (["--strategy", "nbengine.backtest.examples"], "--strategy expects MODULE:CLASS"),
        (["--strategy", "nbengine.backtest.examples:Nope"], "--strategy nbengine.backtest.examples:Nope: "),
        (["--strategy", "nbengine.backtest.examples:MidQuoter", "--strategy-args", "{bad"], "--strategy-args {bad: "),
        (["--strategy", "nbengine.backtest.examples:MidQuoter", "--strategy-args", '{"nope": 1}'],
         "--strategy-args .*unexpected keyword argument 'nope'"),
        (["--strategy-args", "{}"], "--strategy-args goes with --strategy"),
    ):
        with pytest.raises(SystemExit, match=message):
            main(base + extra)


def test_a_group_changing_more_watched_books_than_it_tracks_still_wakes(tmp_path, monkeypatch):
    monkeypatch.setattr(strategy_loop, "TOUCHED_ROWS", 1)
    path = _write(tmp_path, {"ts": [0, 0, 7, 7], "order_id": [1, 2, 3, 4], "kind": [LIMIT] * 4, "symbol": [0, 1, 0, 1],
                             "side": [BUY, BUY, SELL, SELL], "price": [99, 99, 101, 101], "qty": [1, 1, 1, 1]})
    recorder = Recorder()
    _run(path, tmp_path / "out", recorder, wake_on="bbo")
    assert [now for now, _ in recorder.of("wake")] == [0, 7]


def test_impact_none_with_books_and_symbols_the_shadow_order_is_not_in(tmp_path):
    """Replayed trades in another symbol, a cancel in a symbol without a book, an own order in one either."""
    path = _write(tmp_path, {
        "ts": [0, 1, 15, 20, 30, 40], "order_id": [1, 2, 6, 3, 77, 5],
        "kind": [LIMIT, LIMIT, LIMIT, LIMIT, CANCEL, LIMIT], "symbol": [0, 1, 0, 1, 7, 0],
        "side": [BUY, BUY, BUY, SELL, 0, SELL], "price": [100, 50, 100, 50, 0, 100], "qty": [2, 1, 5, 1, 0, 3],
    })
    recorder = Recorder(plan={10: lambda ctx: (ctx.submit(0, BUY, 100, 4), ctx.submit(5, SELL, 10, 1))})
    summary, tables = _run(path, tmp_path / "out", recorder, impact="none")
    fills = [(f["order_id"], f["symbol"], f["qty"]) for f in tables["own_fills.parquet"].to_pylist()]
    assert fills == [(-1, 0, 1)]  # the sell of 3 at 40 takes 2 ahead of us and 1 of id 6, behind us: that one is ours
    assert summary["strategy"]["position"] == {"0": 1}
    assert [(u.order_id, u.event) for _, u in recorder.of("order")] == [(-1, "ack"), (-2, "ack")]
