"""Keep person search whole after a table rebuild: its triggers and trigram index are
checked after every batch of store migrations, like the drift triggers.

A rebuild of ``users`` (SQLite's create, copy, drop, rename; or a script doing the same
on PostgreSQL) drops the triggers that clear a renamed person's search keys and keep
SQLite's trigram table in step. Nothing fails then: a search just stops finding people
renamed since. The check costs one catalogue read; the repair recomputes the keys that
no longer match their names (renamed while the triggers were gone) and installs the
search parts again (``install_search_keys`` is idempotent and rebuilds the trigram
table from the keys).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from filebridge.lms.drift import trigger_names
from filebridge.lms.schema import users
from filebridge.lms.search_keys import FTS, install_search_keys, keys_of
from filebridge.sql import execute_many, fetch_batches, reading

# The triggers ``install_search_keys`` creates on ``users``, per dialect.
SEARCH_TRIGGERS: dict[str, tuple[str, ...]] = {
    "sqlite": ("users_name_fts_delete", "users_name_fts_update_old",
               "users_name_fts_update_new", "users_name_changed"),
    "postgresql": ("users_name_changed",),
}
TRIGRAM_INDEX = "ix_users_name_key_trgm"


def missing_search_parts(conn: Connection) -> list[str]:
    """Names of the search triggers, trigram table or index missing now (empty: whole).

    On PostgreSQL the trigram index is expected only where ``pg_trgm`` is installed:
    without it, searches scan and nothing is missing."""
    found = trigger_names(conn)
    if conn.dialect.name == "postgresql":
        if conn.exec_driver_sql("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'"
                                ).first() is not None:
            found |= {r[0] for r in conn.exec_driver_sql(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'users' "
                "AND schemaname = current_schema()")}
            expected = (*SEARCH_TRIGGERS["postgresql"], TRIGRAM_INDEX)
        else:
            expected = SEARCH_TRIGGERS["postgresql"]
    else:
        found |= {r[0] for r in conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        expected = (*SEARCH_TRIGGERS["sqlite"], FTS)
    return [name for name in expected if name not in found]


def clear_stale_keys(tx: Connection) -> int:
    """Clear the keys that no longer match their person's name (so the next refresh
    computes them again); returns how many were cleared."""
    stmt = sa.select(users.c.id, users.c.first_name, users.c.last_name, users.c.name_key,
                     users.c.last_key).where(users.c.name_key.is_not(None))
    stale: list[int] = []
    for batch in fetch_batches(tx, stmt, 200_000):
        frame = pd.DataFrame(batch, columns=["id", "first", "last", "name", "surname"])
        name, last = keys_of(frame["first"].fillna(""), frame["last"].fillna(""))
        differ = (name.to_numpy(dtype=object) != frame["name"].to_numpy(dtype=object)) | (
            last.to_numpy(dtype=object) != frame["surname"].fillna("").to_numpy(dtype=object))
        stale += frame["id"].to_numpy()[np.asarray(differ, dtype=bool)].astype(int).tolist()
    if stale:
        execute_many(tx, sa.update(users).where(users.c.id == sa.bindparam("p_id"))
                     .values(name_key=None, last_key=None), {"p_id": stale})
    return len(stale)


def ensure_search_keys(engine: Engine) -> bool:
    """Install person search's triggers and index again if any is missing, after
    recomputing the keys that went stale without them; True when it had to."""
    with reading(engine) as conn:
        if not missing_search_parts(conn):
            return False
    with engine.begin() as tx:
        clear_stale_keys(tx)
        install_search_keys(tx)
    return True
