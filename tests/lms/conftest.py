"""Fixtures for store tests: a real SQLite state database in a temp folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from filebridge.database import open_engine
from filebridge.ledger import Ledger
from filebridge.lms import SqlStore


@pytest.fixture
def state_url(tmp_path: Path) -> str:
    """URL of a fresh SQLite state database."""
    return f"sqlite:///{tmp_path / 'state' / 'filebridge.db'}"


@pytest.fixture
def engine(state_url: str) -> Iterator[Engine]:
    """An engine on the fresh state database, with store and ledger migrated."""
    engine = open_engine(state_url, busy_timeout_ms=500)
    SqlStore(engine).migrate()
    Ledger(engine).migrate()
    yield engine
    engine.dispose()
