"""A person in a real browser (Debian's chromium, headless, via Playwright) against a real
``filebridge web`` process: log in, see the tiles, open a run, approve a held run, replay
a file, download a reject CSV, log out. Every page visited is saved as a screenshot;
``FILEBRIDGE_SCREENSHOTS=DIR`` keeps them, ``FILEBRIDGE_UPDATE_DOCS=1`` also rewrites the
README's picture of the tiles (docs/web-tiles.png)."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from filebridge.pipeline.context import open_context
from tests.web.conftest import PASSWORD, build_site, served

DOCS_TILES = Path(__file__).resolve().parents[2] / "docs" / "web-tiles.png"


class Camera:
    """Saves a full-page screenshot of each page under a name."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.taken: list[Path] = []

    def shoot(self, page: Any, name: str) -> Path:
        path = self.folder / f"{len(self.taken) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 5_000  # a rendered page, not an empty one
        self.taken.append(path)
        return path


@pytest.mark.browser
def test_a_person_approves_replays_downloads_and_logs_out(chromium, tmp_path):
    site = build_site(tmp_path / "ws")
    camera = Camera(Path(os.environ.get("FILEBRIDGE_SCREENSHOTS") or tmp_path / "shots"))
    with served(site.settings, tmp_path / "web.log") as url:
        context = chromium.new_context(viewport={"width": 1280, "height": 800},
                                       accept_downloads=True)
        page = context.new_page()
        page.goto(f"{url}/")
        assert page.url.startswith(f"{url}/login?next=")
        camera.shoot(page, "login")
        page.fill("input[name=name]", "ann")
        page.fill("input[name=password]", PASSWORD)
        page.click("button:has-text('Log in')")

        # The tiles.
        page.wait_for_selector("article.tile")
        tiles = page.locator("article.tile")
        assert tiles.count() == 2
        assert "Connected" in tiles.nth(0).inner_text()
        assert "Never synced" in tiles.nth(1).inner_text()
        assert page.locator("img.chart").first.evaluate("i => i.naturalWidth") == 640
        tiles_png = camera.shoot(page, "tiles")
        if os.environ.get("FILEBRIDGE_UPDATE_DOCS") == "1":
            shutil.copy(tiles_png, DOCS_TILES)

        # Open the held run from its tile, review the approval, confirm it.
        page.click(f"article.tile >> text=run {site.held_run}")
        page.wait_for_selector("h1:has-text('Run')")
        assert "row-count-drop" in page.content()
        camera.shoot(page, "held-run")
        page.click("button:has-text('Review approval')")
        page.wait_for_selector("button:has-text('Confirm and apply this plan')")
        assert "nothing applied yet" in page.inner_text("main")
        camera.shoot(page, "approve-plan")
        page.click("button:has-text('Confirm and apply this plan') >> nth=0")
        page.wait_for_selector("text=approve (apply)")
        camera.shoot(page, "approved")
        ctx = open_context(site.settings)
        try:
            assert ctx.ledger.get_run(site.held_run).state == "approved"
        finally:
            ctx.close()

        # Replay the file just applied: its plan (nothing left to change), then confirm.
        page.click("nav >> text=Files")
        camera.shoot(page, "files")
        page.locator("tbody tr").first.locator("button:has-text('Replay')").click()
        page.wait_for_selector("h1:has-text('Replay file')")
        camera.shoot(page, "replay-plan")
        page.click("button:has-text('Confirm and apply this plan') >> nth=0")
        page.wait_for_selector("text=replay (apply)")
        assert "applied" in page.inner_text("h1")
        camera.shoot(page, "replayed")

        # The reject CSV of night 1.
        page.goto(f"{url}/runs/{site.applied_run}")
        camera.shoot(page, "run-with-rejects")
        saved = download(page, "Download the reject CSV",
                         f"run-{site.applied_run}-rejects.csv", tmp_path)
        rows = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
        assert rows and all(r["filebridge_error"] for r in rows)
        saved = download(page, "Download the change list (CSV)",
                         f"run-{site.applied_run}-changes.csv", tmp_path)
        rows = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
        assert rows and {r["action"] for r in rows} == {"create"}

        # A person from the run's plan, then another by the search box: the approval
        # above (by ann) deactivated someone past the truncated file's 30 rows.
        page.locator("details:has(table.plan a[href^='/people']) > summary").first.click()
        page.locator("table.plan a[href^='/people']").first.click()
        page.wait_for_selector("h2:has-text('of acme')")
        camera.shoot(page, "person")
        page.fill("input[name=q]", "001150")
        page.press("input[name=q]", "Enter")
        page.wait_for_selector("h2:has-text('001150 of acme')")
        row = page.locator("table.timeline tbody tr").first
        assert "approve" in row.inner_text() and "ann" in row.inner_text()
        assert "deactivate" in row.inner_text()

        for path, name in (("/runs", "history"), ("/held", "held"), ("/check", "check"),
                           ("/activity", "activity"), ("/users", "users")):
            page.goto(f"{url}{path}")
            assert "Something needs attention" not in page.content(), path
            camera.shoot(page, name)
        assert "ann" in page.inner_text("main")

        # Log out: the pages are closed again.
        page.click("button:has-text('Log out')")
        page.wait_for_selector("h1:has-text('Log in')")
        page.goto(f"{url}/runs")
        assert page.url.startswith(f"{url}/login")
        context.close()
    assert len(camera.taken) == 15


