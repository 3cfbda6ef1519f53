"""Shared helpers of the LOBSTER tests: a tiny exchange that writes both files, and the AMZN day."""

import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from nbengine.loaders import lobster

DATA = Path(__file__).resolve().parents[2] / "shared/data/lobster"
DAY = "AMZN_2012-06-21_34200000_57600000"
LEVELS = 2
D = 10_000  # one dollar in LOBSTER price units


class Exchange:
    """The whole book of a tiny exchange, written as the two LOBSTER files would show it."""

    def __init__(self, bids, asks, levels=LEVELS):
        self.book = {1: dict(bids), -1: dict(asks)}
        self.levels = levels
        self.messages = []
        self.rows = []

    def change(self, side, price, qty):
        """A change the message file does not show (or the effect of one it shows)."""
        level = self.book[side]
        level[price] = level.get(price, 0) + qty
        if level[price] == 0:
            del level[price]

    def message(self, kind, order_id, size, price, direction):
        """Append one message and the orderbook row after it."""
        if kind == 1:
            self.change(direction, price, size)
        elif kind in (2, 3, 4):
            self.change(direction, price, -size)
        self.messages.append((f"{34200 + len(self.messages)}.5", kind, order_id, size, price, direction))
        bids = sorted(self.book[1].items(), reverse=True)[: self.levels]
        asks = sorted(self.book[-1].items())[: self.levels]
        row = []
        for level in range(self.levels):
            ask = asks[level] if level < len(asks) else (9999999999, 0)
            bid = bids[level] if level < len(bids) else (-9999999999, 0)
            row += [ask[0], ask[1], bid[0], bid[1]]
        self.rows.append(row)

    def tables(self):
        columns = list(zip(*self.messages))
        names = ["time", "type", "order_id", "size", "price", "direction"]
        messages = lobster.messages_table(pa.table(dict(zip(names, map(list, columns)))))
        return messages, np.array(self.rows, dtype=np.int64).reshape(len(self.rows), self.levels, 4)

    def write(self, directory, name):
        """Write both files as CSV; return their paths."""
        messages = directory / f"{name}_message_{self.levels}.csv"
        orderbook = directory / f"{name}_orderbook_{self.levels}.csv"
        messages.write_text("".join(",".join(map(str, m)) + "\n" for m in self.messages))
        orderbook.write_text("".join(",".join(map(str, r)) + "\n" for r in self.rows))
        return messages, orderbook


def every_rule():
    """A day that needs every rule of the checker once, and is consistent throughout."""
    ex = Exchange(bids={99 * D: 100, 98 * D: 200, 97 * D: 300}, asks={101 * D: 100, 102 * D: 50})
    ex.message(5, 0, 1, 100 * D, -1)  # row 0: the opening book
    ex.message(1, 1, 10, 99 * D, 1)
    ex.message(1, 2, 20, 99 * D, 1)
    ex.message(4, 500, 30, 99 * D, 1)  # an order from before the open: explainable
    ex.message(4, 1, 10, 99 * D, 1)  # 70 opening shares still ahead in the engine: explainable
    ex.message(3, 501, 70, 99 * D, 1)  # unseen id: taken from the opening placeholder
    ex.message(3, 2, 20, 99 * D, 1)  # 99 empties; 97 enters the window from below: sync entering
    ex.message(1, 6, 10, 99 * D + 5_000, 1)  # 97 leaves the window again
    ex.change(1, 97 * D, -300)  # cancelled while outside the window: no message
    ex.message(3, 6, 10, 99 * D + 5_000, 1)  # 97 would come back in the engine: sync stale
    ex.message(3, 600, 100, 101 * D, -1)
    ex.message(1, 3, 5, 101 * D, -1)
    ex.message(1, 4, 7, 101 * D, -1)
    ex.message(4, 4, 7, 101 * D, -1)  # NASDAQ fills order 4 ahead of order 3: a priority exception
    ex.message(2, 3, 2, 101 * D, -1)
    ex.message(4, 3, 3, 101 * D, -1)
    return ex


def day_files(level):
    """The AMZN files of ``level``; skip the test when the shared data is not beside the clone."""
    messages = DATA / f"{DAY}_message_{level}.csv.gz"
    orderbook = DATA / f"{DAY}_orderbook_{level}.csv.gz"
    if not (messages.exists() and orderbook.exists()):
        pytest.skip(f"LOBSTER sample not found at {DATA} (CI keeps shared/ beside the clone)")
    return messages, orderbook


def read_messages_quietly(path):
    """``lobster.read_messages`` without the AMZN file's one sub-nanosecond warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lobster.SubNanosecondTimeWarning)
        return lobster.read_messages(path)
