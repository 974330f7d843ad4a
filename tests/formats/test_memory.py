"""The Arrow allocator an import uses."""

from __future__ import annotations

import subprocess
import sys

import pytest


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



def test_freed_arrow_memory_goes_back_to_the_kernel_at_once(tmp_path):
    """Pages a parse frees are not kept for later: they would stack up under the next
    step's allocations and raise the run's peak (measured in a fresh process)."""
    data = tmp_path / "people.csv"
    data.write_text("id,email,name\n" + "".join(
        f"{i:08d},p{i:08d}@example.com,Person {i % 97}\n" for i in range(600_000)))
    code = ("import sys, pyarrow as pa, pyarrow.csv as pacsv\n"
            "from filebridge.formats.memory import use_batch_memory_pool\n"
            "def rss():\n"
            "    line = next(x for x in open('/proc/self/status') if x.startswith('VmRSS'))\n"
            "    return int(line.split()[1]) // 1024\n"
            "pool = use_batch_memory_pool()\n"
            "base = rss()\n"
            "table = pacsv.read_csv(sys.argv[1])  # Arrow's parse, on its worker threads\n"
            "held = rss() - base\n"
            "del table\n"
            "print(pool, held, rss() - base, pa.total_allocated_bytes())\n")
    out = subprocess.run([sys.executable, "-c", code, str(data)], capture_output=True,
                         text=True, check=True).stdout.split()
    pool, held, after, live = out[0], int(out[1]), int(out[2]), int(out[3])
    if pool != "jemalloc":
        pytest.skip(f"this pyarrow has no jemalloc ({pool} has its own policy)")
    live_mb = live >> 20  # Arrow may still hold a buffer or two of its readahead
    assert held > 20
    assert after - live_mb < held / 2, (held, after, live_mb)


def test_big_blocks_freed_by_python_leave_the_process():
    """Multi-megabyte arrays freed between steps are returned to the kernel, not left as
    holes in the heap between small blocks that stay (glibc raises its mmap threshold
    after a big block is freed unless it is fixed)."""
    code = ("import numpy as np\n"
            "from filebridge.formats.memory import use_batch_memory_pool\n"
            "def rss():\n"
            "    line = next(x for x in open('/proc/self/status') if x.startswith('VmRSS'))\n"
            "    return int(line.split()[1]) // 1024\n"
            "use_batch_memory_pool()\n"
            "first = np.ones(2_500_000)  # 20 MB: mapped on its own\n"
            "del first  # which makes a default glibc serve the next big arrays from the heap\n"
            "base = rss()\n"
            "blocks, pinned = [], []\n"
            "for _ in range(50):  # 50 x 4 MB, each followed by a small block that stays\n"
            "    blocks.append(np.ones(500_000))\n"
            "    pinned.append(bytearray(5000))\n"
            "held = rss() - base\n"
            "del blocks\n"
            "print(held, rss() - base)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    held, after = int(out[0]), int(out[1])
    assert held > 150
    assert after < 30, (held, after)
