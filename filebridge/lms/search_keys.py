"""Search keys of the built-in store: every person's name, case-folded the Python way.

SQLite's ``lower()`` folds ASCII letters only, and no database folds "ß" to "ss". So
the store keeps two columns it computes itself: ``name_key`` ("first last") and
``last_key`` (the last name), both ``search_key`` of the name. A prefix of either is a
range on its index; a fragment from inside a name (three characters or more) is
answered by a trigram index on ``name_key``: an FTS5 table with the ``trigram``
tokenizer on SQLite, a ``pg_trgm`` GIN index on PostgreSQL.

Keys are written with the people a run creates, which join the trigram index in one
statement after their insert (``index_new_people``). A name changed any other way (an
update of a run, a hand edit on the database) clears the key by trigger, and every
apply recomputes the cleared keys of its connection; a search also reads the few
people whose key is cleared, so it never misses one.
"""

from __future__ import annotations

import logging
import unicodedata
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from filebridge.lms.schema import users
from filebridge.sql import execute_many, fetch_raw

log = logging.getLogger(__name__)

FTS = "users_name_fts"
MIN_FRAGMENT = 3  # a trigram index answers fragments of at least three characters


def search_key(text: str) -> str:
    """``text`` as searches compare it: NFC, case-folded ("ß" → "ss", "É" → "é"), with
    single spaces. Turkish pairs its capitals differently (I/ı, İ/i) from the rest of
    Unicode (I/i): the dotted İ (which folds to "i" plus a combining dot) and the dotless
    ı both become "i", so "IŞIK", "Işık" and "ışık" all find one another."""
    folded = unicodedata.normalize("NFC", unicodedata.normalize("NFC", text).casefold())
    return " ".join(folded.replace("i\u0307", "i").replace("\u0131", "i").split())


def keys_of(first: pd.Series, last: pd.Series) -> tuple[pd.Series, pd.Series]:
    """``name_key`` and ``last_key`` of many people, column-wise: each distinct first and
    last name is folded once (a million people share a few thousand names)."""
    given, family = _fold(first), _fold(last)
    full = given + " " + family
    full = np.where(given == "", family, np.where(family == "", given, full))
    return pd.Series(full, index=first.index, dtype=object), pd.Series(
        family, index=last.index, dtype=object)


def _fold(values: pd.Series) -> np.ndarray:
    codes, uniques = pd.factorize(values.fillna("").astype(str))
    folded = np.array([search_key(str(u)) for u in uniques] + [""], dtype=object)
    return folded[codes]  # a code of -1 (never, after fillna) would read the ""


def _sqlite_ddl() -> list[str]:
    when_old = "WHEN old.name_key IS NOT NULL"
    drop = f"INSERT INTO {FTS} ({FTS}, rowid, name_key) VALUES ('delete', old.id, old.name_key)"
    add = f"INSERT INTO {FTS} (rowid, name_key) SELECT new.id, new.name_key WHERE " \
          "new.name_key IS NOT NULL"
    return [
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS} USING fts5(name_key, content='users', "
        "content_rowid='id', tokenize='trigram case_sensitive 1')",
        f"CREATE TRIGGER IF NOT EXISTS users_name_fts_delete AFTER DELETE ON users "
        f"{when_old} BEGIN {drop}; END",
        f"CREATE TRIGGER IF NOT EXISTS users_name_fts_update_old AFTER UPDATE OF name_key "
        f"ON users {when_old} BEGIN {drop}; END",
        f"CREATE TRIGGER IF NOT EXISTS users_name_fts_update_new AFTER UPDATE OF name_key "
        f"ON users BEGIN {add}; END",
        # Any change of a name clears its keys; the next apply computes them again.
        "CREATE TRIGGER IF NOT EXISTS users_name_changed AFTER UPDATE OF first_name, "
        "last_name ON users WHEN new.name_key IS NOT NULL AND (new.first_name IS NOT "
        "old.first_name OR new.last_name IS NOT old.last_name) BEGIN UPDATE users SET "
        "name_key = NULL, last_key = NULL WHERE id = new.id; END",
    ]


_PG_CLEAR = """
CREATE OR REPLACE FUNCTION filebridge_name_changed() RETURNS trigger AS $$
BEGIN
  IF NEW.first_name IS DISTINCT FROM OLD.first_name
     OR NEW.last_name IS DISTINCT FROM OLD.last_name THEN
    NEW.name_key := NULL;
    NEW.last_key := NULL;
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql
"""


def _postgres(conn: Connection) -> None:
    conn.exec_driver_sql(_PG_CLEAR)
    conn.exec_driver_sql("DROP TRIGGER IF EXISTS users_name_changed ON users")
    conn.exec_driver_sql("CREATE TRIGGER users_name_changed BEFORE UPDATE OF first_name, "
                         "last_name ON users FOR EACH ROW EXECUTE FUNCTION "
                         "filebridge_name_changed()")
    try:
        with conn.begin_nested():
            conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except sa.exc.DBAPIError as error:
        # Without the extension (not installed, or no right to create it) fragments from
        # inside a name are found by reading the connection's keys: slower, still right.
        log.warning("pg_trgm is not available (%s): name fragments will scan",
                    str(error).splitlines()[0])
        return
    conn.exec_driver_sql("CREATE INDEX IF NOT EXISTS ix_users_name_key_trgm ON users "
                         "USING gin (name_key gin_trgm_ops)")


