"""Process settings for a batch job: BLAS threads, the collector's pace and the C allocator's
thresholds.

``gantry`` runs millions of short-lived objects and, for pixel-heavy instances, buffers of
half a megabyte or more per file through a few processes. Python's defaults suit neither:
:func:`tune_for_batch` sets them once per process (the CLI's, and each worker's).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
import sys

#: glibc ``mallopt`` parameters (``malloc.h``).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
#: Buffers below this come from the heap, not from a fresh ``mmap`` each: a CT slice's bytes
#: are read, copied and written once per file, and a new mapping costs a page fault per 4 KiB.
MMAP_THRESHOLD = 4 << 20
#: Free memory at the top of the heap is handed back to the system only beyond this.
TRIM_THRESHOLD = 64 << 20
_DONE: list[bool] = []


def tune_for_batch() -> None:
    """One BLAS thread (parallel work runs in worker processes: numpy's BLAS pool, one thread
    per core in every process, would only compete with them; set before numpy loads, a user's
    value wins); collect cycles every 20,000 net allocations instead of 700 (the default spent
    about a tenth of the parent's time in the collector); keep file-sized buffers on glibc's
    heap (about 7% of the CPU of a CT run went to mapping and faulting them in). Idempotent;
    the allocator is left alone off glibc."""
    for name in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")
    gc.set_threshold(20_000, 50, 50)
    if _DONE or not sys.platform.startswith("linux"):
        return
    _DONE.append(True)
    try:  # glibc's soname first: find_library runs ldconfig (about 15 ms at every start)
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        except OSError:
            return
    try:
        mallopt = libc.mallopt
    except AttributeError:  # musl or another libc: nothing to tune
        return
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
