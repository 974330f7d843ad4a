"""``ActualState`` of an external target (SCIM, Moodle), read from its mirror: the plan
never lists the LMS.

Departments and job titles are plain attributes of an account there, not records of
their own, so the org reads are empty (``Capabilities.org`` is false for these targets).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime

import pandas as pd

from filebridge.lms.errors import InvalidFieldName
from filebridge.lms.group_mirror import GroupMirror
from filebridge.lms.mirror import Entry, Mirror
from filebridge.person import KEY, is_field_name
from filebridge.plan.org import StoredOrg
from filebridge.plan.state import (
    DRIFT_MARK_COLUMNS,
    HOLDER_COLUMNS,
    SNAPSHOT_COLUMNS,
    USAGE_COLUMNS,
)


def check_fields(fields: Iterable[str]) -> list[str]:
    """The non-key names of ``fields``; ``InvalidFieldName`` for any unknown one."""
    out = []
    for name in fields:
        if not is_field_name(name):
            raise InvalidFieldName(name)
        if name != KEY:
            out.append(name)
    return out


class MirrorState:
    """What the plan reads of one connection on an external target."""

    def __init__(self, mirror: Mirror, connection: str, siblings: Sequence[str] = (),
                 live: Mapping[str, Entry] | None = None) -> None:
        self.mirror = mirror
        self.connection = connection
        # Other connections feeding the same LMS: managers and e-mail clashes
        # are looked up across all of them.
        self.siblings = tuple(siblings)
        # The mirror with what a listing of the LMS found applied (``plan --verify``).
        self.live = live

    def snapshot(self, group_fingerprints: bool = False) -> pd.DataFrame:
        """``employee_id``, ``fingerprint``, ``active`` of everyone this connection manages; no
        ``group_fingerprint`` even when asked: none is kept, so every plan compares
        everyone's memberships."""
        if self.live is None:
            return self.mirror.snapshot(self.connection)
        frame = pd.DataFrame([(e.employee_id, e.fingerprint, e.active)
                              for e in self.live.values()], columns=list(SNAPSHOT_COLUMNS))
        return frame.astype({"employee_id": "str", "fingerprint": "int64", "active": "bool"})

    def drift(self) -> pd.DataFrame:
        """None here: an external LMS's drift is found by listing it (``verify``)."""
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in DRIFT_MARK_COLUMNS})

    def fetch(self, employee_ids: Sequence[str], fields: Sequence[str]) -> pd.DataFrame:
        """The mirrored ``fields`` of these people, indexed by ``employee_id``."""
        wanted = check_fields(fields)
        entries = self.mirror.entries(self.connection, employee_ids) if self.live is None \
            else self.live
        rows = [[eid, *(entries[eid].fields.get(f, "") for f in wanted)]
                for eid in dict.fromkeys(str(i) for i in employee_ids) if eid in entries]
        return pd.DataFrame(rows, columns=[KEY, *wanted], dtype=object).set_index(KEY)

    def _everyone(self) -> list[tuple[str, str, dict[str, str], bool]]:
        out = []
        for connection in (self.connection, *self.siblings):
            for eid, entry in self.mirror.entries(connection).items():
                out.append((connection, eid, entry.fields, entry.active))
        return out

    def existing_ids(self, employee_ids: Iterable[str]) -> set[str]:
        """Which ids are people of this LMS (under any connection feeding it)."""
        wanted = set(employee_ids)
        found: set[str] = set()
        for connection in (self.connection, *self.siblings):
            found |= set(self.mirror.entries(connection, wanted))
        return found

    def holders_of_emails(self, emails: Sequence[str]) -> pd.DataFrame:
        """Every mirrored account using one of ``emails`` (case-insensitively)."""
        wanted = {e.lower() for e in emails if e}
        rows = [(f["email"], c, eid, active) for c, eid, f, active in self._everyone()
                if f.get("email", "").lower() in wanted]
        return pd.DataFrame(rows, columns=list(HOLDER_COLUMNS))

    def manager_ids_by_email(self, emails: Sequence[str]) -> dict[str, str]:
        """The employee id each email names when it names one person unambiguously."""
        wanted = {e.lower(): e for e in emails if e}
        best: dict[str, tuple[tuple[bool, bool], list[str]]] = {}
        for c, eid, f, active in self._everyone():
            email = f.get("email", "").lower()
            if email not in wanted:
                continue
            rank = (c == self.connection, active)
            held = best.get(email)
            if held is None or rank > held[0]:
                best[email] = (rank, [eid])
            elif rank == held[0]:
                held[1].append(eid)
        return {wanted[e]: ids[0] for e, (_, ids) in best.items() if len(ids) == 1}

    def inactive_since(self, cutoff: datetime) -> frozenset[str]:
        """This connection's people deactivated before ``cutoff``."""
        return self.mirror.deactivated_before(self.connection, cutoff)

    def memberships(self, people: Sequence[str] | None = None,
                    other_than: Collection[str] | None = None) -> pd.DataFrame:
        """Members of the groups this connection created in the LMS, from the group
        mirror (``ours``: filebridge added them; else they were there by hand), narrowed
        as ``ActualState.memberships`` says."""
        frame = GroupMirror(self.mirror.engine).memberships(self.connection)
        if people is None:
            return frame
        keep = frame["employee_id"].astype(str).isin(set(people))
        if other_than is not None:
            keep |= ~frame["group"].isin(set(other_than))
        return frame[keep].reset_index(drop=True)

    def group_drift(self) -> pd.DataFrame:
        """None: an external target's drift is ``verify``'s."""
        return pd.DataFrame({"employee_id": pd.Series([], dtype=object),
                             "group": pd.Series([], dtype=object)})

    def org(self) -> StoredOrg:
        """No department or job title records on an external target."""
        return StoredOrg(
            departments=pd.DataFrame(columns=["code", "name", "parent_code", "managed_by"]),
            job_titles=pd.DataFrame(columns=["name", "managed_by"]))

    def org_usage(self, fields: Sequence[str], codes: Sequence[str],
                  titles: Sequence[str]) -> pd.DataFrame:
        """Nobody uses org records that do not exist."""
        return pd.DataFrame(columns=list(USAGE_COLUMNS))
