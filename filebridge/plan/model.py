"""The plan: the smallest set of changes that makes the LMS agree with a file.

A plan is data (pandas frames, so a million creates stay cheap), computed
completely before anything is written. Every value is a string; ``""`` is blank.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from filebridge.columnar import is_in

Action = Literal["create", "update", "deactivate", "reactivate", "delete"]
FileKind = Literal["snapshot", "delta"]

CREATE_EXTRA = ("fingerprint", "line")
UPDATE_COLUMNS = ("employee_id", "field", "old", "new", "line")
# An HR-owned field changed in the LMS outside filebridge: ``lms`` is what the LMS holds
# now, ``new`` the file's value (also what filebridge last wrote), put back by the apply.
DRIFT_COLUMNS = ("employee_id", "field", "lms", "new", "line")
STATE_COLUMNS = ("employee_id", "reason", "line")
FINGERPRINT_COLUMNS = ("employee_id", "fingerprint")
REKEY_COLUMNS = ("employee_id", "old_employee_id", "line")
SKIPPED_COLUMNS = ("employee_id", "reason", "message", "line")
# One row per department or job title change; ``kind`` is department | job_title,
# ``action`` create | update | remove; old_* are the stored values (blank on create).
ORG_COLUMNS = ("kind", "action", "code", "name", "parent_code", "old_name", "old_parent_code")
# One row per group membership change; ``action`` is add | remove.
GROUP_COLUMNS = ("employee_id", "group", "action", "line")
# The group fingerprint to store for each person whose memberships the plan compared.
GROUP_FINGERPRINT_COLUMNS = ("employee_id", "group_fingerprint")
# A membership the rules made, removed in the LMS outside filebridge and put back.
GROUP_DRIFT_COLUMNS = ("employee_id", "group", "line")


def _empty(columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype="object") for c in columns})


@dataclass
class Plan:
    """What one file would change for one connection.

    - ``creates``: one row per new person: ``employee_id``, every field in ``fields``,
      ``fingerprint`` (int64) and ``line`` (source line).
    - ``updates``: long format, one row per changed field: ``employee_id, field, old, new, line``.
    - ``drift``: HR-owned fields changed in the LMS outside filebridge, which the file
      did not change: ``employee_id, field, lms, new, line`` (see ``DRIFT_COLUMNS``).
    - ``fingerprints``: the new fingerprint of every existing person whose fields or
      fingerprint changed (``employee_id, fingerprint``), applied with the updates.
    - ``deactivations`` / ``reactivations`` / ``deletes``: ``employee_id, reason, line``
      (line is None for a leaver missing from a snapshot).
    - ``rekeys``: rehires matched on email under a new employee id: the stored account
      ``old_employee_id`` takes ``employee_id`` before anything else is applied.
    - ``skipped``: rows that change nothing and why (filtered out, inactive and unknown,
      no work email): ``employee_id, reason, message, line``.
    - ``org``: department and job title changes (see ``ORG_COLUMNS``).
    - ``groups``: group memberships to add or remove (see ``GROUP_COLUMNS``); the
      groups are owned by the connection, and only memberships it made are removed.
    - ``group_fingerprints``: the group fingerprint (rules' digest and group set) of every
      person whose memberships were compared; people with an unchanged one are not read.
    - ``group_drift``: memberships the rules made that were removed in the LMS outside
      filebridge; they are also in ``groups`` as adds (put back).
    """

    connection: str
    file_kind: FileKind
    fields: tuple[str, ...]
    creates: pd.DataFrame = field(default_factory=lambda: _empty(("employee_id", *CREATE_EXTRA)))
    updates: pd.DataFrame = field(default_factory=lambda: _empty(UPDATE_COLUMNS))
    fingerprints: pd.DataFrame = field(default_factory=lambda: _empty(FINGERPRINT_COLUMNS))
    drift: pd.DataFrame = field(default_factory=lambda: _empty(DRIFT_COLUMNS))
    deactivations: pd.DataFrame = field(default_factory=lambda: _empty(STATE_COLUMNS))
    reactivations: pd.DataFrame = field(default_factory=lambda: _empty(STATE_COLUMNS))
    deletes: pd.DataFrame = field(default_factory=lambda: _empty(STATE_COLUMNS))
    rekeys: pd.DataFrame = field(default_factory=lambda: _empty(REKEY_COLUMNS))
    skipped: pd.DataFrame = field(default_factory=lambda: _empty(SKIPPED_COLUMNS))
    org: pd.DataFrame = field(default_factory=lambda: _empty(ORG_COLUMNS))
    unchanged: int = 0
    # True when ``org`` was planned (the pipeline does); a bare plan lets the store derive
    # departments and job titles from its people instead.
    org_planned: bool = False
    groups: pd.DataFrame = field(default_factory=lambda: _empty(GROUP_COLUMNS))
    # Set when the mapping has group rules: memberships the connection had before the
    # plan (the guard's base for group removals) and active people matching no rule.
    groups_planned: bool = False
    group_members: int = 0
    no_group: int = 0
    group_fingerprints: pd.DataFrame = field(
        default_factory=lambda: _empty(GROUP_FINGERPRINT_COLUMNS))
    group_drift: pd.DataFrame = field(default_factory=lambda: _empty(GROUP_DRIFT_COLUMNS))

    @property
    def updated_people(self) -> int:
        """How many existing people have at least one field change."""
        return int(self.updates["employee_id"].nunique()) if len(self.updates) else 0

    @property
    def drifted_people(self) -> int:
        """How many existing people have a field to put back after a change in the LMS."""
        return int(self.drift["employee_id"].nunique()) if len(self.drift) else 0

    def counts(self) -> dict[str, int]:
        """The plan summary: how many people each action touches."""
        return {
            "create": len(self.creates),
            "update": self.updated_people,
            "drift": self.drifted_people,
            "deactivate": len(self.deactivations),
            "reactivate": len(self.reactivations),
            "delete": len(self.deletes),
            "unchanged": self.unchanged,
            "skipped": len(self.skipped),
            **(self.group_counts() if self.groups_planned else {}),
        }

    def group_counts(self) -> dict[str, int]:
        """Memberships added and removed, and active people matching no rule."""
        removes = int((self.groups["action"] == "remove").sum())
        return {"group_add": len(self.groups) - removes, "group_remove": removes,
                "no_group": self.no_group, "group_drift": len(self.group_drift)}

    def org_counts(self) -> dict[str, int]:
        """Department and job title changes by ``<kind>_<action>``."""
        if self.org.empty:
            return {}
        sizes = self.org.groupby(["kind", "action"]).size()
        return {f"{k}_{a}": int(n) for (k, a), n in sizes.items()}

    def is_empty(self) -> bool:
        """True when applying the plan would change nothing a person can see."""
        c = self.counts()
        return not (c["create"] or c["update"] or c["drift"] or c["deactivate"] or c["reactivate"]
                    or c["delete"] or len(self.rekeys) or len(self.org) or len(self.groups))

    def drop_people(self, ids: set[str]) -> None:
        """Take these people out of every person action (their row turned out to be bad)."""
        if not ids:
            return
        for name in ("creates", "updates", "drift", "fingerprints", "deactivations",
                     "reactivations", "deletes", "rekeys", "groups", "group_fingerprints",
                     "group_drift"):
            frame = getattr(self, name)
            keep = ~is_in(frame["employee_id"].astype("str"), ids)
            setattr(self, name, frame.loc[keep].reset_index(drop=True))

    def to_dict(self, limit: int | None = 1000) -> dict[str, Any]:
        """A JSON-ready view of the plan; each list is cut at ``limit`` entries."""
        from filebridge.plan.summary import summarize  # summary builds on this module

        return summarize(self, limit).to_dict()
