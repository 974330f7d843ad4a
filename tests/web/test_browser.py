"""A person in a real browser (Debian's chromium, headless, via Playwright) against a real
``filebridge web`` process: log in, see the tiles, open a run, approve a held run, replay
a file, download a reject CSV, log out. Every page visited is saved as a screenshot;
``FILEBRIDGE_SCREENSHOTS=DIR`` keeps them, ``FILEBRIDGE_UPDATE_DOCS=1`` also rewrites the
README's picture of the tiles (docs/web-tiles.png)."""

from __future__ import annotations

import csv
import io
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
        with page.expect_download() as download_info:
            page.click("text=Download the reject CSV")
        download = download_info.value
        assert download.suggested_filename == f"run-{site.applied_run}-rejects.csv"
        saved = tmp_path / download.suggested_filename
        download.save_as(str(saved))
        rows = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
        assert rows and all(r["filebridge_error"] for r in rows)

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
    assert len(camera.taken) == 14
