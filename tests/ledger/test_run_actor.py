"""Ledger 0007: runs record who started them by hand, on a ledger made before it."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from filebridge.ledger import Ledger

NOW = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)


def test_0007_adds_the_actor_to_an_older_ledger(engine: Engine) -> None:
    ledger = Ledger(engine)
    file = ledger.record_file("acme", "hr.csv", "ab" * 32, 10, "/spool/1", NOW)
    before = ledger.start_run("acme", "import", "apply", file.id, NOW)
    with engine.begin() as tx:
        tx.execute(sa.text("ALTER TABLE runs DROP COLUMN actor"))
        tx.execute(sa.text("DELETE FROM schema_migrations WHERE name = '0007_run_actor'"))
    assert ledger.migrate() == ["0007_run_actor"]
    assert ledger.migrate() == []
    assert ledger.get_run(before).actor is None
    held = ledger.start_run("acme", "discard", "apply", file.id, NOW, about_run=before,
                            actor="kim")
    assert ledger.get_run(held).actor == "kim"
    assert [r.actor for r in ledger.runs("acme")] == ["kim", None]
