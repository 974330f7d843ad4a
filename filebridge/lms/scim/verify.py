"""Drift: what changed in the LMS by hand since filebridge last wrote it.

The nightly plan reads the mirror, never the LMS. ``verify`` lists the LMS (page by page)
and compares it with the mirror: people whose mapped fields differ, people deactivated
or reactivated there, people deleted there, and accounts with an ``externalId``
filebridge does not manage. ``repair`` makes the mirror say what the LMS holds, so the
next plan corrects the LMS; ``live_entries`` gives the same view without writing it, for
``plan --verify``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from filebridge.lms.scim.features import Features
from filebridge.lms.scim.listing import list_users
from filebridge.lms.scim.mirror import UNSETTLED, Entry, Mirror
from filebridge.lms.scim.resource import MANAGER, ResourceMapping
from filebridge.lms.scim.session import ScimSession
from filebridge.person import KEY


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

    @property
    def clean(self) -> bool:
        """True when the LMS holds exactly what the mirror says."""
        return not (self.changed or self.deactivated or self.reactivated or self.deleted)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for ``verify --json``."""
        return {"connection": self.connection, "listed": self.listed, "clean": self.clean,
                "changed": [{"employee_id": c.employee_id,
                             "fields": {f: {"mirror": m, "lms": v}
                                        for f, (m, v) in c.fields.items()}}
                            for c in self.changed],
                "deactivated": self.deactivated, "reactivated": self.reactivated,
                "deleted": self.deleted, "unmanaged": self.unmanaged}


def find_drift(session: ScimSession, features: Features, mirror: Mirror,
               mapping: ResourceMapping, connection: str, page_size: int,
               others: dict[str, Entry]) -> Drift:
    """List the LMS and compare it with ``connection``'s mirror."""
    mine = mirror.entries(connection)
    by_scim = {e.scim_id: eid for eid, e in {**others, **mine}.items()}
    known_external = set(mine) | set(others)
    drift = Drift(connection)
    seen: set[str] = set()
    for user in list_users(session, features, page_size):
        drift.listed += 1
        eid = by_scim.get(str(user.get("id")))
        if eid is None or eid not in mine:
            external = user.get("externalId")
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


def repair(mirror: Mirror, drift: Drift, now: datetime) -> None:
    """Make the mirror hold what the LMS holds; the next plan then corrects the LMS."""
    mirror.adopt(drift.connection, list(drift.found.values()), now)
    mirror.forget(drift.connection, drift.deleted)


def live_entries(mirror: Mirror, drift: Drift) -> dict[str, Entry]:
    """The mirror with the drift applied, without writing it (``plan --verify``)."""
    entries = mirror.entries(drift.connection)
    entries.update(drift.found)
    for eid in drift.deleted:
        entries.pop(eid, None)
    return entries
