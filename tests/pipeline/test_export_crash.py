"""SIGKILL a real `filebridge export` mid-upload and between upload and watermark; the next
run delivers the same file under the same name, and every completion arrives exactly once."""

from __future__ import annotations

import csv
import signal
from pathlib import Path

import pytest

from tests.pipeline.conftest import NIGHT1, SAMPLES
from tests.pipeline.export_fixtures import export_workspace
from tests.pipeline.test_crash import run


def refs(outbox: Path) -> list[str]:
    """The LMS reference of every completion row in every visible delivered file."""
    out = []
    for path in sorted(outbox.glob("[!.]*.csv")):
        with path.open(encoding="utf-8", newline="") as fh:
            out += [r["Ref"] for r in csv.DictReader(fh) if r["Ref"]]
    return out


@pytest.mark.parametrize("step", ["mid-upload", "after-upload-before-watermark"])
def test_kill_during_delivery_then_rerun_delivers_exactly_once(tmp_path: Path, step: str) -> None:
    settings = export_workspace(tmp_path)
    outbox = tmp_path / "outbox"
    assert run(settings, "apply", "acme", str(NIGHT1)) == 1
    assert run(settings, "lms", "load-completions", str(SAMPLES / "acme_completions.csv"),
               "--connection", "acme") == 0
    assert run(settings, "export", "acme", failpoint=f"{step}:kill") == -signal.SIGKILL
    visible = list(outbox.glob("[!.]*"))
    if step == "mid-upload":
        # Never a partial file under the final name: before the rename only a dot-file exists.
        assert visible == [] and list(outbox.glob(".*.part"))
    else:
        assert len(visible) == 1  # delivered, but the watermark has not moved
    assert run(settings, "export", "acme") == 0
    assert run(settings, "export", "acme") == 0  # nothing left: no second file
    files = sorted(p.name for p in outbox.glob("[!.]*"))
    assert len(files) == 1 and files[0].endswith("_0001.csv")
    assert not list(outbox.glob(".*.part"))  # the rerun removed the killed upload's part
    sent = refs(outbox)
    assert sorted(sent, key=int) == [str(i) for i in range(1, 31)]  # 30 results, once each
