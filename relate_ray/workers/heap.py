"""Give a process's freed memory back to the OS: glibc's allocator keeps what torch frees.

A CPU learner allocates and frees gigabytes of tensors every step (activations, gradients, the
optimizer's temporaries). glibc serves a tensor below its mmap threshold from the heap (the
threshold grows to 32 MB as large blocks are freed, so nearly every activation of a small model
lands there) and keeps the freed pages, so the process's resident memory only ratchets up: the 0.5B
Chinese learner held 11.2 GB between steps for about 8 GB of live tensors, and peaked at 15.2 GB
(`python -m relate_ray.bench learner-step --set +experiment=zh`). A fixed 1 MB threshold (blocks
above it are mapped and unmapped, not kept) and `malloc_trim` at the step's phase boundaries took
that to 9.0 and 13.0 GB at the same step time. On a GPU the tensors live in CUDA's own allocator;
this only touches the host heap. Without glibc (macOS, musl) both calls are no-ops.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

_M_MMAP_THRESHOLD = -3  # mallopt's parameter number (malloc.h)
MMAP_THRESHOLD_BYTES = 1 << 20


def _glibc():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None
    except OSError:
        return None


_LIBC = _glibc()


def map_large_blocks(threshold: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Serve blocks of `threshold` bytes and more with their own mapping, returned on free (and stop
    glibc raising the threshold). True if set."""
    if _LIBC is None:
        log.debug("no glibc: the allocator's mmap threshold is left as it is")
        return False
    return bool(_LIBC.mallopt(_M_MMAP_THRESHOLD, threshold))


def return_free_heap() -> bool:
    """Give the heap's free pages back to the OS (glibc's malloc_trim(0)); True if any were."""
    return bool(_LIBC.malloc_trim(0)) if _LIBC is not None else False
