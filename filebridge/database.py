"""Database plumbing shared by the built-in LMS store and the ledger.

One engine per state database: SQLite by default (a file under the state folder),
PostgreSQL by URL. SQLite gets the settings RELIABILITY.md point 10 asks for on
every connection, and ``engine.begin()`` takes the write lock up front
(``BEGIN IMMEDIATE``) so a second writer waits ``busy_timeout`` and then fails
with ``DatabaseUnavailable`` instead of deadlocking half-way through an apply.
"""

from __future__ import annotations

import gc
import os
import re
import stat
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from itertools import repeat
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, ExceptionContext
from sqlalchemy.schema import AddConstraint, CreateTable
from sqlalchemy.sql.compiler import SQLCompiler

from filebridge.errors import Terminal, Transient

Migration = tuple[str, Callable[[Connection], None]]

# Execution option read by the SQLite "begin" hook: read-only work asks for a
# plain (deferred) BEGIN so readers never queue behind a writer in WAL mode.
BEGIN_MODE = "filebridge_begin"

NETWORK_FILESYSTEMS = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "sshfs", "fuse.sshfs", "9p", "afs", "ncpfs"}
)

# sqlite3 reports both "the database is busy" and "your SQL is wrong" as
# OperationalError; only the former are worth a retry.
_SQLITE_UNAVAILABLE = (
    "database is locked",
    "database table is locked",
    "database is busy",
    "unable to open database file",
    "disk i/o error",
    "database or disk is full",
)


class DatabaseUnavailable(Transient):
    """The state database is locked, busy or unreachable; retry later."""

    code = "database-unavailable"

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason


class UnsafeStateLocation(Terminal):
    """The state folder is on a network filesystem or writable by everyone."""

    code = "unsafe-state-location"

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


class SchemaTooNew(Terminal):
    """The database carries migrations this version of filebridge does not know."""

    code = "schema-too-new"

    def __init__(self, url: str, component: str, unknown: list[str]) -> None:
        super().__init__(f"{url}: {component} has unknown migrations {unknown}")
        self.url = url
        self.component = component
        self.unknown = unknown


def location(target: Engine | sa.URL | str) -> str:
    """Where the state lives, safe to print: the database URL without its password."""
    url = target.url if isinstance(target, Engine) else sa.make_url(target)
    if url.password is not None:
        # URL.set() treats None as "unchanged"; build the URL again without it.
        url = sa.URL.create(url.drivername, url.username, None, url.host, url.port,
                            url.database, url.query)
    return url.render_as_string(hide_password=False)


# libpq connection parameters filebridge sets unless the URL sets them itself: a server
# that never answers the connection fails it after 10 s; a peer that vanishes mid-run
# (host down, cable cut) is noticed by TCP keepalives within about a minute.
POSTGRES_DEADLINES = {
    "connect_timeout": "10",
    "keepalives": "1",
    "keepalives_idle": "30",
    "keepalives_interval": "10",
    "keepalives_count": "3",
    "tcp_user_timeout": "60000",  # ms: data the server never acknowledges
}


def open_engine(url: str, *, busy_timeout_ms: int = 5000, password: str | None = None
                ) -> Engine:
    """Create an engine for ``url``; SQLite gets WAL, FULL sync, foreign keys, BEGIN IMMEDIATE.

    ``password`` (already resolved from its secret reference) is set on the URL here, so
    it is never part of a string filebridge prints or logs.
    """
    parsed = sa.make_url(url)
    if password is not None:
        parsed = parsed.set(password=password)
    if parsed.get_backend_name() == "postgresql":
        # Deadlines on the network: the URL's own query parameters win.
        parsed = parsed.set(query={**POSTGRES_DEADLINES, **dict(parsed.query)})
    if parsed.get_backend_name() != "sqlite":
        engine = sa.create_engine(parsed, pool_pre_ping=True)
    else:
        db = parsed.database
        if db and db != ":memory:" and not db.startswith("file:"):
            Path(db).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(parsed)
        _configure_sqlite(engine, busy_timeout_ms)
    _translate_unavailable(engine)
    return engine


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    # SQLAlchemy's documented recipe: take BEGIN away from the sqlite3 module
    # (which would start transactions lazily, at the first write) and emit our own.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL, not NORMAL: NORMAL may lose the last commit on power loss while
        # its side effect (an archived file, a delivered export) already happened.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(BEGIN_MODE, "IMMEDIATE")
        conn.exec_driver_sql("BEGIN" if mode == "DEFERRED" else "BEGIN IMMEDIATE")


def _translate_unavailable(engine: Engine) -> None:
    where = location(engine)
    sqlite = engine.dialect.name == "sqlite"

    @event.listens_for(engine, "handle_error")
    def _on_error(ctx: ExceptionContext) -> None:
        original = ctx.original_exception
        if not isinstance(ctx.sqlalchemy_exception, sa.exc.OperationalError):
            if not ctx.is_disconnect:
                return
        if sqlite and not _sqlite_unavailable(original):
            return
        raise DatabaseUnavailable(where, str(original).splitlines()[0]) from original


