"""What can go wrong with a state database, as values the CLI can put into words."""

from __future__ import annotations

from filebridge.errors import Terminal, Transient

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




def sqlite_unavailable(error: BaseException) -> bool:
    """True when sqlite3's OperationalError means busy, locked or unreachable (retry)."""
    return str(error).lower().startswith(_SQLITE_UNAVAILABLE)


class DatabaseUnavailable(Transient):
    """The state database is locked, busy or unreachable; retry later."""

    code = "database-unavailable"

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason


class SchemaTooNew(Terminal):
    """The database carries migrations this version of filebridge does not know."""

    code = "schema-too-new"

    def __init__(self, url: str, component: str, unknown: list[str]) -> None:
        super().__init__(f"{url}: {component} has unknown migrations {unknown}")
        self.url = url
        self.component = component
        self.unknown = unknown
