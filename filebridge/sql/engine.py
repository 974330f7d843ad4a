"""One engine per state database, set up for safe concurrent use.

SQLite by default (a file under the state folder), PostgreSQL by URL. Every SQLite
connection gets WAL, ``synchronous=FULL``, foreign keys and a busy timeout, and
``engine.begin()`` takes the write lock up front (``BEGIN IMMEDIATE``) so a second
writer waits ``busy_timeout`` and then fails with ``DatabaseUnavailable`` instead of
deadlocking half-way through an apply.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, ExceptionContext

from filebridge.sql.errors import DatabaseUnavailable, sqlite_unavailable
from filebridge.state_dir import check_writable

# Execution option read by the SQLite "begin" hook: read-only work asks for a
# plain (deferred) BEGIN so readers never queue behind a writer in WAL mode.
BEGIN_MODE = "filebridge_begin"

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
            # WAL writes -wal and -shm files beside the database: both must be writable.
            for target in (Path(db).parent, Path(db)):
                if target.exists():
                    check_writable(target)
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
        if sqlite and not sqlite_unavailable(original):
            return
        raise DatabaseUnavailable(where, str(original).splitlines()[0]) from original


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction: one consistent view without taking the write lock."""
    with engine.connect() as conn:
        conn.execution_options(**{BEGIN_MODE: "DEFERRED"})
        with conn.begin():
            yield conn
