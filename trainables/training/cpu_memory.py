"""Keep freed CPU memory in the process between training steps (glibc's malloc, Linux only).

A CPU training step frees and re-allocates the same tens of megabytes of activations every step.
With glibc's defaults blocks over 32 MB are mmapped and freed memory at the top of the heap is
given back to the OS, so every step page-faults its activations in again: for the full-scale
step of tests/benchmarks/bench_train_epoch.py on 2 cores, about 16,000 page faults and a quarter
of the step time (measured with getrusage and side-by-side step timings). Serving all blocks
from the heap and never trimming it makes the memory of one step the next step's, the way
PyTorch's caching allocator does on CUDA. The price is that the process keeps its peak heap
until it exits: right for a training process, so only training calls this.
"""

from __future__ import annotations

import ctypes
import sys

M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_MAX = -4
SETTINGS = {M_TRIM_THRESHOLD: 2**31 - 1, M_TOP_PAD: 64 * 2**20, M_MMAP_MAX: 0}


def retain_freed_memory() -> bool:
    """Tell glibc's malloc to keep freed memory; False where there is no glibc (macOS, musl)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return all(mallopt(param, value) == 1 for param, value in SETTINGS.items())
