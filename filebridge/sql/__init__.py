"""SQL plumbing shared by the built-in LMS store and the ledger: engines, migrations,
bulk I/O and the state folder's safety checks. Nothing here knows what a person or a
file is; nothing above ``lms`` and ``ledger`` imports it."""

from filebridge.sql.bulk import (
           deferred_indexes,
           execute_many,
           fetch_batches,
           fetch_raw,
           gc_paused,
           insert_rows,
)
from filebridge.sql.engine import BEGIN_MODE, location, open_engine, reading
from filebridge.sql.errors import DatabaseUnavailable, SchemaTooNew
from filebridge.sql.migrations import Migration, applied_migrations, migrate, rebuild_table

__all__ = ["BEGIN_MODE", "DatabaseUnavailable", "Migration", "SchemaTooNew",
           "applied_migrations", "deferred_indexes", "execute_many",
           "fetch_batches", "fetch_raw", "gc_paused", "insert_rows", "location", "migrate",
           "open_engine", "reading", "rebuild_table"]
