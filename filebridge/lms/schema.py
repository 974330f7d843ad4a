"""Tables of the built-in LMS store (portable SQLAlchemy Core) and their migrations.

The ``Table`` objects describe the current schema. Migration ``0001`` creates them;
when a later migration changes a table, freeze ``0001`` as the DDL it ran then, so
an old database and a new one end up the same.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from filebridge.person import CANONICAL_FIELDS, KEY
from filebridge.sql import Migration, rebuild_table

COMPONENT = "lms"

# Every canonical field but the key is one TEXT column named like the field.
PERSON_FIELDS: tuple[str, ...] = tuple(f for f in CANONICAL_FIELDS if f != KEY)

metadata = sa.MetaData()

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    # The connection that manages this person, or NULL for people created in the LMS.
    sa.Column("managed_by", sa.String(200), nullable=True),
    # Employee ids belong to one HR system, hence unique per connection only.
    sa.Column("employee_id", sa.Text, nullable=False),
    *(sa.Column(f, sa.Text, nullable=False, server_default="") for f in PERSON_FIELDS),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("fingerprint", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("deactivated_at", sa.DateTime(timezone=True), nullable=True),
    # Added by 0011: a hash of the group rules' digest and the groups they gave this
    # person at the last apply (0: unknown); a plan reads the memberships of only those
    # people whose fingerprint the rules now give differs.
    sa.Column("group_fingerprint", sa.BigInteger, nullable=False, server_default="0"),
    # Added by 0013: the name as searches compare it (lms/search_keys.py), kept by the
    # store; NULL until computed (a name changed outside an apply clears it).
    sa.Column("name_key", sa.Text, nullable=True),
    sa.Column("last_key", sa.Text, nullable=True),
    sa.UniqueConstraint("managed_by", "employee_id", name="uq_users_managed_by_employee_id"),
    # Manager ids from a file are looked up across every connection.
    sa.Index("ix_users_employee_id", "employee_id"),
    # Added by 0003: rehires and email conflicts look people up by work email.
    sa.Index("ix_users_email", "email"),
    # Added by 0004: every import reads a connection's ids, fingerprints and active flags;
    # from this covering index SQLite never touches the wide rows (1M people: 0.74 → 0.44 s).
    # 0011 added group_fingerprint: a night with group rules reads it from the index too.
    sa.Index("ix_users_snapshot", "managed_by", "employee_id", "fingerprint", "active",
             "group_fingerprint"),
)

user_attributes = sa.Table(
    "user_attributes",
    metadata,
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"),
              primary_key=True),
    # Stored without the "custom." prefix; a blank value is no row at all.
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

departments = sa.Table(
    "departments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("code", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False, server_default=""),
    sa.Column("parent_code", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    # Added by 0003: the connection that created it (only that one renames or removes it).
    sa.Column("managed_by", sa.String(200), nullable=True),
    # 0006: a department belongs to its connection, so two customers' "SALES" are two
    # rows (the code was unique across the store before). NULL: made in the LMS itself.
    sa.UniqueConstraint("managed_by", "code", name="uq_departments_managed_by_code"),
)

job_titles = sa.Table(
    "job_titles",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("managed_by", sa.String(200), nullable=True),  # added by 0003
    # 0006: per connection, like departments.
    sa.UniqueConstraint("managed_by", "name", name="uq_job_titles_managed_by_name"),
)

courses = sa.Table(
    "courses",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("code", sa.Text, nullable=False, unique=True),
    sa.Column("title", sa.Text, nullable=False, server_default=""),
)

enrollments = sa.Table(
    "enrollments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("course_id", sa.Integer, sa.ForeignKey("courses.id"), nullable=False),
    sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("status", sa.String(32), nullable=False, server_default="assigned"),
)

completions = sa.Table(
    "completions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("course_id", sa.Integer, sa.ForeignKey("courses.id"), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("completed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("score", sa.Float, nullable=True),
    sa.Column("time_spent_minutes", sa.Integer, nullable=True),
    # Exports select by recorded_at: a late-recorded old completion is still sent.
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, index=True),
    # Added by 0002: the store sequence at the last insert or correction (exports use it
    # as their watermark, never a clock), and which attempt of the course this is.
    sa.Column("revision", sa.BigInteger, nullable=False, server_default="0", index=True),
    sa.Column("attempt", sa.Integer, nullable=False, server_default="1"),
    sa.CheckConstraint("status IN ('completed', 'passed', 'failed')",
                       name="ck_completions_status"),
)

# Added by 0002: named monotonically increasing counters (the completion revision).
counters = sa.Table(
    "counters",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)

# What apply did, so `undo` can put values back: one row per changed field for an
# update, one row per person for create, deactivate and reactivate; a delete keeps the
# person's last values as JSON in ``old``; adopt (``filebridge link``) records the
# employee id the account had. 0003 added delete and adopt.
# 0012 added group_add and group_remove: one row per membership a run's group rules
# added or removed (``field`` "group", the group's name in ``new`` or ``old``).
CHANGE_ACTIONS = ("create", "update", "deactivate", "reactivate", "delete", "adopt",
                  "group_add", "group_remove")
changes = sa.Table(
    "changes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("run_id", sa.Integer, nullable=True, index=True),
    sa.Column("connection", sa.String(200), nullable=False),
    sa.Column("employee_id", sa.Text, nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("field", sa.String(80), nullable=True),
    sa.Column("old", sa.Text, nullable=True),
    sa.Column("new", sa.Text, nullable=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    # Added by 0005: the change's line in the run's file (None for a leaver missing from a
    # snapshot) and, for deactivate/reactivate/delete, the plan's reason text.
    sa.Column("line", sa.Integer, nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    # Added by 0005: one person's history (``filebridge person``) reads only their rows.
    sa.Index("ix_changes_person", "connection", "employee_id"),
    sa.CheckConstraint("action IN (" + ", ".join(f"'{a}'" for a in CHANGE_ACTIONS) + ")",
                       name="ck_changes_action"),
)

# Added by 0006: fields of managed people changed outside filebridge (see lms/drift.py),
# with the value filebridge had written; filled by triggers, cleared by the next apply.
user_drift = sa.Table(
    "user_drift",
    metadata,
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("field", sa.String(80), primary_key=True),
    sa.Column("written", sa.Text, nullable=True),
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True),
)


# Added by 0006: LMS groups. ``managed_by`` is the connection that made the group (NULL:
# made in the LMS by hand); a connection's group rules only ever touch its own groups.
groups = sa.Table(
    "groups",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("managed_by", sa.String(200), nullable=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("managed_by", "name", name="uq_groups_managed_by_name"),
)

# Added by 0006: who is in which group. ``added_by`` is the connection whose rules made
# the membership, NULL for one made by hand: only the former are ever removed by a run.
group_members = sa.Table(
    "group_members",
    metadata,
    sa.Column("group_id", sa.Integer, sa.ForeignKey("groups.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"),
              primary_key=True, index=True),
    sa.Column("added_by", sa.String(200), nullable=True),
    sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
)

# Added by 0011: memberships of a connection's groups removed outside filebridge (by a
# direct delete, or the group deleted or renamed), filled by triggers (lms/group_drift.py)
# and cleared by the next apply. No foreign key: a mark left by a person deleted since
# is simply never joined, and the apply clears it.
group_drift = sa.Table(
    "group_drift",
    metadata,
    sa.Column("user_id", sa.Integer, primary_key=True),
    sa.Column("group_name", sa.Text, primary_key=True),
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True),
)


def _create_tables(conn: Connection) -> None:
    metadata.create_all(conn)


def _completion_revisions(conn: Connection) -> None:
    # Defined in filebridge/lms/completions.py, which owns the export side of the store.
    from filebridge.lms.completions import migrate_completion_revisions

    migrate_completion_revisions(conn)


def _lifecycle(conn: Connection) -> None:
    # Idempotent by inspection: 0001 builds the current tables on a fresh store.
    inspector = sa.inspect(conn)
    for table in (departments, job_titles):
        if "managed_by" not in {c["name"] for c in inspector.get_columns(table.name)}:
            conn.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN managed_by VARCHAR(200)")
    # Plain DDL: an sa.Index on users.c.email would attach a second copy to the shared
    # Table, and every later create_all in this process would create it twice.
    conn.exec_driver_sql("CREATE INDEX IF NOT EXISTS ix_users_email ON users (email)")
    checks = " ".join(str(c.get("sqltext", "")) for c in inspector.get_check_constraints("changes"))
    if "'adopt'" not in checks:
        rebuild_table(conn, changes)


def _snapshot_index(conn: Connection) -> None:
    conn.exec_driver_sql("CREATE INDEX IF NOT EXISTS ix_users_snapshot ON users "
                         "(managed_by, employee_id, fingerprint, active)")


def _journal_detail(conn: Connection) -> None:
    # Idempotent by inspection: 0001 builds the current tables on a fresh store.
    columns = {c["name"] for c in sa.inspect(conn).get_columns("changes")}
    if "line" not in columns:
        conn.exec_driver_sql("ALTER TABLE changes ADD COLUMN line INTEGER")
    if "reason" not in columns:
        conn.exec_driver_sql("ALTER TABLE changes ADD COLUMN reason TEXT")
    conn.exec_driver_sql("CREATE INDEX IF NOT EXISTS ix_changes_person ON changes "
                         "(connection, employee_id)")


def _person_search(conn: Connection) -> None:
    # ``filebridge person`` looks people up by a former e-mail (the journal's email
    # changes only: a partial index) and by the start of a first or last name, in any case.
    conn.exec_driver_sql("CREATE INDEX IF NOT EXISTS ix_changes_former_email ON changes "
                         "(connection, old) WHERE field = 'email'")
    # PostgreSQL compares in byte order here ("C"), as SQLite does, so a prefix is a range.
    # managed_by is not their first column: a query by connection alone (the nightly
    # snapshot read) must keep choosing ix_users_snapshot.
    collate = ' COLLATE "C"' if conn.dialect.name == "postgresql" else ""
    for column in ("first_name", "last_name"):
        conn.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS ix_users_{column}_lower ON users "
                             f"((lower({column}){collate}))")


def _applied_runs(conn: Connection) -> None:
    # Defined beside the code that writes and reads it (filebridge/lms/runmarks.py).
    from filebridge.lms.runmarks import create_run_tables

    create_run_tables(conn)


def _drift_marks(conn: Connection) -> None:
    from filebridge.lms.drift import install_drift_marks  # drift builds on these tables

    install_drift_marks(conn)


def _org_per_connection(conn: Connection) -> None:
    # Idempotent by inspection: 0001 builds the current tables on a fresh store.
    inspector = sa.inspect(conn)
    for table, key in ((departments, "code"), (job_titles, "name")):
        old = [u for u in inspector.get_unique_constraints(table.name)
               if u["column_names"] == [key]]
        if not old:
            continue
        if conn.dialect.name == "sqlite":  # an inline UNIQUE: only a rebuild drops it
            rebuild_table(conn, table)
            continue
        for constraint in old:
            conn.exec_driver_sql(f"ALTER TABLE {table.name} DROP CONSTRAINT {constraint['name']}")
        pair = ", ".join(("managed_by", key))
        conn.exec_driver_sql(f"ALTER TABLE {table.name} ADD CONSTRAINT "
                             f"uq_{table.name}_managed_by_{key} UNIQUE ({pair})")


def _groups(conn: Connection) -> None:
    # Idempotent: 0001 already builds these tables on a fresh store.
    metadata.create_all(conn, tables=[groups, group_members])


def _group_fingerprints(conn: Connection) -> None:
    # Idempotent by inspection: 0001 builds the current tables on a fresh store.
    if "group_fingerprint" not in {c["name"] for c in sa.inspect(conn).get_columns("users")}:
        conn.exec_driver_sql("ALTER TABLE users ADD COLUMN group_fingerprint BIGINT "
                             "NOT NULL DEFAULT 0")
    # The catalogue's own text: reflection warns about the expression indexes of 0006.
    definition = conn.exec_driver_sql(
        "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_users_snapshot' AND "
        "schemaname = current_schema()" if conn.dialect.name == "postgresql" else
        "SELECT sql FROM sqlite_master WHERE name = 'ix_users_snapshot'").scalar()
    if "group_fingerprint" not in str(definition or ""):
        conn.exec_driver_sql("DROP INDEX IF EXISTS ix_users_snapshot")
        conn.exec_driver_sql("CREATE INDEX ix_users_snapshot ON users "
                             "(managed_by, employee_id, fingerprint, active, group_fingerprint)")
    from filebridge.lms.group_drift import install_group_drift  # builds on these tables

    install_group_drift(conn)


def _group_journal(conn: Connection) -> None:
    # A new CHECK vocabulary: SQLite rebuilds the table; a fresh store has it already.
    checks = " ".join(str(c.get("sqltext", "")) for c in sa.inspect(conn).get_check_constraints(
        "changes"))
    if "'group_add'" not in checks:
        rebuild_table(conn, changes)


def _person_search_keys(conn: Connection) -> None:
    # Defined beside the code that computes and searches the keys.
    from filebridge.lms.search_keys import install_search_keys

    install_search_keys(conn)


MIGRATIONS: tuple[Migration, ...] = (
    ("0001_create_tables", _create_tables),
    ("0002_completion_revisions", _completion_revisions),
    ("0003_lifecycle", _lifecycle),
    ("0004_snapshot_index", _snapshot_index),
    ("0005_journal_detail", _journal_detail),
    ("0006_person_search", _person_search),
    ("0007_applied_runs", _applied_runs),
    ("0008_drift_marks", _drift_marks),
    ("0009_org_per_connection", _org_per_connection),
    ("0010_groups", _groups),
    ("0011_group_fingerprints", _group_fingerprints),
    ("0012_group_journal", _group_journal),
    ("0013_person_search_keys", _person_search_keys),
)
