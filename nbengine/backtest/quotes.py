"""``quotes.parquet``: every change of a symbol's best bid or ask, for markouts and ``merge_asof``."""

import pyarrow as pa

from .strategy import Strategy

QUOTES_SCHEMA = pa.schema(
    [
        pa.field("ts", pa.int64(), nullable=False),
        pa.field("symbol", pa.int32(), nullable=False),
        pa.field("bid", pa.int64()),
        pa.field("bid_qty", pa.int64(), nullable=False),
        pa.field("ask", pa.int64()),
        pa.field("ask_qty", pa.int64(), nullable=False),
    ]
)
"""One row per symbol and time whose events changed its best bid or ask (price or quantity),
the quote after every event of that time; ``bid`` / ``ask`` null for an empty side."""


class QuoteRecorder(Strategy):
    """A strategy that only watches: woken at every best-price change (``wake_on="bbo"``), it
    records the books whose best bid or ask differs from what it last recorded.

    Parameters
    ----------
    engine : nbengine.Engine
        The backtest's engine (its ``symbols()`` and ``bbo()``).
    """

    symbols = None

    def __init__(self, engine):
        self._engine = engine
        self._last = {}
        self.rows = []

    def on_wake(self, ctx):
        last = self._last
        for symbol in self._engine.symbols():
            quote = self._engine.bbo(symbol)
            if last.get(symbol) != quote:
                last[symbol] = quote
                self.rows.append((ctx.now, symbol, quote.bid_price, quote.bid_qty, quote.ask_price, quote.ask_qty))

    def table(self):
        """The recorded rows as a table of `QUOTES_SCHEMA`."""
        columns = list(zip(*self.rows)) if self.rows else [[] for _ in QUOTES_SCHEMA]
        return pa.Table.from_arrays([pa.array(c, f.type) for c, f in zip(columns, QUOTES_SCHEMA)],
                                    schema=QUOTES_SCHEMA)


__all__ = ["QUOTES_SCHEMA", "QuoteRecorder"]
