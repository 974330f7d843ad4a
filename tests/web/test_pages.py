"""The admin pages show what the CLI shows and act through the same library functions."""

from __future__ import annotations

import csv
import io
import json
import shutil
import sqlite3
import threading
import time
from datetime import UTC, datetime

from filebridge.explain import explain
from filebridge.ledger.errors import UnknownRun
from filebridge.ledger.queries import RunFilter
from filebridge.pipeline.context import open_context
from filebridge.pipeline.importer import RunOptions, run_import
from filebridge.pipeline.overview import history_page
from filebridge.pipeline.person import person_timeline
from tests.pipeline.conftest import DELTA
from tests.web.conftest import (
    PASSWORD,
    SCRIPT_NAME,
    build_site,
    client_of,
    csrf_of,
    digest_of,
    log_in,
)


def test_tiles_show_each_connections_state_last_sync_and_held_runs(site, client):
    ctx = open_context(site.settings)
    try:
        state = ctx.ledger.daemon_state
        task = state.start_task("acme-xml", "import", "schedule", "test:1", datetime.now(UTC))
        state.finish_task(task, "failed", 3, {"code": "transport-unavailable", "retry": True,
                                              "message": "sftp.example: connection refused"},
                          datetime(2026, 12, 1, 22, 0, 5, tzinfo=UTC))
    finally:
        ctx.close()
    log_in(client, "val")
    page = client.get("/").text
    acme = page[page.index("<h2>acme</h2>"):page.index("<h2>acme-xml</h2>")]
    assert "Connected" in acme and "acme_employees_2026-11-24.csv" in acme
    assert f"run {site.held_run}</a> (acme_employees_2026-11-25.csv)" in acme
    xml = page[page.index("<h2>acme-xml</h2>"):]
    assert "Connection error" in xml and "sftp.example: connection refused" in xml
    assert "2026-12-01 22:00:05 UTC" in xml  # when it failed
    assert "Daemon not running" in page
    assert "Sync now" not in page  # a viewer has no buttons


def test_a_connection_that_never_ran_says_never_synced(tmp_path):
    site = build_site(tmp_path / "ws")
    with client_of(site) as c:
        log_in(c, "val")
        page = c.get("/").text
        assert "Never synced" in page[page.index("<h2>acme-xml</h2>"):]


def test_history_filters_and_pages(site, client):
    log_in(client, "val")
    held = client.get("/runs", params={"state": "held"}).text
    assert f'<a href="/runs/{site.held_run}">' in held
    assert f'<a href="/runs/{site.applied_run}">' not in held and "1 runs" in held
    both = client.get("/runs", params={"connection": "acme", "kind": "import"}).text
    assert "2 runs" in both
    today = datetime.now(UTC).date().isoformat()
    assert "2 runs" in client.get("/runs", params={"since": today, "until": today}).text
    assert "0 runs" in client.get("/runs", params={"until": "2000-01-01"}).text
    bad = client.get("/runs", params={"since": "yesterday"}).text
    assert "since: &#39;yesterday&#39; is not a date (YYYY-MM-DD)" in bad
    ctx = open_context(site.settings)
    try:
        first = history_page(ctx, RunFilter(connection="acme"), page=1, per_page=1)
        second = history_page(ctx, RunFilter(connection="acme"), page=2, per_page=1)
        assert (first.total, first.pages) == (2, 2)
        assert [r["run_id"] for r in first.rows + second.rows] == [site.held_run,
                                                                   site.applied_run]
    finally:
        ctx.close()


def test_run_detail_plan_holds_rejects_and_downloads(site, client):
    log_in(client, "val")
    page = client.get(f"/runs/{site.held_run}").text
    assert "row-count-drop" in page and "fewer than the" in page  # a hold with its reason
    assert '<td class="old">' in page and "→" in page  # field changes old → new
    assert "Deactivate (" in page
    applied = client.get(f"/runs/{site.applied_run}").text
    assert "<th>line</th><th>column</th><th>value</th><th>code</th><th>reason</th>" in applied
    assert "<td>42</td><td>Work Email</td>" in applied  # a rejected row: line and column
    assert f"/runs/{site.applied_run}/rejects.csv" in applied
    report = client.get(f"/runs/{site.applied_run}/report.json")
    assert report.headers["content-type"].startswith("application/json")
    doc = json.loads(report.text)
    assert doc["run_id"] == site.applied_run and doc["report"]["counts"]["create"] > 150
    rejects = client.get(f"/runs/{site.applied_run}/rejects.csv").text
    assert rejects.splitlines()[0].endswith(",filebridge_error")
    assert "line 42: Work Email:" in rejects