def _drifted_night(root: Path) -> tuple[Path, int, tuple[str, str]]:
    """A workspace with group rules: night 1 applied, one of its memberships deleted in
    the store's database by someone else, night 2 applied (it puts it back). Returns the
    settings, night 2's run id and the (employee_id, group) that drifted."""
    import sqlalchemy as sa

    from filebridge.lms.schema import group_members, groups
    from filebridge.lms.schema import users as people
    from filebridge.web import users
    from tests.cli.test_json_contract import GROUP_RULES
    from tests.pipeline.conftest import NIGHT1, NIGHT2, write_workspace
    from tests.pipeline.files import apply, read_rows
    from tests.pipeline.test_field_drift import LOOSE

    settings = write_workspace(root, thresholds=LOOSE)
    mapping = root / "mappings" / "acme.yaml"
    mapping.write_text(mapping.read_text(encoding="utf-8") + GROUP_RULES, encoding="utf-8")
    ctx = open_context(settings)
    try:
        assert apply(ctx, NIGHT1).state == "applied"
        staying = {r["Employee ID"]: r["Department"] for r in read_rows(NIGHT2)}
        held = ctx.store.state("acme").memberships()
        who, group = next((e, g) for e, g in zip(held["employee_id"], held["group"],
                                                 strict=True)
                          if g == f"Dept {staying.get(e)}")
        with ctx.store.engine.begin() as tx:  # an LMS admin's own database session
            tx.execute(sa.delete(group_members).where(
                group_members.c.group_id == sa.select(groups.c.id).where(
                    groups.c.managed_by == "acme", groups.c.name == group).scalar_subquery(),
                group_members.c.user_id == sa.select(people.c.id).where(
                    people.c.managed_by == "acme",
                    people.c.employee_id == who).scalar_subquery()))
        night2 = apply(ctx, NIGHT2)
        assert night2.state == "applied" and night2.run_id is not None
        assert [(d.employee_id, d.group) for d in night2.plan.group_drift] == [(who, group)]
        users.add_user(ctx.ledger.web_accounts, "ann", "admin", PASSWORD, by="test")
    finally:
        ctx.close()
    return settings, night2.run_id, (who, group)


@pytest.mark.browser
def test_a_run_page_shows_group_drift_and_links_the_change_list_and_the_log(
        chromium, tmp_path):
    settings, run_id, (who, group) = _drifted_night(tmp_path / "ws")
    camera = Camera(Path(os.environ.get("FILEBRIDGE_SCREENSHOTS") or tmp_path / "shots"))
    with served(settings, tmp_path / "web.log") as url:
        context = chromium.new_context(viewport={"width": 1280, "height": 800},
                                       accept_downloads=True)
        page = context.new_page()
        page.goto(f"{url}/login?next=/runs/{run_id}")
        page.fill("input[name=name]", "ann")
        page.fill("input[name=password]", PASSWORD)
        page.click("button:has-text('Log in')")
        page.wait_for_selector(f"h1:has-text('Run {run_id}')")
        camera.shoot(page, "run-with-group-drift")
        drift = page.locator("details:has(table.group-drift)")
        assert "Group drift" in drift.locator("summary").inner_text()
        assert "group drift 1" in page.inner_text("p.counts")
        cells = drift.locator("tbody tr").first.locator("td")
        assert [cells.nth(i).inner_text() for i in range(2)] == [who, group]
        added = page.locator("table.groups tbody tr", has_text=group).filter(has_text=who)
        assert added.count() == 1 and "+" in added.inner_text()

        saved = download(page, "Download the change list (CSV)",
                         f"run-{run_id}-changes.csv", tmp_path)
        rows = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
        assert {(r["employee_id"], r["new"]) for r in rows
                if r["action"] == "group_add"} >= {(who, group)}
        saved = download(page, "Download the run log (JSON Lines)",
                         f"run-{run_id}-log.jsonl", tmp_path)
        lines = [json.loads(x) for x in saved.read_text(encoding="utf-8").splitlines()]
        assert {x["run_id"] for x in lines} == {run_id}
        assert lines[-1]["message"].startswith(f"run {run_id} applied: ")
        context.close()

def download(page: Any, link: str, name: str, folder: Path) -> Path:
    """Click the link ``link``, check the download is offered as ``name``, and save it
    into ``folder``; returns the saved file."""
    with page.expect_download() as download_info:
        page.click(f"text={link}")
    offered = download_info.value
    assert offered.suggested_filename == name
    saved = folder / name
    offered.save_as(str(saved))
    return saved
