"""Strategy backtests: the example quoter in a replay, against the same replay without it.

Two inputs: the bundled sample's generator (200,000 orders of a 6.5-hour session, 4 symbols)
and, when ``../shared/data/lobster`` is beside the checkout, the faithful flow of the AMZN
level-5 day (``lobster.faithful``, written to Parquet once in ``setup_cache`` so the timed
runs replay the flow and leave the LOBSTER reconstruction out). ``wake`` is how the strategy
is woken: not at all (no strategy: the plain replay), at every best-price change of its
symbol, or every second of market time.
"""

import shutil
import tempfile
import warnings
from pathlib import Path

import pyarrow.parquet as pq

import nbengine
from nbengine import generate
from nbengine.backtest.examples import MidQuoter

from . import VERSION

LOBSTER = Path(__file__).resolve().parents[2] / "shared/data/lobster"
DAY = "AMZN_2012-06-21_34200000_57600000"
INPUTS = ["session_200k", "amzn_level5"]
WAKES = ["plain", "bbo", "1s"]


def _input(name):
    return f"strategy_{name}.parquet"


class StrategyBacktest:
    """Wall time of a backtest with the example quoter (``MidQuoter``, 50 µs latencies)."""

    params = [INPUTS, WAKES]
    param_names = ["input", "wake"]
    version = VERSION
    number = 1
    repeat = (1, 3, 60.0)
    warmup_time = 0.0
    timeout = 600

    def setup_cache(self):
        flow = generate.session_mix(200_000, seed=2026, symbols=4)
        pq.write_table(generate.to_table(flow), _input("session_200k"), row_group_size=65_536)
        messages = LOBSTER / f"{DAY}_message_5.csv.gz"
        if messages.exists():
            from nbengine.loaders import lobster

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                day = lobster.faithful(messages, LOBSTER / f"{DAY}_orderbook_5.csv.gz")
            pq.write_table(generate.to_table(day.orders), _input("amzn_level5"), row_group_size=65_536)

    def setup(self, name, wake):
        if not Path(_input(name)).exists():
            raise NotImplementedError(f"no {name} input (the LOBSTER sample is not beside the checkout)")
        nbengine.warmup()
        self.out = tempfile.mkdtemp(prefix="nbengine-bench-strategy-")

    def teardown(self, name, wake):
        shutil.rmtree(self.out, ignore_errors=True)

    def time_backtest(self, name, wake):
        options = {}
        if wake != "plain":
            options = {
                "strategy": MidQuoter(symbol=0, half_spread=2, size=5, max_position=500),
                "latency": nbengine.Latency(entry_ns=50_000, response_ns=50_000),
                "wake_on": "bbo" if wake == "bbo" else None,
                "wake_every_ns": 10**9 if wake == "1s" else None,
            }
        nbengine.backtest(_input(name), self.out, quiet=True, **options)
