"""Undo under the group brake: an undo that removes many group memberships is judged
against the memberships the connection's rules hold, like a night, so it is held; approve
or ``undo --force`` then apply it. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from filebridge.cli.main import main
from filebridge.pipeline.context import Context, open_context
from filebridge.pipeline.lifecycle import approve, discard, undo
from tests.cli.test_json_contract import GROUP_RULES
from tests.pipeline.conftest import NIGHT1, write_workspace
from tests.pipeline.files import apply, by_id, variant
from tests.pipeline.test_field_drift import LOOSE

SITES = """  - group_from: location
    name: "Site {value}"
"""


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    path = write_workspace(tmp_path / "ws", thresholds=LOOSE)
    if request.param == "postgresql":
        from tests.pipeline.test_postgres import pg_workspace

        pg_workspace(tmp_path / "ws", request.getfixturevalue("postgres"), settings=path)
    mapping = path.parent / "mappings" / "acme.yaml"
    mapping.write_text(mapping.read_text(encoding="utf-8") + GROUP_RULES, encoding="utf-8")
    return path


@contextmanager
def opened(settings: Path) -> Iterator[Context]:
    ctx = open_context(settings)
    try:
        yield ctx
    finally:
        ctx.close()


def site_members(ctx: Context) -> int:
    frame = ctx.store.state("acme").memberships()
    return int(frame["group"].str.startswith("Site ").sum())


def new_sites_night(settings: Path, tmp_path: Path) -> int:
    """Night 1 under the first rules, then a night under one more rule (a group per
    location): it adds one membership per person and changes one name. Returns the
    second night's run id."""
    with opened(settings) as ctx:
        assert apply(ctx, NIGHT1).state == "applied"
    mapping = settings.parent / "mappings" / "acme.yaml"
    mapping.write_text(mapping.read_text(encoding="utf-8") + SITES, encoding="utf-8")

    def rename(rows):
        by_id(rows, "001010")["First Name"] = "Renamed"

    with opened(settings) as ctx:
        night = apply(ctx, variant(NIGHT1, tmp_path / "acme_employees_2026-11-25.csv",
                                   rename))
        assert night.state == "applied" and night.holds == [], night.holds
        assert night.counts["group_add"] == site_members(ctx) > 100
        assert night.run_id is not None
        return night.run_id


def test_an_undo_removing_many_memberships_is_held_then_approved(settings, tmp_path):
    night = new_sites_night(settings, tmp_path)
    with opened(settings) as ctx:
        added = site_members(ctx)
        total = len(ctx.store.state("acme").memberships())
        held = undo(ctx, night)
        assert held.state == "held" and held.exit_code == 1
        assert [h.code for h in held.holds] == ["too-many-group-remove"]
        assert held.holds[0].message == (
            f"{added} group removals exceed the threshold (more than 5% of {total} "
            "memberships and more than 10)")
        assert held.counts["group_remove"] == added and held.counts["update"] == 1
        assert site_members(ctx) == added  # nothing was removed
        approved = approve(ctx, held.run_id)
        assert approved.state == "applied" and approved.counts["group_remove"] == added
        assert ctx.ledger.get_run(held.run_id).state == "approved"
        assert site_members(ctx) == 0


def test_a_held_undo_of_memberships_passes_with_force(settings, tmp_path, capsys):
    night = new_sites_night(settings, tmp_path)
    with opened(settings) as ctx:
        added = site_members(ctx)
        held = undo(ctx, night)
        assert held.state == "held" and held.run_id is not None
        discard(ctx, held.run_id)
        assert site_members(ctx) == added
    args = ["--yes", "--json", "--settings", str(settings)]
    capsys.readouterr()
    assert main(["undo", str(night), *args]) == 1
    assert json.loads(capsys.readouterr().out)["state"] == "held"
    assert main(["undo", str(night), "--force", *args]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["state"] == "applied" and data["counts"]["group_remove"] == added
    with opened(settings) as ctx:
        assert site_members(ctx) == 0
