"""Drift in the built-in store: a field changed by someone other than filebridge.

The plan's fast path compares the file with the fingerprint of what filebridge last
wrote, so an ``UPDATE`` run straight on the store's database would go unnoticed. A
trigger notices it instead: when a managed person's field changes outside filebridge's
own apply, it records ``(user, field, written)`` in ``user_drift``, where ``written`` is
the value filebridge had written (the first outside change keeps it; later ones add
nothing). filebridge's apply marks its own transaction, so its writes record nothing.

A night without drift reads one empty table; a drifted person is a plan candidate
like one whose fingerprint changed, and the apply clears the marks it accounted for.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from filebridge.lms.schema import PERSON_FIELDS, counters, user_drift, users
from filebridge.person import KEY
from filebridge.sql import execute_many, fetch_raw, reading

# Columns of ``drift_marks()``.
DRIFT_COLUMNS = (KEY, "field", "written")
# The SQLite flag row: 1 inside filebridge's own apply transaction, 0 for everyone else
# (never committed as 1: the apply sets it back before its commit).
WRITING = "filebridge-writing"
# The PostgreSQL flag: a transaction-local setting, invisible to other sessions.
PG_SETTING = "filebridge.writing"


# The SQLite trigger that marks an attribute inserted outside filebridge; a big create
# of filebridge's own sets it aside for the insert (``deferred_indexes``).
ATTRIBUTE_INSERT_TRIGGER = "user_attributes_drift_insert"


def _sqlite_ddl() -> list[str]:
    fields = "\n".join(
        f"  INSERT OR IGNORE INTO user_drift (user_id, field, written, changed_at) "
        f"SELECT OLD.id, '{f}', OLD.{f}, CURRENT_TIMESTAMP WHERE OLD.{f} IS NOT NEW.{f};"
        for f in PERSON_FIELDS)
    outside = (f"(SELECT value FROM counters WHERE name = '{WRITING}') IS NOT 1 "
               "AND {row}.user_id IN (SELECT id FROM users WHERE managed_by IS NOT NULL)")
    attr = ("INSERT OR IGNORE INTO user_drift (user_id, field, written, changed_at) "
            "VALUES ({row}.user_id, 'custom.' || {row}.name, {written}, CURRENT_TIMESTAMP);")
    return [
        f"INSERT OR IGNORE INTO counters (name, value) VALUES ('{WRITING}', 0)",
        "DROP TRIGGER IF EXISTS users_drift",
        "CREATE TRIGGER users_drift AFTER UPDATE ON users FOR EACH ROW WHEN "
        f"OLD.managed_by IS NOT NULL AND (SELECT value FROM counters WHERE name = '{WRITING}')"
        f" IS NOT 1\nBEGIN\n{fields}\nEND",
        f"DROP TRIGGER IF EXISTS {ATTRIBUTE_INSERT_TRIGGER}",
        # Before the insert: an INSERT OR REPLACE still shows the value it replaces.
        f"CREATE TRIGGER {ATTRIBUTE_INSERT_TRIGGER} BEFORE INSERT ON user_attributes WHEN "
        + outside.format(row="NEW") + " BEGIN "
        + attr.format(row="NEW", written="coalesce((SELECT value FROM user_attributes WHERE "
                      "user_id = NEW.user_id AND name = NEW.name), '')") + " END",
        "DROP TRIGGER IF EXISTS user_attributes_drift_update",
        "CREATE TRIGGER user_attributes_drift_update AFTER UPDATE ON user_attributes WHEN "
        "OLD.value IS NOT NEW.value AND " + outside.format(row="OLD") + " BEGIN "
        + attr.format(row="OLD", written="OLD.value") + " END",
        "DROP TRIGGER IF EXISTS user_attributes_drift_delete",
        "CREATE TRIGGER user_attributes_drift_delete AFTER DELETE ON user_attributes WHEN "
        + outside.format(row="OLD") + " BEGIN "
        + attr.format(row="OLD", written="OLD.value") + " END",
    ]


def _postgres_ddl() -> list[str]:
    outside = f"coalesce(current_setting('{PG_SETTING}', true), '') <> 'on'"
    fields = "\n".join(
        f"  IF OLD.{f} IS DISTINCT FROM NEW.{f} THEN INSERT INTO user_drift "
        f"(user_id, field, written, changed_at) VALUES (OLD.id, '{f}', OLD.{f}, now()) "
        "ON CONFLICT DO NOTHING; END IF;" for f in PERSON_FIELDS)
    return [
        "CREATE OR REPLACE FUNCTION filebridge_users_drift() RETURNS trigger AS $$\nBEGIN\n"
        f"  IF OLD.managed_by IS NULL OR NOT ({outside}) THEN RETURN NULL; END IF;\n"
        f"{fields}\n  RETURN NULL;\nEND $$ LANGUAGE plpgsql",
        "DROP TRIGGER IF EXISTS users_drift ON users",
        "CREATE TRIGGER users_drift AFTER UPDATE ON users FOR EACH ROW "
        "EXECUTE FUNCTION filebridge_users_drift()",
        "CREATE OR REPLACE FUNCTION filebridge_attributes_drift() RETURNS trigger AS $$\n"
        "DECLARE uid integer; aname text; written text;\nBEGIN\n"
        f"  IF NOT ({outside}) THEN RETURN NULL; END IF;\n"
        "  IF TG_OP = 'INSERT' THEN uid := NEW.user_id; aname := NEW.name; written := ''; "
        "ELSE uid := OLD.user_id; aname := OLD.name; written := OLD.value; END IF;\n"
        "  IF TG_OP = 'UPDATE' AND OLD.value IS NOT DISTINCT FROM NEW.value THEN "
        "RETURN NULL; END IF;\n"
        "  IF NOT EXISTS (SELECT 1 FROM users WHERE id = uid AND managed_by IS NOT NULL)"
        " THEN RETURN NULL; END IF;\n"
        "  INSERT INTO user_drift (user_id, field, written, changed_at) VALUES "
        "(uid, 'custom.' || aname, written, now()) ON CONFLICT DO NOTHING;\n"
        "  RETURN NULL;\nEND $$ LANGUAGE plpgsql",
        "DROP TRIGGER IF EXISTS user_attributes_drift ON user_attributes",
        "CREATE TRIGGER user_attributes_drift AFTER INSERT OR UPDATE OR DELETE ON "
        "user_attributes FOR EACH ROW EXECUTE FUNCTION filebridge_attributes_drift()",
    ]


# The triggers ``install_drift_marks`` creates, per dialect (the check after migrations).
TRIGGERS = {"sqlite": ("users_drift", ATTRIBUTE_INSERT_TRIGGER,
                       "user_attributes_drift_update", "user_attributes_drift_delete"),
            "postgresql": ("users_drift", "user_attributes_drift")}


def install_drift_marks(conn: Connection) -> None:
    """Create ``user_drift`` and the triggers that fill it (idempotent: each trigger is
    dropped and created again, so running it twice or after a rebuild is safe)."""
    user_drift.create(conn, checkfirst=True)
    ddl = _postgres_ddl() if conn.dialect.name == "postgresql" else _sqlite_ddl()
    for statement in ddl:
        conn.exec_driver_sql(statement)


def trigger_names(conn: Connection) -> set[str]:
    """Names of every trigger on the store's tables (the current schema on PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        rows = conn.exec_driver_sql(
            "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE NOT t.tgisinternal AND c.relnamespace = to_regnamespace(current_schema())")
    else:
        rows = conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger'")
    return {r[0] for r in rows}


