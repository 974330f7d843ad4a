"""Errors of the pipeline box.

Each error is a dataclass of fields and a ``template``: the message is the template
filled in from the error's attributes (its fields, and the few properties that word
a field, such as ``found`` of ``SpoolChanged``), so no class writes its own ``__str__``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from filebridge.errors import Terminal


class _Attributes:
    """The attributes of an error, looked up by name while its template is filled in."""

    def __init__(self, error: PipelineError) -> None:
        self._error = error

    def __getitem__(self, name: str) -> Any:
        return getattr(self._error, name)


@dataclass
class PipelineError(Terminal):
    """Base of the pipeline's errors: the message is ``template`` filled from the fields."""

    template: ClassVar[str]

    def __str__(self) -> str:
        return self.template.format_map(_Attributes(self))


@dataclass
class UnknownConnection(PipelineError):
    """A command named a connection that settings.yaml does not define."""

    name: str
    known: list[str] = field(default_factory=list)
    code: str = "unknown-connection"
    template = "no connection {name!r} in settings (configured: {configured})"

    @property
    def configured(self) -> str:
        """The configured connections, comma-separated."""
        return ", ".join(self.known)


@dataclass
class NoImportMapping(PipelineError):
    """The connection has no import mapping configured."""

    connection: str
    code: str = "no-import-mapping"
    template = "connection {connection!r} has no import_mapping in settings"


@dataclass
class UnknownGroup(PipelineError):
    """A command named a group the connection does not own."""

    connection: str
    group: str
    code: str = "unknown-group"
    template = "connection {connection!r} owns no group {group!r}"


@dataclass
class UnknownFile(PipelineError):
    """A file id or path that the ledger does not know."""

    ref: str
    code: str = "unknown-file"
    template = "no file {ref!r} in the ledger"


@dataclass
class NoRunLog(PipelineError):
    """A run's change list or log file is not there: the run never got that far (it was
    not planned), it ran before filebridge wrote them, or retention removed it."""

    run_id: int
    kind: str  # changes | log
    path: str
    code: str = "no-run-log"
    template = "run {run_id} has no {what} at {path}"

    @property
    def what(self) -> str:
        """The missing file in words."""
        return "change list" if self.kind == "changes" else "log"


@dataclass
class NoExportMapping(PipelineError):
    """The connection has no export mapping configured."""

    connection: str
    code: str = "no-export-mapping"
    template = "connection {connection!r} has no export_mapping in settings"


@dataclass
class ExportTargetDiffers(PipelineError):
    """A pending export's file is already at the HR side with different content."""

    connection: str
    name: str
    run_id: int
    code: str = "export-target-differs"
    template = ("{connection}: {name} (pending export of run {run_id}) is already in the "
                "outbox with other content; it is never overwritten")


@dataclass
class ExportFileMissing(PipelineError):
    """The local copy of a pending export file is gone, so it cannot be re-sent unchanged."""

    connection: str
    path: str
    run_id: int
    code: str = "export-file-missing"
    template = "{connection}: {path} (pending export of run {run_id}) is missing"


@dataclass
class NotHeld(PipelineError):
    """``approve`` or ``discard`` named a run that is not waiting for approval."""

    run_id: int
    state: str
    code: str = "not-held"
    template = "run {run_id} is {state}, not held"


@dataclass
class NotUndoable(PipelineError):
    """``undo`` named a run that changed nothing in the LMS."""

    run_id: int
    kind: str
    state: str
    code: str = "not-undoable"
    template = "run {run_id} ({kind}, {state}) applied no changes to undo"


@dataclass
class UnsupportedByTarget(PipelineError):
    """A command needs something the connection's LMS target does not offer."""

    connection: str
    command: str
    target: str
    code: str = "unsupported-by-target"
    template = ("`{command}` is not available for connection {connection!r}: its LMS "
                "({target}) does not support it")


@dataclass
class SpoolChanged(PipelineError):
    """A spooled copy no longer has the content the ledger recorded for it."""

    path: str
    expected: str
    actual: str  # the sha256 found now, or "missing"
    code: str = "spool-changed"
    template = ("{path}: the spooled copy changed since it was received (the ledger "
                "recorded sha256 {expected}, the file {found}); nothing was applied")

    @property
    def found(self) -> str:
        """What is at the spooled path now, in words."""
        return "is missing" if self.actual == "missing" else f"has sha256 {self.actual}"


@dataclass
class SpoolExpired(PipelineError):
    """The file's spooled copy was removed by retention: it cannot be read again."""

    path: str
    file_id: int
    removed_at: str  # ISO date and time the cleanup removed it
    code: str = "spool-expired"
    template = ("{path}: the stored copy of file {file_id} was removed by retention on "
                "{removed_at} (the connection's retention.archive_days); it can no longer "
                "be replayed or approved; nothing was applied")


@dataclass
class UnsafeSpool(PipelineError):
    """The spool folder can be written by other users."""

    path: str
    mode: str
    code: str = "unsafe-spool"
    template = ("{path}: the spool folder is writable by other users (mode {mode}); "
                "files there are applied by replays and approvals")


@dataclass
class StaleApproval(PipelineError):
    """Approving the held run now would apply older data over newer; it stays held."""

    run_id: int
    verdict: str
    code: str = "stale-approval"
    template = ("run {run_id} not approved, nothing applied, it stays held: {verdict}")
