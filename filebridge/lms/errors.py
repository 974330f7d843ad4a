"""Errors of the LMS box: a store that cannot take a plan."""

from __future__ import annotations

from filebridge.errors import FilebridgeError, Terminal, Transient


class StoreError(FilebridgeError):
    """Base of every error raised by an LMS store."""

    code = "store-error"


class InvalidFieldName(StoreError, Terminal):
    """A plan names a field that is neither canonical nor ``custom.*``."""

    code = "invalid-field-name"

    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


class StalePlan(StoreError, Transient):
    """The LMS changed since the plan was made (a create exists, an update finds nobody).

    Nothing was applied: the transaction rolls back. Planning again from a fresh
    snapshot fixes it, hence ``Transient``.
    """

    code = "stale-plan"

    def __init__(self, connection: str, action: str, expected: int, found: int) -> None:
        super().__init__(f"{connection}: {action}: expected {expected} rows, found {found}")
        self.connection = connection
        self.action = action
        self.expected = expected
        self.found = found
