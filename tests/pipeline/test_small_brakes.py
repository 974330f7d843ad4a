"""Brakes that need both their percentage and their count crossed, and undo under them."""

from __future__ import annotations

import json

from filebridge.cli.main import main
from filebridge.pipeline.lifecycle import approve, discard, undo
from tests.pipeline.conftest import NIGHT1
from tests.pipeline.files import apply, variant
from tests.pipeline.lifecycle_ws import workspace


def _codes(report) -> list[str]:
    return [h.code for h in report.holds]


def test_a_small_company_is_held_only_when_both_bounds_are_crossed(tmp_path):
    with workspace(tmp_path, "    thresholds: {row_drop_percent: null}\n") as ctx:
        first = apply(ctx, variant(NIGHT1, tmp_path / "acme_employees_40.csv",
                                   lambda rows: rows[:40]))
        assert first.state == "applied" and first.counts["create"] == 40
        # 2 of 40 leave: 5% is not more than 5%, and 2 is not more than 10.
        two = apply(ctx, variant(NIGHT1, tmp_path / "acme_employees_38.csv",
                                 lambda rows: rows[:38]))
        assert two.state == "applied" and two.counts["deactivate"] == 2 and two.holds == []
        # 10 more leave (26% of 38) but not more than 10 people: still not held.
        ten = apply(ctx, variant(NIGHT1, tmp_path / "acme_employees_28.csv",
                                 lambda rows: rows[:28]))
        assert ten.state == "applied" and ten.counts["deactivate"] == 10
        # 11 of 28 leave: over 5% and over 10.
        eleven = apply(ctx, variant(NIGHT1, tmp_path / "acme_employees_17.csv",
                                    lambda rows: rows[:17]))
        assert eleven.state == "held" and _codes(eleven) == ["too-many-deactivate"]
        assert eleven.holds[0].message == (
            "11 deactivates exceed the threshold (more than 5% of 28 and more than 10)")


def test_a_count_alone_or_a_percent_alone_when_the_other_is_null(tmp_path):
    block = ("    thresholds: {deactivate: {percent: null, count: 3}, row_drop_percent: null,\n"
             "                 rejected_percent: 50}\n")
    with workspace(tmp_path, block) as ctx:
        apply(ctx, NIGHT1)
        held = apply(ctx, variant(NIGHT1, tmp_path / "acme_employees_196.csv",
                                  lambda rows: rows[:196]))
        assert held.state == "held" and _codes(held) == ["too-many-deactivate"]
        assert "(more than 3)" in held.holds[0].message


def test_undoing_a_first_run_is_held_then_approved(tmp_path):
    with workspace(tmp_path) as ctx:
        first = apply(ctx, NIGHT1)
        created = first.counts["create"]
        held = undo(ctx, first.run_id)
        assert held.state == "held" and held.exit_code == 1
        assert _codes(held) == ["too-many-deactivate"]
        assert held.counts["deactivate"] == created
        assert ctx.store.users("acme", active=False).empty  # nothing was deactivated
        assert ctx.ledger.get_run(held.run_id).state == "held"
        approved = approve(ctx, held.run_id)
        assert approved.state == "applied" and approved.counts["deactivate"] == created
        assert ctx.ledger.get_run(held.run_id).state == "approved"
        run = ctx.ledger.get_run(approved.run_id)
        assert (run.kind, run.about_run, run.state) == ("undo", first.run_id, "applied")
        assert ctx.store.users("acme", active=True).empty


def test_a_held_undo_can_be_discarded_and_forced(tmp_path, capsys):
    settings = tmp_path / "settings.yaml"
    with workspace(tmp_path) as ctx:
        first = apply(ctx, NIGHT1)
        held = undo(ctx, first.run_id)
        discard(ctx, held.run_id)
        assert ctx.ledger.get_run(held.run_id).state == "discarded"
        assert ctx.store.users("acme", active=False).empty
    code = main(["undo", str(first.run_id), "--yes", "--json", "--settings", str(settings)])
    assert code == 1 and json.loads(capsys.readouterr().out)["state"] == "held"
    code = main(["undo", str(first.run_id), "--yes", "--force", "--json",
                 "--settings", str(settings)])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["state"] == "applied"
    assert data["counts"]["deactivate"] == first.counts["create"]
