"""Which allocator Arrow uses for the big columns of an import, and when it gives memory back.

A run allocates and frees hundreds of megabytes of Arrow buffers in bursts. jemalloc
is faster than mimalloc (pyarrow's default on Linux) for this pattern and peaks lower
(benchmarks/import_million.py). Its freed pages are handed back to the kernel at once
rather than kept for a second: kept pages stack up under the next step's allocations,
which on a 1M-row night made the run's peak over 100 MB higher than what was live.
"""

from __future__ import annotations

import os

import pyarrow as pa

_ENV = "ARROW_DEFAULT_MEMORY_POOL"  # Arrow's own switch: an operator's choice wins


def use_batch_memory_pool() -> str:
    """Make jemalloc Arrow's default pool when this pyarrow has it; returns the pool in use."""
    if not os.environ.get(_ENV):
        try:
            pa.set_memory_pool(pa.jemalloc_memory_pool())
            pa.jemalloc_set_decay_ms(0)
        except NotImplementedError:  # a pyarrow built without jemalloc keeps its default
            pass
    return str(pa.default_memory_pool().backend_name)
