"""An import that died while applying is remembered with the managed count its brakes
judged it against, so the rerun that finishes it is judged the same way."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import Engine

from filebridge.ledger import Ledger
from filebridge.ledger.schema import runs
from tests.conftest import BACKENDS

NOW = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
SHA, OTHER = "ab" * 32, "cd" * 32


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest) -> Engine:
    """The same on SQLite and on PostgreSQL."""
    return request.getfixturevalue(request.param)


def _interrupt(engine: Engine, run_id: int) -> None:
    """What lock take-over and start-up recovery do to a dead holder's run."""
    with engine.begin() as tx:
        tx.execute(runs.update().where(runs.c.id == run_id).values(
            state="failed", error='{"code": "interrupted"}'))


def _applying(ledger: Ledger, sha: str, managed: int) -> int:
    file = ledger.record_file("acme", "hr.csv", sha, 5, "/spool/1", NOW)
    run_id = ledger.start_run("acme", "import", "apply", file.id, NOW)
    ledger.note_applying(run_id, managed)
    return run_id


def test_a_dead_apply_of_the_same_content_is_found(engine: Engine) -> None:
    ledger = Ledger(engine)
    ledger.migrate()
    dead = _applying(ledger, SHA, 0)
    # Still "running" (the process is gone but nobody looked yet), then failed.
    assert ledger.unfinished_apply("acme", dead + 1, SHA) == 0
    _interrupt(engine, dead)
    assert ledger.get_run(dead).counts == {"managed_when_applying": 0}
    assert ledger.unfinished_apply("acme", dead + 1, SHA) == 0
    assert ledger.unfinished_apply("acme", dead + 1, OTHER) is None
    assert ledger.unfinished_apply("globex", dead + 1, SHA) is None


def test_only_the_last_apply_counts_and_only_when_it_did_not_finish(engine: Engine) -> None:
    ledger = Ledger(engine)
    ledger.migrate()
    dead = _applying(ledger, SHA, 7)
    _interrupt(engine, dead)
    done = _applying(ledger, SHA, 7)
    ledger.finish_run(done, "applied", {"create": 3}, {}, None, NOW)
    assert ledger.unfinished_apply("acme", done + 1, SHA) is None
    # An apply that failed before it changed anything (no note) is not resumed.
    file = ledger.record_file("acme", "hr.csv", SHA, 5, "/spool/1", NOW)
    early = ledger.start_run("acme", "import", "apply", file.id, NOW)
    _interrupt(engine, early)
    assert ledger.unfinished_apply("acme", early + 1, SHA) is None
    # A plan in between is no apply: the dead apply before it is still the last one.
    dead = _applying(ledger, OTHER, 12)
    _interrupt(engine, dead)
    plan = ledger.start_run("acme", "import", "plan", None, NOW)
    ledger.finish_run(plan, "planned", {}, {}, None, NOW)
    assert ledger.unfinished_apply("acme", plan + 1, OTHER) == 12
