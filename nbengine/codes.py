"""Stable integer codes of the order contract (DESIGN §2, §3).

Every value here is part of the public contract: data files, WAL segments and
user code store these integers, so a value never changes once released.
"""

__all__ = [
    "BUY",
    "SELL",
    "LIMIT",
    "MARKET",
    "CANCEL",
    "MODIFY",
    "GTC",
    "IOC",
    "FOK",
    "POST_ONLY",
    "ACCEPTED",
    "REJECTED",
    "CANCELLED",
    "EXPIRED",
    "MODIFIED",
    "FILLED",
    "NO_REASON",
    "BAD_QTY",
    "BAD_PRICE",
    "OFF_TICK",
    "BAD_SIDE",
    "BAD_KIND",
    "BAD_TIF",
    "DUPLICATE_ID",
    "UNKNOWN_ID",
    "WOULD_TAKE",
    "FOK_UNFILLABLE",
    "SELF_TRADE",
    "PRICE_SPAN",
    "QTY_LIMIT",
    "MEMORY_BUDGET",
    "STP_NONE",
    "STP_CANCEL_TAKER",
    "STP_CANCEL_MAKER",
    "STP_CANCEL_BOTH",
    "MAX_QTY",
    "PRICE_OFF_TICK",
    "EVENT_NAMES",
    "REASON_NAMES",
    "REASON_TEXT",
    "STP_MODES",
]


# Side (the LOBSTER convention).
BUY = 1
SELL = -1

# Order kind.
LIMIT = 0
MARKET = 1
CANCEL = 2
MODIFY = 3

# Time in force.
GTC = 0
IOC = 1
FOK = 2
POST_ONLY = 3

# Lifecycle events (``events.event``). 0 is never a valid event.
ACCEPTED = 1
REJECTED = 2
CANCELLED = 3
EXPIRED = 4
MODIFIED = 5
FILLED = 6

# Reasons (``events.reason``). 0 means no reason.
NO_REASON = 0
BAD_QTY = 1
BAD_PRICE = 2
OFF_TICK = 3
BAD_SIDE = 4
BAD_KIND = 5
BAD_TIF = 6
DUPLICATE_ID = 7
UNKNOWN_ID = 8
WOULD_TAKE = 9
FOK_UNFILLABLE = 10
SELF_TRADE = 11
PRICE_SPAN = 12
QTY_LIMIT = 13
MEMORY_BUDGET = 14

# Self-trade prevention modes (``Engine(stp=...)``).
STP_NONE = 0
STP_CANCEL_TAKER = 1
STP_CANCEL_MAKER = 2
STP_CANCEL_BOTH = 3

# Largest quantity, and largest total of the resting quantities of one side of one book:
# every level and side total, and the sum of a book's two sides, fit in int64.
MAX_QTY = 2**62 - 1

# A price column value meaning "not on the tick grid" (written by ``to_ticks``).
PRICE_OFF_TICK = -(2**63)

EVENT_NAMES = {
    ACCEPTED: "ACCEPTED",
    REJECTED: "REJECTED",
    CANCELLED: "CANCELLED",
    EXPIRED: "EXPIRED",
    MODIFIED: "MODIFIED",
    FILLED: "FILLED",
}

REASON_NAMES = {
    NO_REASON: "NONE",
    BAD_QTY: "BAD_QTY",
    BAD_PRICE: "BAD_PRICE",
    OFF_TICK: "OFF_TICK",
    BAD_SIDE: "BAD_SIDE",
    BAD_KIND: "BAD_KIND",
    BAD_TIF: "BAD_TIF",
    DUPLICATE_ID: "DUPLICATE_ID",
    UNKNOWN_ID: "UNKNOWN_ID",
    WOULD_TAKE: "WOULD_TAKE",
    FOK_UNFILLABLE: "FOK_UNFILLABLE",
    SELF_TRADE: "SELF_TRADE",
    PRICE_SPAN: "PRICE_SPAN",
    QTY_LIMIT: "QTY_LIMIT",
    MEMORY_BUDGET: "MEMORY_BUDGET",
}

REASON_TEXT = {
    NO_REASON: "no reason",
    BAD_QTY: "quantity must be > 0",
    BAD_PRICE: "limit price must be in [1, max_price_ticks]",
    OFF_TICK: "price is not on the tick grid",
    BAD_SIDE: "side must be BUY (1) or SELL (-1)",
    BAD_KIND: "kind must be LIMIT, MARKET, CANCEL or MODIFY",
    BAD_TIF: "tif must be GTC, IOC, FOK or POST_ONLY (POST_ONLY needs a LIMIT)",
    DUPLICATE_ID: "order_id is already live in this symbol's book",
    UNKNOWN_ID: "no live order with this order_id in this symbol's book",
    WOULD_TAKE: "POST_ONLY order would take liquidity",
    FOK_UNFILLABLE: "FOK order cannot be filled completely",
    SELF_TRADE: "cancelled by self-trade prevention",
    PRICE_SPAN: "price would stretch the book beyond max_span_ticks",
    QTY_LIMIT: "quantity above MAX_QTY, or the resting total of its book side would exceed MAX_QTY",
    MEMORY_BUDGET: "the book state would outgrow the engine's memory_budget",
}

STP_MODES = {
    "none": STP_NONE,
    "cancel-taker": STP_CANCEL_TAKER,
    "cancel-maker": STP_CANCEL_MAKER,
    "cancel-both": STP_CANCEL_BOTH,
}
