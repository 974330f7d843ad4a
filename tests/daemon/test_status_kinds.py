"""``status`` reflects the last run of every kind: a connection whose latest file was
rejected is not "connected", and it is again once a good file is applied."""

from __future__ import annotations

import os
from pathlib import Path

from filebridge.daemon import Daemon, load_schedules
from filebridge.daemon.status import status
from filebridge.pipeline.context import open_context
from tests.fleetsite import night_file, workspace


def _status(settings: Path) -> dict:
    ctx = open_context(settings)
    try:
        Daemon(ctx, load_schedules(ctx.settings)).run_once()
        return status(ctx, load_schedules(ctx.settings)).to_dict()["connections"][0]
    finally:
        ctx.close()


def test_a_rejected_file_is_not_connected(tmp_path: Path) -> None:
    [settings] = workspace(tmp_path, ["c00"], watch=False, cron="*/1 * * * *")
    inbox = tmp_path / "drop" / "c00"
    (inbox / ".bad.tmp").write_text("Name;Mail\nx;y\n", encoding="utf-8")
    os.replace(inbox / ".bad.tmp", inbox / "hr_2026-12-01.csv")
    entry = _status(settings)
    assert entry["status"] == "error" and "rejected" in entry["reason"], entry
    # The next cron minute would run it again; a fresh schedule pass is due at once here.
    (tmp_path / "schedules" / "c00.yaml").write_text(
        'connection: c00\ntasks: [{task: import, cron: "* * * * *"}]\n')
    night_file(inbox, "c00", 2, 5)
    ctx = open_context(settings)
    try:
        Daemon(ctx, load_schedules(ctx.settings)).run_task("c00", "import")
        entry = status(ctx, load_schedules(ctx.settings)).to_dict()["connections"][0]
    finally:
        ctx.close()
    assert entry["status"] == "connected", entry
