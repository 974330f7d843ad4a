"""SQL plumbing shared by the built-in LMS store and the ledger: engines, migrations,
bulk I/O and the state folder's safety checks. Nothing here knows what a person or a
file is; nothing above ``lms`` and ``ledger`` imports it."""

from filebridge.sql.bulk import execute_many, fetch_batches, fetch_raw, gc_paused
from filebridge.sql.engine import BEGIN_MODE, location, open_engine, reading
from filebridge.sql.errors import DatabaseUnavailable, SchemaTooNew, UnsafeStateLocation
from filebridge.sql.migrations import Migration, applied_migrations, migrate, rebuild_table
from filebridge.sql.state_dir import check_state_location, filesystem_type

__all__ = ["BEGIN_MODE", "DatabaseUnavailable", "Migration", "SchemaTooNew",
           "UnsafeStateLocation", "applied_migrations", "check_state_location", "execute_many",
           "fetch_batches", "fetch_raw", "filesystem_type", "gc_paused", "location", "migrate",
           "open_engine", "reading", "rebuild_table"]