def index_new_people(tx: Connection, after_id: int) -> None:
    """Add the people inserted with ids above ``after_id`` to SQLite's trigram index, in
    one statement (ten times faster than a trigger per row); PostgreSQL's GIN index
    keeps itself."""
    if tx.dialect.name == "sqlite":
        tx.execute(sa.text(f"INSERT INTO {FTS} (rowid, name_key) SELECT id, name_key FROM "
                           "users WHERE id > :after AND name_key IS NOT NULL"),
                   {"after": after_id})


def has_trigram_index(conn: Connection) -> bool:
    """True when fragments from inside a name are indexed in this database."""
    if conn.dialect.name == "sqlite":
        return True
    return bool(conn.scalar(sa.text("SELECT 1 FROM pg_indexes WHERE indexname = "
                                    "'ix_users_name_key_trgm'")))


def install_search_keys(conn: Connection) -> None:
    """Store migration ``0013_person_search_keys``: the key columns, their indexes and
    triggers, the trigram index, and the keys of everyone already stored."""
    columns = {c["name"] for c in sa.inspect(conn).get_columns("users")}
    for name in ("name_key", "last_key"):
        if name not in columns:
            conn.exec_driver_sql(f"ALTER TABLE users ADD COLUMN {name} TEXT")
    # The keys replace the lower() indexes of 0006 (ASCII-only on SQLite).
    for old in ("ix_users_first_name_lower", "ix_users_last_name_lower"):
        conn.exec_driver_sql(f"DROP INDEX IF EXISTS {old}")
    collate = ' COLLATE "C"' if conn.dialect.name == "postgresql" else ""
    for name in ("name_key", "last_key"):
        conn.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS ix_users_{name} ON users "
                             f"({name}{collate})")
    refresh_keys(conn, None)
    if conn.dialect.name == "sqlite":
        for ddl in _sqlite_ddl():
            conn.exec_driver_sql(ddl)
        conn.exec_driver_sql(f"INSERT INTO {FTS} ({FTS}) VALUES ('rebuild')")
    else:
        _postgres(conn)


def refresh_keys(tx: Connection, connection: str | None) -> int:
    """Compute the keys that are missing (new, renamed, or stored before keys existed) of
    ``connection``'s people (``None``: everyone's); returns how many were written."""
    stmt = sa.select(users.c.id, users.c.first_name, users.c.last_name).where(
        users.c.name_key.is_(None))
    if connection is not None:  # written so SQLite reads the key index, not managed_by's
        stmt = stmt.where((users.c.managed_by + sa.literal("")) == connection)
    rows = fetch_raw(tx, stmt)
    if not rows:
        return 0
    frame = pd.DataFrame(rows, columns=["id", "first", "last"])
    name, last = keys_of(frame["first"].fillna(""), frame["last"].fillna(""))
    return execute_many(tx, sa.update(users).where(users.c.id == sa.bindparam("p_id"))
                        .values(name_key=sa.bindparam("p_name"),
                                last_key=sa.bindparam("p_last")),
                        {"p_id": frame["id"].astype(int).tolist(), "p_name": name.tolist(),
                         "p_last": last.tolist()})


def fragment_ids(conn: Connection, where: Any, fragment: str, limit: int) -> list[str]:
    """Employee ids (``where`` limits them to one connection) whose ``name_key`` holds
    ``fragment`` (already a search key) of at least ``MIN_FRAGMENT`` characters, through
    the trigram index when there is one."""
    if len(fragment) < MIN_FRAGMENT:
        return []
    contains = sa.func.instr(users.c.name_key, fragment) > 0 \
        if conn.dialect.name == "sqlite" else sa.func.strpos(users.c.name_key, fragment) > 0
    stmt = sa.select(users.c.employee_id).where(where, contains)
    if not has_trigram_index(conn):
        pass  # PostgreSQL without pg_trgm: the connection's keys are read (see _postgres)
    elif conn.dialect.name == "sqlite":
        phrase = '"' + fragment.replace('"', '""') + '"'
        hits: sa.Select[Any] = sa.select(sa.column("rowid")).select_from(sa.table(FTS)).where(
            sa.text(f"{FTS} MATCH :phrase").bindparams(phrase=phrase))
        stmt = stmt.where(users.c.id.in_(hits))
    else:
        escaped = fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(users.c.name_key.like(f"%{escaped}%", escape="\\"))
    return [r[0] for r in conn.execute(stmt.order_by(users.c.employee_id).limit(limit))]


def unkeyed_ids(conn: Connection, where: Any, key: str, limit: int) -> list[str]:
    """Employee ids among people whose keys are cleared (renamed since the last apply)
    whose name matches ``key`` (a prefix of the name or last name, or a fragment)."""
    rows = conn.execute(sa.select(users.c.employee_id, users.c.first_name, users.c.last_name)
                        .where(where, users.c.name_key.is_(None)).limit(10_000)).all()
    found = []
    for employee_id, first, last in rows:
        name, surname = search_key(f"{first} {last}"), search_key(str(last))
        if name.startswith(key) or surname.startswith(key) or key in name:
            found.append(str(employee_id))
    return sorted(found)[:limit]
