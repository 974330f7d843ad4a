"""Ordered, named schema migrations recorded in a table, and SQLite table rebuilds."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.schema import AddConstraint, CreateTable

from filebridge.sql.engine import location, reading
from filebridge.sql.errors import SchemaTooNew

Migration = tuple[str, Callable[[Connection], None]]

_MIGRATIONS = sa.Table(
    "schema_migrations",
    sa.MetaData(),
    sa.Column("component", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
)


def migrate(engine: Engine, component: str, migrations: Sequence[Migration]) -> list[str]:
    """Apply ``component``'s missing migrations in order, each in its own transaction."""
    with engine.begin() as conn:
        _serialize_migrations(conn)
        _MIGRATIONS.create(conn, checkfirst=True)
    with reading(engine) as conn:
        done = set(conn.scalars(sa.select(_MIGRATIONS.c.name).where(
            _MIGRATIONS.c.component == component)))
    unknown = sorted(done - {name for name, _ in migrations})
    if unknown:
        raise SchemaTooNew(location(engine), component, unknown)
    applied = []
    for name, step in migrations:
        if name in done:
            continue
        with engine.begin() as conn:
            _serialize_migrations(conn)
            # Checked again under the write lock: another process may have won the race.
            again = conn.scalar(sa.select(sa.func.count()).select_from(_MIGRATIONS).where(
                _MIGRATIONS.c.component == component, _MIGRATIONS.c.name == name))
            if again:
                continue
            step(conn)
            conn.execute(_MIGRATIONS.insert().values(
                component=component, name=name, applied_at=datetime.now(UTC)))
        applied.append(name)
    return applied


# Any constant: the key of the PostgreSQL advisory lock that migrations take.
_MIGRATION_LOCK_KEY = 0x66696C65  # "file"


def _serialize_migrations(conn: Connection) -> None:
    """Let one process at a time migrate (two first runs can start together).

    SQLite's BEGIN IMMEDIATE already serializes writers. PostgreSQL runs DDL of two
    transactions side by side, and the slower CREATE fails on the catalog's unique
    index; a transaction-scoped advisory lock makes the second wait, then see the work done.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_MIGRATION_LOCK_KEY)))


def rebuild_table(conn: Connection, table: sa.Table) -> None:
    """Bring an existing table to ``table``'s current columns and CHECK constraints.

    For a migration that changes a CHECK (a new state in a closed vocabulary) or adds a
    column: SQLite cannot alter constraints, so the table is rebuilt (create, copy, drop,
    rename, indexes) as SQLite's documentation describes; PostgreSQL alters in place.
    Only for tables no foreign key points at. Names are constants, never data. The
    rebuilt table's own triggers are gone afterwards: the caller creates them again.
    """
    existing = [c["name"] for c in sa.inspect(conn).get_columns(table.name)]
    if conn.dialect.name == "sqlite":
        ddl = str(CreateTable(table).compile(dialect=conn.dialect)).strip()
        temp = f"{table.name}__rebuild"
        conn.exec_driver_sql(re.sub(rf"^CREATE TABLE {table.name}\b", f"CREATE TABLE {temp}",
                                    ddl))
        columns = ", ".join(c for c in existing if c in table.c)
        conn.exec_driver_sql(f"INSERT INTO {temp} ({columns}) SELECT {columns} "
                             f"FROM {table.name}")
        conn.exec_driver_sql(f"DROP TABLE {table.name}")
        # Legacy rename: a trigger of another table naming this one (the store's drift
        # triggers do) would otherwise fail the rename while the name is briefly gone.
        conn.exec_driver_sql("PRAGMA legacy_alter_table = ON")
        try:
            conn.exec_driver_sql(f"ALTER TABLE {temp} RENAME TO {table.name}")
        finally:
            conn.exec_driver_sql("PRAGMA legacy_alter_table = OFF")
        for index in table.indexes:
            index.create(conn)
        return
    for column in table.columns:
        if column.name not in existing:
            kind = column.type.compile(dialect=conn.dialect)
            conn.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}")
    for check in sa.inspect(conn).get_check_constraints(table.name):
        conn.exec_driver_sql(f"ALTER TABLE {table.name} DROP CONSTRAINT {check['name']}")
    for constraint in table.constraints:
        if isinstance(constraint, sa.CheckConstraint):
            conn.execute(AddConstraint(constraint))


def applied_migrations(engine: Engine, component: str) -> list[str]:
    """Names of ``component``'s migrations recorded in the database, in the order applied."""
    with reading(engine) as conn:
        if not sa.inspect(conn).has_table("schema_migrations"):
            return []
        rows = conn.execute(sa.select(_MIGRATIONS.c.name).where(
            _MIGRATIONS.c.component == component).order_by(_MIGRATIONS.c.applied_at))
        return [r.name for r in rows]
