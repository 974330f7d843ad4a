"""Which allocator Arrow uses for the big columns of an import.

A run allocates and frees hundreds of megabytes of Arrow buffers in bursts. With
mimalloc (pyarrow's default on Linux) freed pages go back to the kernel and are
faulted in again by the next step; jemalloc keeps them for reuse. On a 1M-row
night file that is measured as about 15% less wall time and 100 MB less peak
memory (benchmarks/import_million.py).
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
        except NotImplementedError:  # a pyarrow built without jemalloc keeps its default
            pass
    return str(pa.default_memory_pool().backend_name)
