"""ruff and mypy stay clean: checked in CI like any other promise."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("command", [
    [sys.executable, "-m", "ruff", "check", "filebridge", "tests", "benchmarks", "sample_files"],
    [sys.executable, "-m", "mypy", "filebridge"],
], ids=["ruff", "mypy"])
def test_clean(command):
    if shutil.which(command[2]) is None and not _module_available(command[2]):
        pytest.skip(f"{command[2]} is not installed (pip install -e '.[test]')")
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def _module_available(name: str) -> bool:
    import importlib.util
    return importlib.util.find_spec(name) is not None
