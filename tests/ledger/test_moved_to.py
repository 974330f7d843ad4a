"""Migration 0002 (files.moved_to) on a ledger created before it, and its setter."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from filebridge.ledger import Ledger, UnknownFile
from filebridge.sql import applied_migrations

NOW = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)


def test_0002_adds_the_column_to_an_older_ledger(engine: Engine) -> None:
    ledger = Ledger(engine)
    kept = ledger.record_file("acme", "hr.csv", "ab" * 32, 10, "/spool/1", NOW)
    # Make it look like a ledger from before 0002: no column, no migration row.
    with engine.begin() as tx:
        tx.execute(sa.text("ALTER TABLE files DROP COLUMN moved_to"))
        tx.execute(sa.text("DELETE FROM schema_migrations WHERE name = '0002_files_moved_to'"))
    assert ledger.migrate() == ["0002_files_moved_to"]
    assert "0002_files_moved_to" in applied_migrations(engine, "ledger")
    assert ledger.get_file(kept.id).moved_to is None
    ledger.set_file_moved_to(kept.id, "/drop/archive/2026/03/01/hr.csv")
    assert ledger.get_file(kept.id).moved_to == "/drop/archive/2026/03/01/hr.csv"


def test_moved_to_of_an_unknown_file(engine: Engine) -> None:
    with pytest.raises(UnknownFile):
        Ledger(engine).set_file_moved_to(999, "/x")
