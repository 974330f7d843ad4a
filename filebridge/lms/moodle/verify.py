"""Drift of a Moodle target: what was changed by hand in Moodle since filebridge last
confirmed it, in the shapes every external target reports (``filebridge.lms.mirror_drift``).

Every account the mirror knows is read back by its Moodle id, in pages under the site's
request limits, and compared with the mirror: gone (deleted in Moodle), suspended or
unsuspended, a mapped field or the idnumber changed. Nothing is written to Moodle. The
shared ``repair`` then makes the mirror hold what Moodle holds, so that the next run
sends those people again (a deleted account is forgotten and made anew). A changed
idnumber is reported, and put back by the next change of that person.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from filebridge.lms.mirror import UNSETTLED, Entry, Mirror
from filebridge.lms.mirror_drift import Changed, Drift
from filebridge.lms.moodle.client import MoodleClient
from filebridge.lms.moodle.target import MoodleTarget
from filebridge.lms.moodle.users import canonical_from
from filebridge.person import KEY


def find_drift(mirror: Mirror, client: MoodleClient, target: MoodleTarget,
               connection: str) -> Drift:
    """Every difference between ``connection``'s mirror and its Moodle accounts."""
    mine = mirror.entries(connection)
    by_lms = {e.lms_id: e for e in mine.values()}
    found = {str(u.get("id")): u for u in client.users_by_field("id", list(by_lms))}
    drift = Drift(connection, listed=len(found))
    for lms_id, entry in sorted(by_lms.items(), key=lambda kv: kv[1].employee_id):
        user = found.get(lms_id)
        if user is None:
            drift.deleted.append(entry.employee_id)
            continue
        _compare(drift, entry, user, target)
    for name in ("deactivated", "reactivated", "deleted"):
        getattr(drift, name).sort()
    return drift


def _compare(drift: Drift, entry: Entry, user: dict[str, Any], target: MoodleTarget) -> None:
    eid = entry.employee_id
    active = not bool(user.get("suspended", False))
    if active != entry.active:
        (drift.reactivated if active else drift.deactivated).append(eid)
    diff: dict[str, tuple[str, str]] = {}
    expected_id = eid if target.idnumber == KEY else entry.fields.get(target.idnumber, "")
    held = canonical_from(user, target)
    if held.get(target.idnumber, "") != expected_id:
        diff[target.idnumber] = (expected_id, held.get(target.idnumber, ""))
    for name, value in sorted(held.items()):
        if name == target.idnumber or name not in entry.fields:
            continue
        wanted = entry.fields.get(name, "")
        same = value.lower() == wanted.lower() if name == "email" else value == wanted
        if not same:
            diff[name] = (wanted, value)
    if diff:
        drift.changed.append(Changed(eid, diff))
    if diff or active != entry.active:
        learned = {f: v for f, (_, v) in diff.items() if f != KEY}
        drift.found[eid] = replace(entry, fingerprint=UNSETTLED, active=active,
                                   fields={**entry.fields, **learned})