def test_run_page_links_the_change_list_and_the_log(site, client):
    log_in(client, "val")
    page = client.get(f"/runs/{site.applied_run}").text
    assert f"/runs/{site.applied_run}/changes.csv" in page
    assert f"/runs/{site.applied_run}/log.jsonl" in page
    changes = client.get(f"/runs/{site.applied_run}/changes.csv")
    assert changes.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(changes.text.lstrip("\ufeff"))))
    assert len([r for r in rows if r["action"] == "create"]) == json.loads(client.get(
        f"/runs/{site.applied_run}/report.json").text)["report"]["counts"]["create"]
    log = [json.loads(line) for line in client.get(
        f"/runs/{site.applied_run}/log.jsonl").text.splitlines()]
    assert log and all(line["run_id"] == site.applied_run for line in log)
    assert client.get("/runs/4242/changes.csv").status_code == 404


def test_errors_have_the_clis_code_and_words(site, client):
    log_in(client, "val")
    missing = client.get("/runs/4242")
    assert missing.status_code == 404 and "unknown-run" in missing.text
    for line in explain(UnknownRun(4242, "x")).lines:
        assert line.split(" not in ")[0] in missing.text
    unknown = client.get("/connections/nope/chart.svg")
    assert unknown.status_code == 404 and "no connection &#39;nope&#39;" in unknown.text


def test_approve_shows_the_replan_then_applies_it_as_the_user(fresh_site, fresh_client):
    token = log_in(fresh_client, "sam")
    held = fresh_site.held_run
    preview = fresh_client.post(f"/runs/{held}/approve", data={"csrf": token, "step": "plan"})
    assert preview.status_code == 200 and "Confirm and apply this plan" in preview.text
    assert "row-count-drop" in preview.text and "nothing applied yet" in preview.text
    done = fresh_client.post(f"/runs/{held}/approve", data={
        "csrf": token, "step": "apply", "digest": digest_of(preview.text)},
        follow_redirects=False)
    assert done.status_code == 303
    new_run = int(done.headers["location"].rsplit("/", 1)[1])
    ctx = open_context(fresh_site.settings)
    try:
        assert ctx.ledger.get_run(held).state == "approved"
        approved = ctx.ledger.get_run(new_run)
        assert (approved.kind, approved.state, approved.about_run) == ("approve", "applied", held)
        assert approved.actor == "sam"  # the run itself names the signed-in user
        actions = ctx.ledger.web_accounts.actions(run_id=held)
        assert [(a.user, a.action, a.outcome) for a in actions][:2] == [
            ("sam", "approve", "applied"), ("sam", "approve", "planned")]
    finally:
        ctx.close()
    page = fresh_client.get(f"/runs/{held}").text
    assert "sam — approve (applied)" in page
    assert "sam" in fresh_client.get("/activity").text


def test_a_plan_that_changed_since_it_was_shown_is_not_applied(fresh_site, fresh_client):
    token = log_in(fresh_client, "sam")
    held = fresh_site.held_run
    preview = fresh_client.post(f"/runs/{held}/approve", data={"csrf": token, "step": "plan"})
    ctx = open_context(fresh_site.settings)
    try:  # meanwhile the LMS changes (a delta file arrives)
        assert run_import(ctx, "acme", DELTA, RunOptions("apply")).state == "applied"
    finally:
        ctx.close()
    again = fresh_client.post(f"/runs/{held}/approve", data={
        "csrf": token, "step": "apply", "digest": digest_of(preview.text)})
    # The newer file that arrived meanwhile makes the held run stale: approval stops before
    # re-planning (as on the command line), and nothing is applied either way.
    assert (again.status_code, "stays held" in again.text) == (400, True), again.text[:500]
    ctx = open_context(fresh_site.settings)
    try:
        assert ctx.ledger.get_run(held).state == "held"
    finally:
        ctx.close()


