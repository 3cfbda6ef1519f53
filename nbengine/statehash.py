"""The implementation-independent hash of resting orders (docs/semantics.md)."""

import hashlib

import numpy as np

HASH_COLUMNS = ("symbol", "side", "price", "order_id", "qty", "account", "ts")


def state_hash(columns):
    """SHA-256 hex digest of resting orders given in canonical order.

    Parameters
    ----------
    columns : mapping of str to array-like
        The columns of ``HASH_COLUMNS``, equal length, rows already in canonical order:
        books by ascending symbol, each book's bids best first then asks best first,
        FIFO within a price.

    Returns
    -------
    str
        64 hex characters. An empty book set hashes to SHA-256 of no bytes.

    Examples
    --------
    >>> state_hash({c: [] for c in HASH_COLUMNS})[:16]
    'e3b0c44298fc1c14'
    """
    rows = np.column_stack(
        [np.asarray(columns[c], dtype="<i8").reshape(-1) for c in HASH_COLUMNS]
    )
    return hashlib.sha256(np.ascontiguousarray(rows).tobytes()).hexdigest()


__all__ = ["HASH_COLUMNS", "state_hash"]
