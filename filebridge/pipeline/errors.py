"""Errors of the pipeline box."""

from __future__ import annotations

from dataclasses import dataclass, field

from filebridge.errors import Terminal


@dataclass
class UnknownConnection(Terminal):
    """A command named a connection that settings.yaml does not define."""

    name: str
    known: list[str] = field(default_factory=list)
    code: str = "unknown-connection"

    def __str__(self) -> str:
        return f"no connection {self.name!r} in settings (configured: {', '.join(self.known)})"


@dataclass
class NoImportMapping(Terminal):
    """The connection has no import mapping configured."""

    connection: str
    code: str = "no-import-mapping"

    def __str__(self) -> str:
        return f"connection {self.connection!r} has no import_mapping in settings"


@dataclass
class UnknownGroup(Terminal):
    """A command named a group the connection does not own."""

    connection: str
    group: str
    code: str = "unknown-group"

    def __str__(self) -> str:
        return f"connection {self.connection!r} owns no group {self.group!r}"


@dataclass
class UnknownFile(Terminal):
    """A file id or path that the ledger does not know."""

    ref: str
    code: str = "unknown-file"

    def __str__(self) -> str:
        return f"no file {self.ref!r} in the ledger"


@dataclass
class NoRunLog(Terminal):
    """A run's change list or log file is not there: the run never got that far (it was
    not planned), it ran before filebridge wrote them, or retention removed it."""

    run_id: int
    kind: str  # changes | log
    path: str
    code: str = "no-run-log"

    def __str__(self) -> str:
        what = "change list" if self.kind == "changes" else "log"
        return f"run {self.run_id} has no {what} at {self.path}"


@dataclass
class NoExportMapping(Terminal):
    """The connection has no export mapping configured."""

    connection: str
    code: str = "no-export-mapping"

    def __str__(self) -> str:
        return f"connection {self.connection!r} has no export_mapping in settings"


@dataclass
class ExportTargetDiffers(Terminal):
    """A pending export's file is already at the HR side with different content."""

    connection: str
    name: str
    run_id: int
    code: str = "export-target-differs"

    def __str__(self) -> str:
        return (f"{self.connection}: {self.name} (pending export of run {self.run_id}) is "
                "already in the outbox with other content; it is never overwritten")


@dataclass
class ExportFileMissing(Terminal):
    """The local copy of a pending export file is gone, so it cannot be re-sent unchanged."""

    connection: str
    path: str
    run_id: int
    code: str = "export-file-missing"

    def __str__(self) -> str:
        return (f"{self.connection}: {self.path} (pending export of run {self.run_id}) is "
                "missing")


@dataclass
class NotHeld(Terminal):
    """``approve`` or ``discard`` named a run that is not waiting for approval."""

    run_id: int
    state: str
    code: str = "not-held"

    def __str__(self) -> str:
        return f"run {self.run_id} is {self.state}, not held"


@dataclass
class NotUndoable(Terminal):
    """``undo`` named a run that changed nothing in the LMS."""

    run_id: int
    kind: str
    state: str
    code: str = "not-undoable"

    def __str__(self) -> str:
        return f"run {self.run_id} ({self.kind}, {self.state}) applied no changes to undo"


@dataclass
class UnsupportedByTarget(Terminal):
    """A command needs something the connection's LMS target does not offer."""

    connection: str
    command: str
    target: str
    code: str = "unsupported-by-target"

    def __str__(self) -> str:
        return (f"`{self.command}` is not available for connection {self.connection!r}: its "
                f"LMS ({self.target}) does not support it")


@dataclass
class SpoolChanged(Terminal):
    """A spooled copy no longer has the content the ledger recorded for it."""

    path: str
    expected: str
    actual: str  # the sha256 found now, or "missing"
    code: str = "spool-changed"

    def __str__(self) -> str:
        found = "is missing" if self.actual == "missing" else f"has sha256 {self.actual}"
        return (f"{self.path}: the spooled copy changed since it was received (the ledger "
                f"recorded sha256 {self.expected}, the file {found}); nothing was applied")


@dataclass
class SpoolExpired(Terminal):
    """The file's spooled copy was removed by retention: it cannot be read again."""

    path: str
    file_id: int
    removed_at: str  # ISO date and time the cleanup removed it
    code: str = "spool-expired"

    def __str__(self) -> str:
        return (f"{self.path}: the stored copy of file {self.file_id} was removed by "
                f"retention on {self.removed_at} (the connection's retention.archive_days); "
                "it can no longer be replayed or approved; nothing was applied")


@dataclass
class UnsafeSpool(Terminal):
    """The spool folder can be written by other users."""

    path: str
    mode: str
    code: str = "unsafe-spool"

    def __str__(self) -> str:
        return (f"{self.path}: the spool folder is writable by other users (mode {self.mode}); "
                "files there are applied by replays and approvals")


@dataclass
class StaleApproval(Terminal):
    """Approving the held run now would apply older data over newer; it stays held."""

    run_id: int
    verdict: str
    code: str = "stale-approval"

    def __str__(self) -> str:
        return (f"run {self.run_id} not approved, nothing applied, it stays held: "
                f"{self.verdict}")
