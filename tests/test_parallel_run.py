"""The parallel run keeps the promise the Moodle tests rely on: tests marked with one
``xdist_group`` run on one worker (one Moodle install per run, its tests one after another).

pytest-xdist passes the group to its scheduler inside the test ids; a pytest whose ids
drop that suffix (pytest 9.2 with pytest-xdist 3.8) spreads the group silently, and every
worker then installs a Moodle of its own. A small suite of its own checks it here.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

GROUPED = '''import pytest

pytestmark = pytest.mark.xdist_group("shared")


def test_{name}_one():
    pass


def test_{name}_two():
    pass
'''


def test_one_group_runs_on_one_worker(tmp_path: Path) -> None:
    for name in ("first", "second"):
        (tmp_path / f"test_{name}.py").write_text(GROUPED.format(name=name), encoding="utf-8")
    (tmp_path / "test_free.py").write_text(
        "".join(f"def test_free_{i}():\n    pass\n\n\n" for i in range(4)), encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup",
                          "-v", "-p", "no:cacheprovider", str(tmp_path)],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    ran = re.findall(r"^\[(gw\d+)\] .*PASSED (\S+)", run.stdout, re.MULTILINE)
    grouped = {(worker, test) for worker, test in ran if "test_free" not in test}
    assert len(grouped) == 4, run.stdout
    assert all(test.endswith("@shared") for _, test in grouped), run.stdout
    assert len({worker for worker, _ in grouped}) == 1, run.stdout
