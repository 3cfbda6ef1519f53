"""The one place numba is configured: every kernel is compiled through these decorators.

``cache=True`` keeps compiled code across processes, ``nogil=True`` lets the WAL and
other threads run while a kernel matches. ``_nrt=False`` compiles without numba's
reference-counting runtime: a kernel that tried to allocate would fail to compile, which
enforces "no allocation in kernels", and array arguments cost no atomic reference
counting per call. No ``fastmath``: matching is integer code and must stay exact.

``hot_kernel`` also inlines the function into its callers at numba-IR level. Calls between
kernels pass the whole state (dozens of machine words) and cost ~20 ns each when LLVM
declines to inline a large callee, so the per-order path is inlined and cold paths
(ladder moves, growth) stay out of line. With ``NUMBA_DISABLE_JIT=1`` every kernel runs
as plain Python, so coverage and tracebacks reach the kernel code.
"""

import numba
from numba.core import config

JIT_DISABLED = bool(config.DISABLE_JIT)

kernel = numba.njit(cache=True, nogil=True, _nrt=False)
hot_kernel = numba.njit(cache=True, nogil=True, _nrt=False, forceinline=True)
gil_kernel = numba.njit(cache=True, nogil=False, _nrt=False)
"""``kernel`` keeping the GIL, where an A/B measurement showed it helps a scalar path (said beside
the kernel): only ``kernels.match.match_row_logged``."""
