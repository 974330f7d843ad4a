"""A state folder this user cannot write is a configuration problem (exit 2) that names
the folder, not "unable to open database file" and exit 3 (retry later)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from filebridge.cli.main import main
from tests.pipeline.conftest import NIGHT1, write_workspace

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


@pytest.fixture
def open_folder() -> Iterator[Path]:
    """A workspace folder every user can read (root runs the command as nobody)."""
    root = Path(tempfile.mkdtemp(prefix="filebridge-ro-"))
    root.chmod(0o755)
    yield root
    for path in [root, *root.rglob("*")]:
        if path.is_dir():
            path.chmod(0o755)
    shutil.rmtree(root)


def as_user_without_write_access(settings: Path, *args: str) -> subprocess.CompletedProcess:
    prefix = NOBODY if os.geteuid() == 0 else []
    if prefix and shutil.which(prefix[0]) is None:
        pytest.skip("setpriv (util-linux) is needed to drop root's rights")
    return subprocess.run([*prefix, sys.executable, "-m", "filebridge.cli.main", *args,
                           "--settings", str(settings)], capture_output=True, text=True,
                          timeout=120)


def test_read_only_state_folder_names_the_cause_and_exits_2(open_folder: Path, capsys):
    settings = write_workspace(open_folder / "ws")
    assert main(["apply", "acme", str(NIGHT1), "--settings", str(settings)]) == 1
    capsys.readouterr()
    state = open_folder / "ws" / "state"
    for path in [*state.rglob("*"), state]:
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
                   | stat.S_IRGRP | stat.S_IROTH | (stat.S_IXOTH if path.is_dir() else 0))
    done = as_user_without_write_access(settings, "history")
    assert done.returncode == 2, done.stderr
    assert str(state) in done.stderr and "not writable by user" in done.stderr
    assert "unable to open database file" not in done.stderr
