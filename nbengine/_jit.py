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

import platform

import numba
from numba.core import config

JIT_DISABLED = bool(config.DISABLE_JIT)

kernel = numba.njit(cache=True, nogil=True, _nrt=False)
hot_kernel = numba.njit(cache=True, nogil=True, _nrt=False, forceinline=True)
gil_kernel = numba.njit(cache=True, nogil=False, _nrt=False)
"""``kernel`` keeping the GIL, where an A/B measurement showed it helps a scalar path (said beside
the kernel): only ``kernels.match.match_row_logged``."""


# -- primitives of GIL-free threads -------------------------------------------------------
#
# The WAL writer thread's hot loop (``wal.drain``) runs without the GIL: it writes and syncs
# through these C library calls, and orders its loads and stores against the matching
# kernel (another thread) with ``fence``. Compiled, they are LLVM instructions and calls of
# libc symbols resolved by name (so ``cache=True`` keeps working); with the JIT disabled
# they are ctypes calls of the same functions and ``fence`` does nothing (the GIL orders
# plain Python).

FUTEX_SYSCALL = {"x86_64": 202, "aarch64": 98}.get(platform.machine(), -1)
"""``SYS_futex`` of this machine, or -1 where unknown (the WAL writer then keeps to Python)."""
HARDWARE_CRC32C = False
"""True where ``crc32c_word`` (SSE 4.2) can be compiled: x86-64 with the JIT on a CPU that has it."""
_FUTEX_WAIT_PRIVATE = 128
_FUTEX_WAKE_PRIVATE = 129

if JIT_DISABLED:
    import ctypes

    _libc = ctypes.CDLL(None, use_errno=True)
    _libc.write.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
    _libc.write.restype = ctypes.c_ssize_t
    _libc.clock_gettime.argtypes = [ctypes.c_int, ctypes.c_void_p]

    def fence():
        """A sequentially consistent memory fence (a no-op without the JIT)."""

    def release_fence():
        """A release fence (a no-op without the JIT)."""

    def sys_write(fd, address, size):
        """``write(2)`` of ``size`` bytes at ``address``; -1 on failure (see ``sys_errno``)."""
        return _libc.write(int(fd), int(address), int(size))

    def sys_fdatasync(fd):
        """``fdatasync(2)``; -1 on failure."""
        return _libc.fdatasync(int(fd))

    def sys_errno():
        """The calling thread's ``errno`` after a failed call above."""
        return ctypes.get_errno()

    def sys_clock_gettime(clock, address):
        """``clock_gettime(2)`` into the two int64 at ``address`` (seconds, nanoseconds)."""
        return _libc.clock_gettime(int(clock), int(address))

    def sys_nanosleep(timespec_address):
        """``nanosleep(2)`` for the timespec at ``timespec_address``."""
        return _libc.nanosleep(ctypes.c_void_p(int(timespec_address)), None)

    def sys_futex_wait(address, expected, timeout_address):
        """``FUTEX_WAIT`` on the int32 at ``address`` while it holds ``expected``, for the timespec at ``timeout_address``."""
        return _libc.syscall(FUTEX_SYSCALL, ctypes.c_void_p(int(address)), _FUTEX_WAIT_PRIVATE, ctypes.c_int(int(expected)),
                             ctypes.c_void_p(int(timeout_address)), None, 0)

    def sys_futex_wake(address):
        """``FUTEX_WAKE`` every thread waiting on the int32 at ``address``."""
        return _libc.syscall(FUTEX_SYSCALL, ctypes.c_void_p(int(address)), _FUTEX_WAKE_PRIVATE, 0x7FFFFFFF, None, None, 0)

else:
    import llvmlite.binding
    from llvmlite import ir
    from numba import types
    from numba.core import cgutils
    from numba.extending import intrinsic

    def _fence(ordering, doc):
        """An intrinsic of no arguments that emits LLVM's ``fence`` of ``ordering``."""

        def emit(typingctx):
            def codegen(context, builder, signature, args):
                builder.fence(ordering)
                return context.get_dummy_value()

            return types.void(), codegen

        emit.__name__, emit.__doc__ = f"fence_{ordering}", doc
        return intrinsic(emit)

    fence = _fence("seq_cst", "A sequentially consistent memory fence: no load or store moves across it (compiler or CPU).")
    release_fence = _fence(
        "release", "A release fence: no load or store before it moves after a store that follows it (no instruction on x86)."
    )

    @intrinsic
    def _load_int32(typingctx, pointer):
        """The int32 at ``pointer`` (a ``CPointer(int32)``)."""

        def codegen(context, builder, signature, args):
            return builder.load(args[0])

        return types.int32(pointer), codegen

    sys_write = types.ExternalFunction("write", types.int64(types.int32, types.intp, types.uint64))
    sys_fdatasync = types.ExternalFunction("fdatasync", types.int32(types.int32))
    sys_clock_gettime = types.ExternalFunction("clock_gettime", types.int32(types.int32, types.intp))
    _errno_location = types.ExternalFunction("__errno_location", types.CPointer(types.int32)())

    HARDWARE_CRC32C = platform.machine() == "x86_64" and bool(llvmlite.binding.get_host_cpu_features().get("sse4.2"))

    _nanosleep = types.ExternalFunction("nanosleep", types.int32(types.intp, types.intp))

    @hot_kernel
    def sys_nanosleep(timespec_address):
        """``nanosleep(2)`` for the timespec at ``timespec_address``."""
        return _nanosleep(timespec_address, 0)

    _syscall = types.ExternalFunction(
        "syscall", types.int64(types.int64, types.intp, types.int32, types.int32, types.intp, types.intp, types.int32)
    )

    @hot_kernel
    def sys_futex_wait(address, expected, timeout_address):
        """``FUTEX_WAIT`` on the int32 at ``address`` while it holds ``expected``, for the timespec at ``timeout_address``."""
        return _syscall(FUTEX_SYSCALL, address, _FUTEX_WAIT_PRIVATE, expected, timeout_address, 0, 0)

    @hot_kernel
    def sys_futex_wake(address):
        """``FUTEX_WAKE`` every thread waiting on the int32 at ``address``."""
        return _syscall(FUTEX_SYSCALL, address, _FUTEX_WAKE_PRIVATE, 0x7FFFFFFF, 0, 0, 0)

    @intrinsic
    def crc32c_word(typingctx, crc, word):
        """The SSE 4.2 ``crc32`` instruction on 8 bytes: CRC32C state ``crc`` (uint64, un-inverted) after ``word``."""

        def codegen(context, builder, signature, args):
            i64 = ir.IntType(64)
            instruction = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(i64, [i64, i64]), "llvm.x86.sse42.crc32.64.64"
            )
            return builder.call(instruction, args)

        return types.uint64(types.uint64, types.uint64), codegen

    @hot_kernel
    def sys_errno():
        """The calling thread's ``errno`` after a failed call above."""
        return _load_int32(_errno_location())