def test_discard_and_replay(fresh_site, fresh_client):
    token = log_in(fresh_client, "sam")
    gone = fresh_client.post(f"/runs/{fresh_site.held_run}/discard", data={"csrf": token},
                             follow_redirects=False)
    assert gone.status_code == 303
    preview = fresh_client.post("/files/1/replay", data={"csrf": token, "step": "plan"})
    assert "Replay file 1" in preview.text and "It changes nobody." in preview.text
    done = fresh_client.post("/files/1/replay", data={
        "csrf": token, "step": "apply", "digest": digest_of(preview.text)},
        follow_redirects=False)
    replayed = int(done.headers["location"].rsplit("/", 1)[1])
    ctx = open_context(fresh_site.settings)
    try:
        assert ctx.ledger.get_run(fresh_site.held_run).state == "discarded"
        run = ctx.ledger.get_run(replayed)
        assert (run.kind, run.state) == ("replay", "applied")
        assert ctx.ledger.get_file(run.file_id or 0).sha256 == ctx.ledger.get_file(1).sha256
        found = {(a.action, a.target, a.user) for a in ctx.ledger.web_accounts.actions()}
        assert {("discard", f"run {fresh_site.held_run}", "sam"),
                ("replay", "file 1", "sam")} <= found
    finally:
        ctx.close()


def test_sync_now_imports_the_inbox(tmp_path):
    site = build_site(tmp_path / "ws", transport='{type: local, inbox: drop/acme, pattern: '
                      '"acme_*.csv", ready: {stable_seconds: 0.5}}')
    inbox = site.settings.parent / "drop" / "acme"
    inbox.mkdir(parents=True)
    shutil.copy(DELTA, inbox / DELTA.name)
    with client_of(site) as c:
        token = log_in(c, "sam")
        page = c.post("/connections/acme/sync", data={"csrf": token})
        assert page.status_code == 200
        assert f"{DELTA.name}</strong>: applied" in page.text and "archived to" in page.text


def test_a_busy_connection_says_with_what(fresh_site, fresh_client):
    token = log_in(fresh_client, "sam")
    ctx = open_context(fresh_site.settings)
    try:
        running = ctx.ledger.start_run("acme", "import", "apply", 1, datetime.now(UTC))
        with ctx.ledger.lock("acme"):
            page = fresh_client.post(f"/runs/{fresh_site.held_run}/approve",
                                     data={"csrf": token, "step": "plan"})
        assert page.status_code == 409 and "connection-busy" in page.text
        assert "connection &#39;acme&#39; is busy" in page.text
        assert f'run <a href="/runs/{running}">{running}</a> (import, file 1)' in page.text
    finally:
        ctx.close()


def test_reads_never_wait_behind_a_writer(site, client):
    log_in(client, "val")
    database = site.settings.parent / "state" / "lms.sqlite"
    writer = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN IMMEDIATE")  # what an apply holds for its whole transaction
    writer.execute("UPDATE runs SET holder = holder")
    try:
        for path in ("/", "/runs", f"/runs/{site.held_run}", "/held", "/files",
                     "/connections/acme/chart.svg", "/activity"):
            start = time.monotonic()
            assert client.get(path).status_code == 200, path
            assert time.monotonic() - start < 2.5, path  # far below the 5 s busy timeout
    finally:
        threading.Thread(target=writer.execute, args=("ROLLBACK",)).run()
        writer.close()


def test_check_page_shows_the_configuration_problems(tmp_path):
    site = build_site(tmp_path / "ws")
    with client_of(site) as c:
        log_in(c, "val")
        assert "ok</strong>" in c.get("/check").text
        mapping = site.settings.parent / "mappings" / "acme.yaml"
        mapping.write_text(mapping.read_text(encoding="utf-8").replace(
            "transform: [trim, lower]", "transform: [trim, lowr]"), encoding="utf-8")
        page = c.get("/check").text
        assert "1 problem(s)" in page and "fields.email.transform[1]: &#39;lowr&#39;" in page


