"""Keep freed memory in the process for the next model call (glibc's malloc thresholds).

Every energy + forces call allocates its per-edge buffers afresh. glibc's ``malloc`` serves
large ones with ``mmap`` and unmaps them when freed, so the next call faults every page
in again (docs/performance.md measures what that costs). Raising the mmap and
trim thresholds makes freed buffers stay in the heap for reuse. Peak memory is
unchanged; what changes is that the process keeps it instead of returning it between
calls. This is a process-wide setting, so equipot applies it only where asked: the
simulation commands (``equipot md``, ``relax``, ``neb``) call `keep_freed_memory`, and
scripts can too.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

__all__ = ["KEPT_BLOCK_BYTES", "keep_freed_memory"]

#: blocks up to this size (bytes) come from the heap and stay there when freed
KEPT_BLOCK_BYTES = 1 << 30

_M_TRIM_THRESHOLD = -1  # glibc's malloc.h
_M_MMAP_THRESHOLD = -3


def keep_freed_memory(max_block_bytes: int = KEPT_BLOCK_BYTES) -> bool:
    """Ask glibc's ``malloc`` to keep freed blocks up to ``max_block_bytes`` for reuse
    instead of returning them to the kernel, for the rest of the process.

    Same effect as starting the process with ``MALLOC_MMAP_THRESHOLD_`` and
    ``MALLOC_TRIM_THRESHOLD_`` set to ``max_block_bytes``; those variables also cover
    what was allocated before this call, and gained more where measured
    (docs/performance.md, "The memory allocator"). Returns True if applied,
    False where the C library is not glibc (macOS, Windows, musl), which is left as it is.
    Raises ValueError below 1 MiB.
    """
    if max_block_bytes < 1 << 20:
        raise ValueError(
            f"max_block_bytes={max_block_bytes} would send even small buffers to the kernel; "
            f"give at least 1 MiB ({1 << 20}; the default keeps blocks up to {KEPT_BLOCK_BYTES})"
        )
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    size = int(min(max_block_bytes, 2**31 - 1))
    # mallopt returns 1 on success; glibc caps the mmap threshold at 32 MiB unless set explicitly
    return bool(mallopt(_M_MMAP_THRESHOLD, size)) and bool(mallopt(_M_TRIM_THRESHOLD, size))
