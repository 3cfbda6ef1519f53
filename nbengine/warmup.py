"""Compile (or load from cache) every kernel on tiny inputs."""

from .codes import BUY, LIMIT, SELL


def warmup():
    """Compile every kernel that ``Engine`` calls, so the first real batch is not slowed.

    Compiled code is cached on disk (``cache=True``): in a new process this loads it.
    """
    from .engine import Engine

    engine = Engine()
    engine.submit({"ts": [0, 0], "order_id": [1, 2], "kind": [LIMIT, LIMIT], "side": [BUY, SELL],
                   "price": [100, 101], "qty": [1, 1]})
    engine.submit_one(0, 3, SELL, LIMIT, 100, 2)
    engine.orders()
    engine.depth(0, 1)
