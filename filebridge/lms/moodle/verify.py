"""Drift: what was changed by hand in Moodle since filebridge last confirmed it.

Every account the mirror knows is read back by its Moodle id, in pages, and compared
with the mirror: gone (deleted in Moodle), suspended or unsuspended, idnumber changed,
a mapped field changed. Nothing is written to Moodle; with ``repair`` the mirror learns
what Moodle holds, so that the next run sends those people again (a deleted account is
forgotten and made anew). A changed idnumber is reported only: put it back in Moodle.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from filebridge.lms.moodle.client import MoodleClient
from filebridge.lms.moodle.mirror import UNSETTLED, Entry, Mirror
from filebridge.lms.moodle.target import MoodleTarget
from filebridge.lms.moodle.users import canonical_from

DriftKind = str  # missing | active | idnumber | field


@dataclass(frozen=True)
class Drift:
    """One difference between the mirror and the LMS."""

    employee_id: str
    lms_id: str
    kind: DriftKind
    field: str = ""
    expected: str = ""
    found: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"employee_id": self.employee_id, "lms_id": self.lms_id, "kind": self.kind,
                "field": self.field, "expected": self.expected, "found": self.found}


def find_drift(mirror: Mirror, client: MoodleClient, target: MoodleTarget,
               connection: str) -> list[Drift]:
    """Every difference between ``connection``'s mirror and its Moodle accounts."""
    entries = mirror.entries(connection)
    by_lms = {e.lms_id: e for e in entries.values()}
    found = {str(u.get("id")): u for u in client.users_by_field("id", list(by_lms))}
    out: list[Drift] = []
    for lms_id, entry in sorted(by_lms.items(), key=lambda kv: kv[1].employee_id):
        user = found.get(lms_id)
        if user is None:
            out.append(Drift(entry.employee_id, lms_id, "missing"))
            continue
        out += _compare(entry, user, target)
    return out


def _compare(entry: Entry, user: dict[str, Any], target: MoodleTarget) -> list[Drift]:
    out: list[Drift] = []
    eid, lms_id = entry.employee_id, entry.lms_id
    active = not bool(user.get("suspended", False))
    if active != entry.active:
        out.append(Drift(eid, lms_id, "active", "active", str(entry.active).lower(),
                         str(active).lower()))
    expected_id = eid if target.idnumber == "employee_id" else entry.fields.get(
        target.idnumber, "")
    if str(user.get("idnumber", "")) != expected_id:
        out.append(Drift(eid, lms_id, "idnumber", "idnumber", expected_id,
                         str(user.get("idnumber", ""))))
    held = canonical_from(user, target)
    for name, value in sorted(held.items()):
        if name == target.idnumber or name not in entry.fields:
            continue
        wanted = entry.fields.get(name, "")
        if name in ("email",):
            same = value.lower() == wanted.lower()
        else:
            same = value == wanted
        if not same:
            out.append(Drift(eid, lms_id, "field", name, wanted, value))
    return out


def repair(mirror: Mirror, connection: str, drift: list[Drift], now: datetime) -> int:
    """Make the mirror hold what Moodle holds for the drifted people, so that the next
    run's plan sees the difference with the file and sends them again (a deleted
    account is forgotten and made anew); returns how many people."""
    entries = mirror.entries(connection, {d.employee_id for d in drift})
    gone = {d.employee_id for d in drift if d.kind == "missing"}
    learned: dict[str, Entry] = {}
    for d in drift:
        entry = learned.get(d.employee_id) or entries.get(d.employee_id)
        if entry is None or d.employee_id in gone:
            continue
        fields, active = dict(entry.fields), entry.active
        if d.kind == "field":
            fields[d.field] = d.found
        elif d.kind == "active":
            active = d.found == "true"
        learned[d.employee_id] = Entry(entry.employee_id, entry.lms_id, UNSETTLED, active,
                                       fields)
    mirror.adopt(connection, list(learned.values()), now)
    mirror.forget(connection, gone)
    return len(learned) + len(gone)
