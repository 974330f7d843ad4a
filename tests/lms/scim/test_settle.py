"""A run feeding a SCIM server tells the truth after a kill, in either ledger layout.

A SCIM server shares no transaction with the ledger, whatever database the ledger is in,
so every SCIM run records its intent first and marks the end of its sending beside the
journal. Killed after the whole plan was sent but before the applied mark, the next start
shows the run applied with the server's confirmed counts; killed halfway, it shows the run
failed with the changes the server did confirm (the next run sends the rest).
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from filebridge.pipeline.context import open_context
from tests.lms.scim.test_e2e import scim_workspace
from tests.pipeline.conftest import NIGHT1, NIGHT2, write_workspace
from tests.pipeline.test_crash import run
from tests.pipeline.test_separate_ledger import separate_ledger
from tests.scimserver import ScimServer


def _night2(settings: Path):
    ctx = open_context(settings)
    try:
        [night2] = [r for r in ctx.ledger.runs("acme", with_report=True)
                    if r.file_id is not None and r.id == max(
                        x.id for x in ctx.ledger.runs("acme") if x.file_id is not None)]
        return night2, ctx.ledger.get_file(int(night2.file_id or 0)), ctx.ledger.intents.open()
    finally:
        ctx.close()


@pytest.fixture(params=["one-database", "separate-ledger"])
def settings(request, tmp_path: Path, scim_server: ScimServer) -> Path:
    ws = write_workspace(tmp_path / "ws")
    if request.param == "separate-ledger":
        separate_ledger(ws)
    return scim_workspace(tmp_path / "ws", scim_server.tenant(), settings=ws)


def test_killed_after_the_whole_plan_was_sent_the_next_start_shows_applied(settings):
    assert run(settings, "apply", "acme", str(NIGHT1)) == 1
    assert run(settings, "apply", "acme", str(NIGHT2), "--force",
               failpoint="after-commit:kill") == -signal.SIGKILL
    night2, file, still_open = _night2(settings)
    assert (night2.state, file.state, still_open) == ("applied", "applied", [])
    assert (night2.counts["create"], night2.counts["update"],
            night2.counts["deactivate"]) == (11, 5, 3)
    assert run(settings, "apply", "acme", str(NIGHT2)) == 0  # a duplicate: sent once


def test_killed_halfway_the_run_failed_with_what_the_server_confirmed(settings):
    assert run(settings, "apply", "acme", str(NIGHT1)) == 1
    assert run(settings, "apply", "acme", str(NIGHT2), "--force",
               failpoint="mid-apply:kill") == -signal.SIGKILL
    night2, file, still_open = _night2(settings)
    assert (night2.state, file.state, still_open) == ("failed", "received", [])
    # The creates were confirmed, nothing else sent; the note of the managed count the
    # run was judged against stays for the rerun that finishes it.
    assert "managed_when_applying" in night2.counts
    assert {k: v for k, v in night2.counts.items() if k != "managed_when_applying"} == {
        "create": 11}
    assert night2.error is not None and "confirmed 11 change(s)" in night2.error["message"]
    assert run(settings, "apply", "acme", str(NIGHT2), "--force") == 1  # sends the rest
    night2, file, _ = _night2(settings)
    assert night2.state == "applied" and night2.counts["create"] == 0
    assert (night2.counts["update"], night2.counts["deactivate"]) == (5, 3)
