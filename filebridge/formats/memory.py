"""Which allocator Arrow uses for the big columns of an import, and when it gives memory back.

A run allocates and frees hundreds of megabytes of Arrow buffers in bursts. jemalloc
is faster than mimalloc (pyarrow's default on Linux) for this pattern and peaks lower
(benchmarks/import_million.py). Its freed pages are handed back to the kernel at once
rather than kept for a second: kept pages stack up under the next step's allocations,
which on a 1M-row night made the run's peak over 100 MB higher than what was live.
"""

from __future__ import annotations

import ctypes
import os

import pyarrow as pa

_ENV = "ARROW_DEFAULT_MEMORY_POOL"  # Arrow's own switch: an operator's choice wins


def use_batch_memory_pool() -> str:
    """Make jemalloc Arrow's default pool when this pyarrow has it, and keep glibc mapping
    big blocks on their own; returns the Arrow pool in use."""
    if not os.environ.get(_ENV):
        try:
            pa.jemalloc_set_decay_ms(0)  # before the pool's first arena exists
            pa.set_memory_pool(pa.jemalloc_memory_pool())
        except NotImplementedError:  # a pyarrow built without jemalloc keeps its default
            pass
    _fixed_mmap_threshold()
    return str(pa.default_memory_pool().backend_name)


_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
_MMAP_FROM_BYTES = 1 << 20


def _fixed_mmap_threshold() -> None:
    """Keep glibc's malloc mapping big blocks (numpy arrays, joined text) on their own.

    glibc raises its mmap threshold each time a mapped block is freed, up to 32 MB, so
    the next multi-megabyte arrays come from the heap, whose freed holes stay resident
    until the top is free: on the 1M night about 60 MB of the plan's peak. A fixed
    threshold (which also stops the raising) maps and unmaps them as before.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the process already runs on
    except (OSError, AttributeError):  # no mallopt (not glibc): its allocator has its own policy
        return
    mallopt(_M_MMAP_THRESHOLD, _MMAP_FROM_BYTES)
