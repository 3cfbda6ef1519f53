"""The one place numba is configured: every kernel is compiled through :func:`kernel`.

``cache=True`` keeps compiled code across processes, ``nogil=True`` lets the WAL and
other threads run while a kernel matches. No ``fastmath``: matching is integer code and
must stay exact. With ``NUMBA_DISABLE_JIT=1`` every kernel runs as plain Python, so
coverage and tracebacks reach the kernel code.
"""

import numba
from numba.core import config

JIT_DISABLED = bool(config.DISABLE_JIT)

kernel = numba.njit(cache=True, nogil=True)