def test_chart_is_svg_of_people_and_changes(site, client):
    log_in(client, "val")
    svg = client.get("/connections/acme/chart.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.text.startswith("<svg") and 'class="changes"' in svg.text
    assert ": 201 people</title>" in svg.text or "people</title>" in svg.text
    empty = client.get("/connections/acme-xml/chart.svg").text
    assert "no applied import in the last 30 days" in empty


def test_admin_manages_users_and_a_new_password_ends_sessions(fresh_site):
    with client_of(fresh_site) as admin, client_of(fresh_site) as other:
        token = log_in(admin, "ann")
        added = admin.post("/users", data={"csrf": token, "name": "hr.lead", "role": "viewer",
                                           "password": "a long password"},
                           follow_redirects=False)
        assert added.status_code == 303 and "hr.lead" in admin.get("/users").text
        log_in(other, "hr.lead", "a long password")
        admin.post("/users/hr.lead/role", data={"csrf": token, "role": "support"})
        assert "hr.lead (support)" in other.get("/").text
        admin.post("/users/hr.lead/password", data={"csrf": token, "password": "another one!"})
        assert other.get("/", follow_redirects=False).status_code == 303  # logged out
        assert admin.post("/users/ann/remove", data={"csrf": token}).status_code == 409
        admin.post("/users/hr.lead/remove", data={"csrf": token})
        assert "hr.lead" not in admin.get("/users").text.split("<h2>Add a user")[0]
        weak = admin.post("/users", data={"csrf": token, "name": "x", "role": "viewer",
                                          "password": "short"})
        assert weak.status_code == 400 and "weak-password" in weak.text
        assert PASSWORD not in admin.get("/activity").text


def test_login_returns_to_the_page_asked_for(site, client):
    first = client.get(f"/runs/{site.held_run}", follow_redirects=False)
    login = client.get(first.headers["location"])
    done = client.post("/login", data={"csrf": csrf_of(login.text), "name": "val",
                                       "password": PASSWORD, "next": f"/runs/{site.held_run}"},
                       follow_redirects=False)
    assert done.headers["location"] == f"/runs/{site.held_run}"
    for target in ("//evil.example/", "/\t/evil.example", "https://evil.example/",
                   "/\\evil.example"):
        evil = client.post("/login", data={"csrf": csrf_of(client.get("/login").text),
                                           "name": "val", "password": PASSWORD,
                                           "next": target}, follow_redirects=False)
        assert evil.headers["location"] == "/", target


def test_replay_of_an_unknown_file_is_a_404(site, client):
    token = log_in(client, "sam")
    page = client.post("/files/999/replay", data={"csrf": token, "step": "plan"})
    assert page.status_code == 404 and "unknown-file" in page.text


def test_person_page_reads_the_same_answer_as_the_cli(site, client):
    log_in(client, "val")
    ctx = open_context(site.settings)
    try:
        answer = person_timeline(ctx, "acme", "001001")
    finally:
        ctx.close()
    page = client.get("/people", params={"connection": "acme", "q": "001001"}).text
    assert "<h2>001001 of acme</h2>" in page
    assert "&lt;script&gt;" in page and SCRIPT_NAME not in page  # the hostile name, escaped
    runs = [e.run_id for e in answer.timeline]
    assert runs == [site.held_run, site.applied_run]  # the held night would rename them
    assert f'<a href="/runs/{site.applied_run}">{site.applied_run}</a>' in page
    assert "create (line 3)" in page
    assert ('held: would update first_name: <span class="old">&lt;script&gt;alert(&#34;pwned'
            '&#34;)&lt;/script&gt;</span> → <span class="new">Tomás</span> (line 3)') in page
    # Never created (no work e-mail): the page still says why, from the row events.
    rejected = client.get("/people", params={"connection": "acme", "q": "001040"}).text
    assert ("rejected: missing-email column Work Email value <span class=\"old\"></span>: "
            "required field email is blank (line 42)") in rejected
    several = client.get("/people", params={"connection": "acme", "q": "Sofia"}).text
    assert "people in <strong>acme</strong> match" in several
    assert 'href="/people?connection=acme&amp;q=001003"' in several
    other = client.get("/people", params={"connection": "acme-xml", "q": "001001"}).text
    assert "Nobody in connection <strong>acme-xml</strong>" in other
    assert 'type="search" name="q"' in client.get("/people").text
    held = client.get(f"/runs/{site.held_run}").text  # the plan's people link to this page
    assert 'href="/people?connection=acme&amp;q=' in held