def _sqlite_unavailable(error: BaseException) -> bool:
    return str(error).lower().startswith(_SQLITE_UNAVAILABLE)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building millions of tuples.

    Bulk reads and writes allocate one tuple per row and no cycles; each allocation
    burst would otherwise trigger full collections that walk every live object
    (measured: a 1M-row snapshot takes 1.6 s with the collector, 1.0 s without).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction: one consistent view without taking the write lock."""
    with engine.connect() as conn:
        conn.execution_options(**{BEGIN_MODE: "DEFERRED"})
        with conn.begin():
            yield conn


def check_state_location(path: Path, mounts: Path = Path("/proc/mounts")) -> None:
    """Refuse a state folder that is world-writable or on a network filesystem."""
    path = Path(path).absolute()
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing == path and path.stat().st_mode & stat.S_IWOTH:
        raise UnsafeStateLocation(path, "writable by every user (mode o+w)")
    fstype = filesystem_type(existing, mounts)
    if fstype in NETWORK_FILESYSTEMS:
        # WAL keeps its index in shared memory: it needs every writer on one host.
        raise UnsafeStateLocation(path, f"on a network filesystem ({fstype})")


def filesystem_type(path: Path, mounts: Path = Path("/proc/mounts")) -> str | None:
    """The filesystem type of ``path``'s longest matching mount point, or None if unknown."""
    try:
        lines = mounts.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    target = os.path.realpath(path)
    best, best_type = "", None
    for line in lines:
        parts = line.split()
        if len(parts) < 3:
            continue
        # /proc/mounts escapes spaces and tabs in mount points as octal.
        point = parts[1].replace("\\040", " ").replace("\\011", "\t").replace("\\134", "\\")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, best_type = point, parts[2]
    return best_type


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
    Only for tables no foreign key points at. Names are constants, never data.
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
        conn.exec_driver_sql(f"ALTER TABLE {temp} RENAME TO {table.name}")
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



def execute_many(
    tx: Connection,
    stmt: sa.ClauseElement,
    columns: Mapping[str, Sequence[Any]],
    constants: Mapping[str, Any] | None = None,
) -> int:
    """Run ``stmt`` once per row of ``columns`` (equal-length lists of DBAPI-ready values).

    The statement is built with Core and compiled once for the engine's dialect, then
    handed to the driver's ``executemany`` with bound parameters: a million rows cost
    no per-row SQLAlchemy processing. ``constants`` (e.g. ``now``) are the same for
    every row and go through their type's bind processor once. Returns the rowcount.
    """
    constants = dict(constants or {})
    lengths = {len(v) for v in columns.values()}
    if len(lengths) > 1:
        raise ValueError(f"columns of different lengths: {sorted(lengths)}")
    if not lengths or not lengths.pop():
        return 0
    with gc_paused():
        return _execute_many(tx, stmt, columns, constants)


def _execute_many(tx: Connection, stmt: sa.ClauseElement, columns: Mapping[str, Sequence[Any]],
                  constants: dict[str, Any]) -> int:
    dialect = tx.dialect
    compiled = cast(SQLCompiler, stmt.compile(dialect=dialect,
                                              column_keys=[*columns, *constants]))
    fixed = {}
    # Values written into the statement itself (``.values(active=True)``) are binds too.
    for name, value in {**compiled.params, **constants}.items():
        if name in columns:
            continue
        bind = compiled.binds.get(name)
        process = bind.type.dialect_impl(dialect).bind_processor(dialect) \
            if bind is not None else None
        fixed[name] = process(value) if process and value is not None else value
    if compiled.positional:
        order = compiled.positiontup or []
        sources = [repeat(fixed[n]) if n in fixed else iter(columns[n]) for n in order]
        params: list[Any] = list(zip(*sources, strict=False))
    else:
        names = list(columns)
        params = [{**fixed, **dict(zip(names, row, strict=True))}
                  for row in zip(*columns.values(), strict=True)]
    result = tx.exec_driver_sql(compiled.string, params)
    return int(result.rowcount)


def fetch_raw(conn: Connection, stmt: sa.Select[Any]) -> list[tuple[Any, ...]]:
    """All rows of ``stmt`` as plain tuples straight from the driver's cursor (fast, untyped)."""
    return [row for batch in fetch_batches(conn, stmt, None) for row in batch]


def fetch_batches(conn: Connection, stmt: sa.Select[Any], size: int | None
                  ) -> Iterator[list[tuple[Any, ...]]]:
    """The rows of ``stmt`` as lists of at most ``size`` plain tuples (``None``: one list).

    Batches let a caller turn a million rows into columns as they come, so the tuples of
    only one batch are alive at a time.
    """
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    values = compiled.params
    if compiled.positional:
        params: Any = tuple(values[n] for n in compiled.positiontup or [])
    else:
        params = values
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        with gc_paused():
            cursor.execute(compiled.string, params)
            if size is None:
                yield list(cursor.fetchall())
                return
            while batch := cursor.fetchmany(size):
                yield batch
    except conn.dialect.loaded_dbapi.OperationalError as error:
        # The raw cursor bypasses SQLAlchemy's handle_error hook; translate here.
        if conn.dialect.name == "sqlite" and not _sqlite_unavailable(error):
            raise
        raise DatabaseUnavailable(location(conn.engine), str(error).splitlines()[0]) from error
    finally:
        cursor.close()
