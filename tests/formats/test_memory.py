"""The Arrow allocator an import uses."""

from __future__ import annotations

import subprocess
import sys


def _pool_after_call(env: dict[str, str]) -> str:
    code = ("from filebridge.formats.memory import use_batch_memory_pool; "
            "import pyarrow as pa; print(use_batch_memory_pool(), "
            "pa.default_memory_pool().backend_name)")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, env=env).stdout.strip()


def test_jemalloc_when_available_and_the_operator_can_choose():
    import os

    import pyarrow as pa
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    try:
        pa.jemalloc_memory_pool()
        expected = "jemalloc"
    except NotImplementedError:
        expected = pa.default_memory_pool().backend_name
    assert _pool_after_call(env) == f"{expected} {expected}"
    assert _pool_after_call({**env, "ARROW_DEFAULT_MEMORY_POOL": "system"}) == "system system"
