"""Drift: what changed in an external LMS by hand since filebridge last wrote it.

The nightly plan reads the mirror, never the LMS. A target's ``verify`` reads the LMS
and compares it with the mirror: people whose mapped fields differ, people deactivated
or reactivated there, people deleted there, accounts with a key filebridge does not
manage, and the connection's groups: deleted there, or members filebridge added taken
out there. ``repair`` makes the mirror say what the LMS holds, so the next plan corrects
the LMS; ``live_entries`` gives the same view without writing it, for ``plan --verify``.
Every external target reports in these shapes, so ``filebridge verify`` is one command.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from filebridge.lms.group_mirror import GroupMirror
from filebridge.lms.group_sync import GroupDrift, repair_groups
from filebridge.lms.mirror import Entry, Mirror


@dataclass(frozen=True)
class Changed:
    """One person whose fields differ: field → (mirror, LMS)."""

    employee_id: str
    fields: dict[str, tuple[str, str]]


@dataclass
class Drift:
    """The LMS against the mirror of one connection."""

    connection: str
    listed: int = 0
    changed: list[Changed] = field(default_factory=list)
    deactivated: list[str] = field(default_factory=list)
    reactivated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unmanaged: list[str] = field(default_factory=list)
    # What the LMS holds for each drifted person, as mirror entries (repair writes them).
    found: dict[str, Entry] = field(default_factory=dict)
    # Owned groups deleted and members filebridge added taken out, in the LMS by hand.
    groups: GroupDrift = field(default_factory=GroupDrift)

    @property
    def clean(self) -> bool:
        """True when the LMS holds exactly what the mirror says."""
        return not (self.changed or self.deactivated or self.reactivated or self.deleted
                    or self.groups.deleted or self.groups.removed
                    or self.groups.gone_by_hand)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for ``verify --json``."""
        return {"connection": self.connection, "listed": self.listed, "clean": self.clean,
                "changed": [{"employee_id": c.employee_id,
                             "fields": {f: {"mirror": m, "lms": v}
                                        for f, (m, v) in c.fields.items()}}
                            for c in self.changed],
                "deactivated": self.deactivated, "reactivated": self.reactivated,
                "deleted": self.deleted, "unmanaged": self.unmanaged,
                "groups_deleted": self.groups.deleted,
                "members_removed": [{"group": g, "employee_id": e}
                                    for g, e in self.groups.removed]}


def repair(mirror: Mirror, drift: Drift, now: datetime) -> None:
    """Make the mirror hold what the LMS holds; the next plan then corrects the LMS."""
    mirror.adopt(drift.connection, list(drift.found.values()), now)
    mirror.forget(drift.connection, drift.deleted)
    repair_groups(GroupMirror(mirror.engine), drift.connection, drift.groups)


def live_entries(mirror: Mirror, drift: Drift) -> dict[str, Entry]:
    """The mirror with the drift applied, without writing it (``plan --verify``)."""
    entries = mirror.entries(drift.connection)
    entries.update(drift.found)
    for eid in drift.deleted:
        entries.pop(eid, None)
    return entries
