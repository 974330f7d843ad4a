"""Tables of the built-in LMS store (portable SQLAlchemy Core) and their migrations.

The ``Table`` objects describe the current schema. Migration ``0001`` creates them;
when a later migration changes a table, freeze ``0001`` as the DDL it ran then, so
an old database and a new one end up the same.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from filebridge.database import Migration
from filebridge.mapping.fields import CANONICAL_FIELDS, KEY

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
    sa.UniqueConstraint("managed_by", "employee_id", name="uq_users_managed_by_employee_id"),
    # Manager ids from a file are looked up across every connection.
    sa.Index("ix_users_employee_id", "employee_id"),
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
    sa.Column("code", sa.Text, nullable=False, unique=True),
    sa.Column("name", sa.Text, nullable=False, server_default=""),
    sa.Column("parent_code", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

job_titles = sa.Table(
    "job_titles",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.Text, nullable=False, unique=True),
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
    sa.CheckConstraint("status IN ('completed', 'passed', 'failed')",
                       name="ck_completions_status"),
)

# What apply did, so `undo` can put values back: one row per changed field for an
# update, one row per person for create, deactivate and reactivate.
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
    sa.CheckConstraint("action IN ('create', 'update', 'deactivate', 'reactivate')",
                       name="ck_changes_action"),
)


def _create_tables(conn: Connection) -> None:
    metadata.create_all(conn)


MIGRATIONS: tuple[Migration, ...] = (("0001_create_tables", _create_tables),)
