"""The plan: the smallest set of changes that makes the LMS agree with a file.

A plan is data (pandas frames, so a million creates stay cheap), computed
completely before anything is written. Every value is a string; ``""`` is blank.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

Action = Literal["create", "update", "deactivate", "reactivate"]
FileKind = Literal["snapshot", "delta"]

CREATE_EXTRA = ("fingerprint", "line")
UPDATE_COLUMNS = ("employee_id", "field", "old", "new", "line")
STATE_COLUMNS = ("employee_id", "reason", "line")
FINGERPRINT_COLUMNS = ("employee_id", "fingerprint")


def _empty(columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype="object") for c in columns})


@dataclass
class Plan:
    """What one file would change for one connection.

    - ``creates``: one row per new person: ``employee_id``, every field in ``fields``,
      ``fingerprint`` (int64) and ``line`` (source line).
    - ``updates``: long format, one row per changed field: ``employee_id, field, old, new, line``.
    - ``fingerprints``: the new fingerprint of every existing person whose fields or
      fingerprint changed (``employee_id, fingerprint``), applied with the updates.
    - ``deactivations`` / ``reactivations``: ``employee_id, reason, line`` (line is
      None for a leaver missing from a snapshot).
    """

    connection: str
    file_kind: FileKind
    fields: tuple[str, ...]
    creates: pd.DataFrame = field(default_factory=lambda: _empty(("employee_id", *CREATE_EXTRA)))
    updates: pd.DataFrame = field(default_factory=lambda: _empty(UPDATE_COLUMNS))
    fingerprints: pd.DataFrame = field(default_factory=lambda: _empty(FINGERPRINT_COLUMNS))
    deactivations: pd.DataFrame = field(default_factory=lambda: _empty(STATE_COLUMNS))
    reactivations: pd.DataFrame = field(default_factory=lambda: _empty(STATE_COLUMNS))
    unchanged: int = 0

    @property
    def updated_people(self) -> int:
        """How many existing people have at least one field change."""
        return int(self.updates["employee_id"].nunique()) if len(self.updates) else 0

    def counts(self) -> dict[str, int]:
        """The plan summary: how many people each action touches."""
        return {
            "create": len(self.creates),
            "update": self.updated_people,
            "deactivate": len(self.deactivations),
            "reactivate": len(self.reactivations),
            "unchanged": self.unchanged,
        }

    def is_empty(self) -> bool:
        """True when applying the plan would change nothing a person can see."""
        c = self.counts()
        return not (c["create"] or c["update"] or c["deactivate"] or c["reactivate"])

    def to_dict(self, limit: int | None = 1000) -> dict[str, Any]:
        """A JSON-ready view of the plan; each list is cut at ``limit`` entries."""

        def rows(frame: pd.DataFrame, cols: tuple[str, ...] | list[str]) -> list[dict[str, Any]]:
            part = frame if limit is None else frame.head(limit)
            out = part.loc[:, list(cols)].astype(object)
            return [
                {k: (None if pd.isna(v) else (int(v) if k == "line" else v)) for k, v in r.items()}
                for r in out.to_dict("records")
            ]

        create_cols = ["employee_id", *[f for f in self.fields if f != "employee_id"], "line"]
        return {
            "connection": self.connection,
            "file_kind": self.file_kind,
            "counts": self.counts(),
            "creates": rows(self.creates, create_cols),
            "updates": rows(self.updates, UPDATE_COLUMNS),
            "deactivations": rows(self.deactivations, STATE_COLUMNS),
            "reactivations": rows(self.reactivations, STATE_COLUMNS),
            "truncated": limit is not None
            and any(len(f) > limit for f in (self.creates, self.updates, self.deactivations,
                                             self.reactivations)),
        }
