"""A run killed while applying, as `history`, `show` (human and --json) and the web pages
show it: the managed count its rerun is judged against is named in words, never shown
as the ledger's raw key, and the changes it confirmed are counted like any run's."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from filebridge.cli.main import main
from filebridge.cli.render import stopped_while_applying
from tests.pipeline.conftest import NIGHT2
from tests.pipeline.test_crash import run
from tests.web.conftest import build_site, client_of, log_in

RAW = "managed_when_applying"
SENTENCE = ("stopped while applying, with no change of it confirmed; the connection managed "
            "{managed} people when it began, and a rerun of this file is judged against "
            "that count")


def test_a_killed_run_reads_well_in_history_show_and_the_web(tmp_path: Path, capsys) -> None:
    site = build_site(tmp_path / "ws")
    assert run(site.settings, "apply", "acme", str(NIGHT2), "--force",
               failpoint="mid-apply:kill") == -signal.SIGKILL
    settings = str(site.settings)

    assert main(["history", "acme", "--json", "--settings", settings]) == 0
    [killed, *_] = json.loads(capsys.readouterr().out)["runs"]
    managed = killed[RAW]
    # The built-in store rolled the run back: no changes, and the note stands apart.
    assert (killed["state"], killed["counts"], isinstance(managed, int)) == (
        "failed", {}, True)
    assert managed > 150
    assert main(["history", "acme", "--settings", settings]) == 0
    text = capsys.readouterr().out
    assert f"(stopped while applying; {managed} managed at its start)" in text
    assert RAW not in text

    run_id = str(killed["run_id"])
    assert main(["show", run_id, "--json", "--settings", settings]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["counts"], shown[RAW], shown["error"]["code"]) == ({}, managed,
                                                                     "interrupted")
    assert main(["show", run_id, "--settings", settings]) == 0
    text = capsys.readouterr().out
    assert SENTENCE.format(managed=managed) in text and "error: interrupted" in text
    assert RAW not in text

    with client_of(site) as client:
        log_in(client, "val")
        page = client.get(f"/runs/{run_id}").text
        assert "<dt>Stopped while applying</dt>" in page
        assert (f"no change of it was confirmed; the connection managed {managed} people "
                "when it began") in page
        listing = client.get("/runs").text
        assert f"(stopped while applying; {managed} managed at its start)" in listing
        assert RAW not in page and RAW not in listing
        # A run without an "update" count never shows dict's own method in its place.
        assert "built-in method" not in page + listing
        # An applied run carries no such note.
        assert "Stopped while applying" not in client.get(f"/runs/{site.applied_run}").text


def test_the_changes_an_external_lms_confirmed_before_the_stop_are_named() -> None:
    detail = {"state": "failed", "counts": {"create": 4, "update": 0, "deactivate": 2},
              RAW: 120}
    assert stopped_while_applying(detail) == (
        "stopped while applying, after the LMS confirmed 4 created, 2 deactivated; the "
        "connection managed 120 people when it began, and a rerun of this file is judged "
        "against that count")
    assert stopped_while_applying({**detail, "state": "running"}).startswith(
        "still applying; the connection managed 120 people")
