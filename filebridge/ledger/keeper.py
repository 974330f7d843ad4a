"""The PostgreSQL session that holds this process's connection locks.

Session advisory locks belong to a database session, and the server frees them when
the session ends, whatever ended it. So the locks of one process live on one session
of their own, outside the engine's pool (a pooled connection would be reused, or
recycled, under the lock). The session opens with the first lock and closes when the
process holds none. It is named in ``pg_stat_activity.application_name`` after the
process, so a database admin sees who holds what.

Advisory locks are re-entrant within a session, so the keeper itself keeps threads
of this process out of each other's locks.
"""

from __future__ import annotations

import logging
import os
import socket
import threading

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

from filebridge.sql import location
from filebridge.sql.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

# The first key of every filebridge advisory lock ("FB" and a version), so that other
# applications sharing the database keep their own key space.
NAMESPACE = 0x46420001


class Keeper:
    """One session holding this process's advisory locks on one database."""

    def __init__(self, engine: Engine) -> None:
        name = f"filebridge locks {socket.gethostname()}:{os.getpid()}"[:63]
        self._engine = sa.create_engine(engine.url, poolclass=NullPool,
                                        connect_args={"application_name": name})
        self._where = location(engine)
        self._conn: Connection | None = None
        self._held: set[str] = set()
        self._mutex = threading.Lock()

    def _session(self) -> Connection:
        if self._conn is None:
            try:
                conn = self._engine.connect()
            except sa.exc.DBAPIError as exc:
                raise DatabaseUnavailable(self._where, str(exc.orig).splitlines()[0]) from exc
            # Autocommit: the session must never sit idle inside a transaction for a run.
            self._conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        return self._conn

    def _call(self, function: str, key: int) -> bool:
        statement = sa.text(f"SELECT {function}(:ns, :key)")  # one of three fixed names
        try:
            return bool(self._session().execute(statement, {"ns": NAMESPACE, "key": key})
                        .scalar())
        except sa.exc.DBAPIError as exc:
            if self._held:
                log.error("the database session holding the locks of %s ended: %s; those "
                          "locks are lost", ", ".join(sorted(self._held)), exc.orig)
            self._drop()
            raise DatabaseUnavailable(self._where, str(exc.orig).splitlines()[0]) from exc

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        self._held.clear()
        if conn is not None:
            try:
                conn.close()
            except sa.exc.DBAPIError:
                pass

    def try_lock(self, name: str, key: int) -> bool:
        """Take ``name``'s lock now if nobody (in this process or elsewhere) holds it."""
        with self._mutex:
            if name in self._held:
                return False
            taken = self._call("pg_try_advisory_lock", key)
            if taken:
                self._held.add(name)
            return taken

    def unlock(self, name: str, key: int) -> None:
        """Release ``name``'s lock; the session closes when it was the last one."""
        with self._mutex:
            if name not in self._held:
                return
            self._held.discard(name)
            try:
                self._call("pg_advisory_unlock", key)
            except DatabaseUnavailable as exc:
                log.warning("lock of %s not released explicitly (%s); the server "
                            "released it with the session", name, exc)
            if not self._held:
                self._drop()

    def is_locked(self, name: str, key: int) -> bool:
        """True when some session, this process's included, holds ``name``'s lock."""
        with self._mutex:
            if name in self._held:
                return True
            free = self._call("pg_try_advisory_lock", key)
            if free:
                self._call("pg_advisory_unlock", key)
            if not self._held:
                self._drop()
            return not free

    def idle(self) -> None:
        """Close the session if this process holds no lock (a waiter gave up)."""
        with self._mutex:
            if not self._held:
                self._drop()


_keepers: dict[str, Keeper] = {}
_keepers_mutex = threading.Lock()


def keeper_for(engine: Engine) -> Keeper:
    """This process's keeper for the database of ``engine`` (shared by engines to it)."""
    key = engine.url.render_as_string(hide_password=False)
    with _keepers_mutex:
        keeper = _keepers.get(key)
        if keeper is None:
            keeper = _keepers[key] = Keeper(engine)
        return keeper
