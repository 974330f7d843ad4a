"""The external targets' mirror migrates on from the SCIM target's first tables: a state
database written before Moodle joined keeps its people, SCIM ids become LMS ids, and
what a dead run left ``sent`` is still found."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from filebridge.lms.mirror import COMPONENT, MIGRATIONS, Mirror
from filebridge.sql import applied_migrations, migrate
from tests.conftest import BACKENDS

NOW = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest) -> Engine:
    """The same on SQLite and on PostgreSQL."""
    return request.getfixturevalue(request.param)


def test_a_scim_state_database_migrates_to_the_shared_mirror(engine: Engine) -> None:
    assert migrate(engine, COMPONENT, MIGRATIONS[:1]) == ["0001_scim_mirror_and_journal"]
    with engine.begin() as tx:
        tx.execute(sa.text(
            "INSERT INTO scim_mirror (connection, employee_id, scim_id, fingerprint, active, "
            "fields, updated_at) VALUES ('acme', '7', 'abc-7', 42, :t, '{\"email\": "
            "\"a@x.example\"}', :now)"), {"t": True, "now": NOW})
        tx.execute(sa.text(
            "INSERT INTO scim_journal (connection, run_id, employee_id, action, state, "
            "reason, detail, at) VALUES ('acme', 3, '8', 'create', 'sent', '', '', :now)"),
            {"now": NOW})
    assert migrate(engine, COMPONENT, MIGRATIONS) == ["0002_applied_runs",
                                                      "0003_one_mirror_for_every_target",
                                                      "0004_results_of_mirrored_people",
                                                      "0005_owned_groups_and_memberships"]
    tables = sa.inspect(engine).get_table_names()
    assert {"applied_runs", "lms_results", "lms_groups", "lms_group_members",
            "lms_group_journal"} <= set(tables)
    assert applied_migrations(engine, COMPONENT) == [name for name, _ in MIGRATIONS]
    mirror = Mirror(engine)
    entry = mirror.entries("acme")["7"]
    assert (entry.lms_id, entry.fingerprint, entry.active, entry.fields) == (
        "abc-7", 42, True, {"email": "a@x.example"})
    assert mirror.open_changes("acme") == {"create": ["8"]}
    assert mirror.open_keys("acme") == [("8", "create", "")]
    # New writes use the new column, keys included.
    mirror.intend("acme", 4, [("9", "create", "idn-9")], NOW)
    assert ("9", "create", "idn-9") in mirror.open_keys("acme")
    assert migrate(engine, COMPONENT, MIGRATIONS) == []