def installed_triggers(conn: Connection) -> set[str]:
    """Names of the drift triggers (fields and memberships) present in the database now."""
    return trigger_names(conn) & expected_triggers(conn.dialect.name)


def expected_triggers(dialect: str) -> set[str]:
    """Every drift trigger a store on ``dialect`` must have."""
    from filebridge.lms.group_drift import GROUP_TRIGGERS  # it builds on this module

    return set(TRIGGERS.get(dialect, ())) | set(GROUP_TRIGGERS.get(dialect, ()))


def ensure_drift_marks(engine: Engine) -> bool:
    """Create the drift triggers again if any is missing; True when it had to.

    A SQLite migration that rebuilds a table (create, copy, drop, rename) drops the
    table's triggers with it, and drift would then go unnoticed without any error: the
    store runs this after every batch of migrations, and it costs one catalogue read.
    """
    from filebridge.lms.group_drift import install_group_drift  # it builds on this module

    with reading(engine) as conn:
        if installed_triggers(conn) >= expected_triggers(engine.dialect.name):
            return False
    with engine.begin() as conn:
        install_drift_marks(conn)
        install_group_drift(conn)
    return True


def writing(tx: Connection, on: bool) -> None:
    """Mark (or unmark) ``tx`` as filebridge's own apply: its writes are not drift."""
    if tx.dialect.name == "postgresql":
        tx.execute(sa.select(sa.func.set_config(PG_SETTING, "on" if on else "off", True)))
    else:
        tx.execute(counters.update().where(counters.c.name == WRITING).values(value=int(on)))


def drift_marks(engine: Engine, connection: str) -> pd.DataFrame:
    """The fields of ``connection``'s people changed outside filebridge (``DRIFT_COLUMNS``)."""
    with reading(engine) as conn:
        # The usual night: no marks at all, one probe of an empty table.
        if conn.execute(sa.select(user_drift.c.user_id).limit(1)).first() is None:
            return pd.DataFrame({c: pd.Series([], dtype=object) for c in DRIFT_COLUMNS})
        if conn.dialect.name == "sqlite":
            # CROSS JOIN keeps SQLite reading the few marks first and each person by
            # primary key; left to itself it walks the connection's million people.
            rows = [tuple(r) for r in conn.execute(sa.text(
                "SELECT u.employee_id, d.field, d.written FROM user_drift AS d CROSS JOIN "
                "users AS u ON u.id = d.user_id WHERE u.managed_by = :c"), {"c": connection})]
        else:
            rows = fetch_raw(conn, sa.select(users.c.employee_id, user_drift.c.field,
                                             user_drift.c.written)
                             .join_from(user_drift, users).where(users.c.managed_by == connection))
    return pd.DataFrame(rows, columns=list(DRIFT_COLUMNS), dtype=object)


def clear_drift(tx: Connection, connection: str, employee_ids: Sequence[str]) -> None:
    """Forget the drift marks of these people: the plan just compared them with the file."""
    if not len(employee_ids) or tx.execute(sa.select(user_drift.c.user_id).limit(1)).first() \
            is None:
        return  # the usual night: no marks, so no per-person delete
    stmt = sa.delete(user_drift).where(user_drift.c.user_id == (
        sa.select(users.c.id).where(users.c.managed_by == sa.bindparam("p_c"),
                                    users.c.employee_id == sa.bindparam("p_eid"))
        .scalar_subquery()))
    execute_many(tx, stmt, {"p_eid": list(employee_ids)}, {"p_c": connection})
