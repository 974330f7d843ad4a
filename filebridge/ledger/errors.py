"""Errors of the ledger box."""

from __future__ import annotations

from filebridge.errors import FilebridgeError, Terminal, Transient


class LedgerError(FilebridgeError):
    """Base of every error raised by the ledger."""

    code = "ledger-error"


class UnknownFile(LedgerError, Terminal):
    """No file with that id in the ledger."""

    code = "unknown-file"

    def __init__(self, file_id: int, location: str) -> None:
        super().__init__(f"file {file_id} not in {location}")
        self.file_id = file_id
        self.location = location


class UnknownRun(LedgerError, Terminal):
    """No run with that id in the ledger."""

    code = "unknown-run"

    def __init__(self, run_id: int, location: str) -> None:
        super().__init__(f"run {run_id} not in {location}")
        self.run_id = run_id
        self.location = location


class InvalidState(LedgerError, Terminal):
    """A state, kind or mode outside the ledger's closed vocabulary."""

    code = "invalid-state"

    def __init__(self, what: str, value: str, allowed: tuple[str, ...]) -> None:
        super().__init__(f"{what} {value!r} is not one of {list(allowed)}")
        self.what = what
        self.value = value
        self.allowed = list(allowed)


class LockHolderAlive(LedgerError, Transient):
    """``unlock`` refused: the process holding the lock is still running."""

    code = "lock-holder-alive"

    def __init__(self, connection: str, holder: str, since: str) -> None:
        super().__init__(f"{connection!r} is locked by {holder}, which is still running "
                         f"(holding it since {since}); the lock frees itself when that run "
                         "ends or the process dies: stop that process if it hangs")
        self.connection, self.holder, self.since = connection, holder, since
