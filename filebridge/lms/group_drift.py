"""Membership drift in the built-in store: a member of a connection's group removed by
someone other than filebridge.

The plan reads the memberships of only the people whose group fingerprint changed, so a
membership deleted straight in the store's database would otherwise never be seen (and,
before fingerprints, was silently added back). Triggers notice it instead: deleting a
membership of a connection-owned group for one of that connection's people, deleting
such a group, or renaming it, records ``(user, group name)`` in ``group_drift`` unless
filebridge's own apply is writing (the same transaction mark the field drift uses).
The plan reads the marks, compares those people, reports the memberships it puts back
as drift, and the apply clears the marks.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from filebridge.lms.drift import PG_SETTING, WRITING
from filebridge.lms.schema import group_drift, users
from filebridge.plan.state import GROUP_DRIFT_MARK_COLUMNS
from filebridge.sql import execute_many, reading

# The triggers ``install_group_drift`` creates, per dialect.
GROUP_TRIGGERS = {"sqlite": ("group_members_drift", "groups_drift_delete",
                             "groups_drift_rename"),
                  "postgresql": ("group_members_drift", "groups_drift")}


def _sqlite_ddl() -> list[str]:
    outside = f"(SELECT value FROM counters WHERE name = '{WRITING}') IS NOT 1"
    members = ("INSERT OR IGNORE INTO group_drift (user_id, group_name, changed_at) "
               "SELECT m.user_id, OLD.name, CURRENT_TIMESTAMP FROM group_members m "
               "JOIN users u ON u.id = m.user_id WHERE m.group_id = OLD.id "
               "AND u.managed_by = OLD.managed_by;")
    return [
        f"INSERT OR IGNORE INTO counters (name, value) VALUES ('{WRITING}', 0)",
        "DROP TRIGGER IF EXISTS group_members_drift",
        f"CREATE TRIGGER group_members_drift AFTER DELETE ON group_members WHEN {outside} "
        "BEGIN INSERT OR IGNORE INTO group_drift (user_id, group_name, changed_at) "
        "SELECT OLD.user_id, g.name, CURRENT_TIMESTAMP FROM groups g JOIN users u ON "
        "u.id = OLD.user_id WHERE g.id = OLD.group_id AND g.managed_by IS NOT NULL AND "
        "u.managed_by = g.managed_by; END",
        # Before the delete: the cascade to group_members no longer finds the group.
        "DROP TRIGGER IF EXISTS groups_drift_delete",
        "CREATE TRIGGER groups_drift_delete BEFORE DELETE ON groups WHEN "
        f"OLD.managed_by IS NOT NULL AND {outside} BEGIN {members} END",
        "DROP TRIGGER IF EXISTS groups_drift_rename",
        "CREATE TRIGGER groups_drift_rename AFTER UPDATE OF name ON groups WHEN "
        f"OLD.managed_by IS NOT NULL AND OLD.name IS NOT NEW.name AND {outside} "
        f"BEGIN {members} END",
    ]


def _postgres_ddl() -> list[str]:
    outside = f"coalesce(current_setting('{PG_SETTING}', true), '') <> 'on'"
    return [
        "CREATE OR REPLACE FUNCTION filebridge_members_drift() RETURNS trigger AS $$\nBEGIN\n"
        f"  IF NOT ({outside}) THEN RETURN NULL; END IF;\n"
        "  INSERT INTO group_drift (user_id, group_name, changed_at) "
        "SELECT OLD.user_id, g.name, now() FROM groups g JOIN users u ON u.id = OLD.user_id "
        "WHERE g.id = OLD.group_id AND g.managed_by IS NOT NULL AND "
        "u.managed_by = g.managed_by ON CONFLICT DO NOTHING;\n"
        "  RETURN NULL;\nEND $$ LANGUAGE plpgsql",
        "DROP TRIGGER IF EXISTS group_members_drift ON group_members",
        "CREATE TRIGGER group_members_drift AFTER DELETE ON group_members FOR EACH ROW "
        "EXECUTE FUNCTION filebridge_members_drift()",
        # Before the delete or rename: the cascade to group_members no longer finds it.
        "CREATE OR REPLACE FUNCTION filebridge_groups_drift() RETURNS trigger AS $$\n"
        "DECLARE keep groups;\nBEGIN\n"
        "  IF TG_OP = 'DELETE' THEN keep := OLD; ELSE keep := NEW; END IF;\n"
        f"  IF OLD.managed_by IS NULL OR NOT ({outside}) THEN RETURN keep; END IF;\n"
        "  IF TG_OP = 'UPDATE' AND OLD.name IS NOT DISTINCT FROM NEW.name THEN "
        "RETURN keep; END IF;\n"
        "  INSERT INTO group_drift (user_id, group_name, changed_at) "
        "SELECT m.user_id, OLD.name, now() FROM group_members m JOIN users u ON "
        "u.id = m.user_id WHERE m.group_id = OLD.id AND u.managed_by = OLD.managed_by "
        "ON CONFLICT DO NOTHING;\n"
        "  RETURN keep;\nEND $$ LANGUAGE plpgsql",
        "DROP TRIGGER IF EXISTS groups_drift ON groups",
        "CREATE TRIGGER groups_drift BEFORE DELETE OR UPDATE OF name ON groups FOR EACH ROW "
        "EXECUTE FUNCTION filebridge_groups_drift()",
    ]


def install_group_drift(conn: Connection) -> None:
    """Create ``group_drift`` and the triggers that fill it (idempotent)."""
    group_drift.create(conn, checkfirst=True)
    ddl = _postgres_ddl() if conn.dialect.name == "postgresql" else _sqlite_ddl()
    for statement in ddl:
        conn.exec_driver_sql(statement)


def group_drift_marks(engine: Engine, connection: str) -> pd.DataFrame:
    """Memberships of ``connection``'s people removed outside filebridge
    (``GROUP_DRIFT_MARK_COLUMNS``)."""
    with reading(engine) as conn:
        if conn.execute(sa.select(group_drift.c.user_id).limit(1)).first() is None:
            rows: list[tuple[str, str]] = []  # the usual night: one probe of an empty table
        else:
            rows = [(str(e), str(g)) for e, g in conn.execute(
                sa.select(users.c.employee_id, group_drift.c.group_name)
                .join_from(group_drift, users, users.c.id == group_drift.c.user_id)
                .where(users.c.managed_by == connection))]
    return pd.DataFrame(rows, columns=list(GROUP_DRIFT_MARK_COLUMNS), dtype=object)


def clear_group_drift(tx: Connection, connection: str, employee_ids: Sequence[str]) -> None:
    """Forget the marks of these people (the plan compared their memberships), and any
    mark of a person who no longer exists."""
    if tx.execute(sa.select(group_drift.c.user_id).limit(1)).first() is None:
        return
    tx.execute(sa.delete(group_drift).where(
        group_drift.c.user_id.not_in(sa.select(users.c.id))))
    if len(employee_ids):
        execute_many(tx, sa.delete(group_drift).where(group_drift.c.user_id == (
            sa.select(users.c.id).where(users.c.managed_by == sa.bindparam("p_c"),
                                        users.c.employee_id == sa.bindparam("p_eid"))
            .scalar_subquery())), {"p_eid": list(employee_ids)}, {"p_c": connection})
