"""Keep the C heap from handing memory back to the OS between training steps (Linux, glibc).

Every training step frees and re-allocates the same activation and gradient buffers (a few MB
each). glibc's malloc serves blocks above its mmap threshold with fresh ``mmap`` pages and
returns freed heap tops to the OS, so the next step page-faults all of that memory back in,
zero-filled: measured on ResNet-18 at 64 px on a CPU, ~120,000 page faults per 20-step epoch,
about 5 % of the epoch. PyTorch's CPU performance guide recommends jemalloc or tcmalloc for the
same reason; this does the same with the allocator already there, through ``mallopt``: blocks up
to 32 MB come from the heap, and up to 256 MB of freed heap is kept for the next step.

Only training processes call it (the memory stays theirs until they exit). Elsewhere than
glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # glibc's maximum on 64-bit systems
TRIM_THRESHOLD = 256 << 20


def keep_freed_memory() -> bool:
    """Tune glibc's malloc for a training loop; True when it took effect."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other C libraries have no mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
