"""The boxes of ARCHITECTURE.md keep their boundaries: checked on real imports."""

from __future__ import annotations

import subprocess
import sys

import pytest

# box -> libraries it must never load (directly or through another box)
RULES = {
    "filebridge.config": ["pandas", "paramiko", "sqlalchemy", "pyarrow"],
    "filebridge.mapping.apply": ["paramiko", "sqlalchemy", "watchdog"],
    "filebridge.plan": ["paramiko", "sqlalchemy", "watchdog"],
    "filebridge.formats": ["paramiko", "sqlalchemy", "watchdog"],
    "filebridge.transports": ["pandas", "sqlalchemy"],
    # The PostgreSQL dialect costs 0.1 s to import: only loaded when a PostgreSQL URL is used.
    "filebridge.lms": ["paramiko", "watchdog", "sqlalchemy.dialects.postgresql"],
    # An import run loads what it uses: not the SSH client, the scheduler or PostgreSQL
    # (each is a tenth of a second of start-up on every nightly file).
    "filebridge.cli.apply": ["paramiko", "apscheduler", "sqlalchemy.dialects.postgresql"],
    "filebridge.cli.replay": ["paramiko", "apscheduler", "sqlalchemy.dialects.postgresql"],
    "filebridge.cli.errors": ["paramiko", "pandas"],
}


@pytest.mark.parametrize("module, forbidden", RULES.items())
def test_box_does_not_load(module, forbidden):
    code = (f"import sys, {module}; "
            f"print(sorted(m for m in {forbidden!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]", f"{module} loads {out}"
