"""The root of filebridge's exception tree and the two retry markers.

Each box has its own ``errors.py`` whose exceptions derive from ``FilebridgeError``
and from exactly one of ``Transient`` (worth retrying later: timeouts, locked or
unreachable database) or ``Terminal`` (retrying cannot help: bad file, bad mapping,
guard tripped). Exceptions carry fields and a short factual message, never advice, so
the ledger can store them; ``filebridge/advice.py`` holds each code's meaning, what
to do and exit code, and ``filebridge/cli/errors.py`` prints them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class FilebridgeError(Exception):
    """Base of every error filebridge raises on purpose."""

    code: str = "filebridge-error"

    def fields(self) -> dict[str, Any]:
        """The error's data for the ledger and ``--json`` output."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}


class Transient(FilebridgeError):
    """Marker: the operation may succeed if retried later."""


class Terminal(FilebridgeError):
    """Marker: retrying the same input cannot succeed."""


@dataclass(frozen=True)
class ErrorInfo:
    """An error as a value a report keeps: its code, message, retry marker and plain fields."""

    code: str
    message: str
    transient: bool
    fields: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, exc: FilebridgeError) -> ErrorInfo:
        """The value of ``exc``; only plain fields are kept (they go to the ledger as JSON)."""
        plain = {k: v for k, v in exc.fields().items()
                 if k != "code" and isinstance(v, str | int | float | bool | None)}
        return cls(exc.code, str(exc), isinstance(exc, Transient), plain)

    def to_dict(self) -> dict[str, Any]:
        """``code``, ``message``, ``transient`` and the error's fields."""
        return {"code": self.code, "message": self.message, "transient": self.transient,
                **self.fields}
