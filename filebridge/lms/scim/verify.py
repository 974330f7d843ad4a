"""Drift of a SCIM target: list the LMS page by page and compare it with the mirror:
people whose mapped fields differ, people deactivated or reactivated there, people
deleted there, and accounts whose key attribute (``externalId`` by default) holds an
employee id filebridge does not manage (the shapes and the repair are
``filebridge.lms.mirror_drift``'s, shared by every external target)."""

from __future__ import annotations

from dataclasses import replace

from filebridge.lms.mirror import UNSETTLED, Entry, Mirror
from filebridge.lms.mirror_drift import Changed, Drift
from filebridge.lms.scim.features import Features
from filebridge.lms.scim.listing import list_users
from filebridge.lms.scim.resource import MANAGER, ResourceMapping
from filebridge.lms.scim.session import ScimSession
from filebridge.person import KEY


def find_drift(session: ScimSession, features: Features, mirror: Mirror,
               mapping: ResourceMapping, connection: str, page_size: int,
               others: dict[str, Entry]) -> Drift:
    """List the LMS and compare it with ``connection``'s mirror."""
    mine = mirror.entries(connection)
    by_scim = {e.lms_id: eid for eid, e in {**others, **mine}.items()}
    known_external = set(mine) | set(others)
    drift = Drift(connection)
    seen: set[str] = set()
    for user in list_users(session, features, page_size):
        drift.listed += 1
        eid = by_scim.get(str(user.get("id")))
        if eid is None or eid not in mine:
            external = mapping.key_of(user)
            if external and external not in known_external:
                drift.unmanaged.append(str(external))
            continue
        seen.add(eid)
        entry = mine[eid]
        held = mapping.record(user, by_scim)
        compared = [f for f in held if f in entry.fields and f != KEY]
        diff = {f: (entry.fields.get(f, ""), held[f]) for f in compared
                if entry.fields.get(f, "") != held[f]}
        active = bool(user.get("active", True))
        if diff:
            drift.changed.append(Changed(eid, diff))
        if active != entry.active:
            (drift.reactivated if active else drift.deactivated).append(eid)
        if diff or active != entry.active:
            drift.found[eid] = replace(entry, fingerprint=UNSETTLED, active=active,
                                       fields={**entry.fields, **{f: v for f, (_, v)
                                                                  in diff.items()}})
    drift.deleted = sorted(set(mine) - seen)
    _dangling(drift, mine)
    for name in ("deactivated", "reactivated", "unmanaged"):
        getattr(drift, name).sort()
    drift.changed.sort(key=lambda c: c.employee_id)
    return drift


def _dangling(drift: Drift, mine: dict[str, Entry]) -> None:
    """People whose manager was deleted in the LMS point at a resource that is gone: their
    manager changed too (once the manager is created again, the plan points them at it)."""
    gone = set(drift.deleted)
    changed = {c.employee_id: c for c in drift.changed}
    for eid, entry in mine.items():
        boss = entry.fields.get(MANAGER, "")
        if boss not in gone or eid in gone:
            continue
        if eid in changed:
            changed[eid].fields[MANAGER] = (boss, "")
        else:
            drift.changed.append(Changed(eid, {MANAGER: (boss, "")}))
        found = drift.found.get(eid, entry)
        drift.found[eid] = replace(found, fingerprint=UNSETTLED,
                                   fields={**found.fields, MANAGER: ""})
