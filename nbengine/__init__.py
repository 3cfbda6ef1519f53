"""nbengine: a limit-order-book matching engine with numba kernels and Arrow I/O."""

from .codes import (
    BUY,
    CANCEL,
    FOK,
    GTC,
    IOC,
    LIMIT,
    MARKET,
    MODIFY,
    POST_ONLY,
    SELL,
)
from .backtest import Fees, Latency, Strategy, backtest
from .engine import BBO, Engine, EngineClosedError, SubmitResult
from .mapping import MappingError, SymbolTable, map_orders
from .readable import numeric, readable
from .schema import SchemaError, ValueRangeError, prepare, to_ticks
from .warmup import warmup
from .wal.errors import WalConfigError, WalCorruptionError, WalError, WalPoisonedError

__version__ = "0.1.0"

__all__ = [
    "BBO",
    "BUY",
    "CANCEL",
    "Engine",
    "EngineClosedError",
    "Fees",
    "FOK",
    "GTC",
    "IOC",
    "LIMIT",
    "Latency",
    "MARKET",
    "MODIFY",
    "MappingError",
    "POST_ONLY",
    "SELL",
    "SchemaError",
    "Strategy",
    "SubmitResult",
    "SymbolTable",
    "ValueRangeError",
    "WalConfigError",
    "WalCorruptionError",
    "WalError",
    "WalPoisonedError",
    "backtest",
    "map_orders",
    "numeric",
    "prepare",
    "readable",
    "to_ticks",
    "warmup",
]
