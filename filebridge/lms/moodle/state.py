"""``ActualState`` of a Moodle target, read from its mirror: the plan never lists Moodle.

Departments and institutions are plain text on a Moodle account, not records of their
own, so the org reads are empty (``Capabilities.org`` is false for this target).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import pandas as pd

from filebridge.lms.errors import InvalidFieldName
from filebridge.lms.moodle.mirror import Entry, Mirror
from filebridge.person import KEY, is_field_name
from filebridge.plan.org import StoredOrg
from filebridge.plan.state import HOLDER_COLUMNS, USAGE_COLUMNS


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
    """What the plan reads of one connection on a Moodle target."""

    def __init__(self, mirror: Mirror, connection: str) -> None:
        self.mirror = mirror
        self.connection = connection

    def snapshot(self) -> pd.DataFrame:
        """``employee_id``, ``fingerprint``, ``active`` of everyone this connection manages."""
        return self.mirror.snapshot(self.connection)

    def fetch(self, employee_ids: Sequence[str], fields: Sequence[str]) -> pd.DataFrame:
        """The mirrored ``fields`` of these people, indexed by ``employee_id``."""
        wanted = check_fields(fields)
        entries = self.mirror.entries(self.connection, employee_ids)
        rows = [[eid, *(entries[eid].fields.get(f, "") for f in wanted)]
                for eid in dict.fromkeys(str(i) for i in employee_ids) if eid in entries]
        return pd.DataFrame(rows, columns=[KEY, *wanted], dtype=object).set_index(KEY)

    def _everyone(self) -> list[tuple[str, Entry]]:
        return self.mirror.everyone()

    def existing_ids(self, employee_ids: Iterable[str]) -> set[str]:
        """Which ids are people of a Moodle target under any connection."""
        wanted = {str(i) for i in employee_ids}
        return {e.employee_id for _, e in self._everyone()} & wanted if wanted else set()

    def holders_of_emails(self, emails: Sequence[str]) -> pd.DataFrame:
        """Every mirrored account using one of ``emails`` (case-insensitively)."""
        wanted = {e.lower() for e in emails if e}
        rows = [(e.fields.get("email", ""), c, e.employee_id, e.active)
                for c, e in self._everyone()
                if e.fields.get("email", "").lower() in wanted]
        frame = pd.DataFrame(rows, columns=list(HOLDER_COLUMNS), dtype=object)
        frame["active"] = frame["active"].astype(bool)
        return frame

    def manager_ids_by_email(self, emails: Sequence[str]) -> dict[str, str]:
        """The employee id each email names when it names one person unambiguously."""
        wanted = {e.lower(): e for e in emails if e}
        best: dict[str, tuple[tuple[bool, bool], list[str]]] = {}
        for c, e in self._everyone():
            email = e.fields.get("email", "").lower()
            if email not in wanted:
                continue
            rank = (c == self.connection, e.active)
            held = best.get(email)
            if held is None or rank > held[0]:
                best[email] = (rank, [e.employee_id])
            elif rank == held[0]:
                held[1].append(e.employee_id)
        return {wanted[e]: ids[0] for e, (_, ids) in best.items() if len(ids) == 1}

    def inactive_since(self, cutoff: datetime) -> frozenset[str]:
        """This connection's people deactivated at or before ``cutoff``."""
        return self.mirror.deactivated_before(self.connection, cutoff)

    def org(self) -> StoredOrg:
        """No department or job title records on a Moodle target."""
        return StoredOrg(
            pd.DataFrame(columns=["code", "name", "parent_code", "managed_by"], dtype=object),
            pd.DataFrame(columns=["name", "managed_by"], dtype=object))

    def org_usage(self, fields: Sequence[str], codes: Sequence[str],
                  titles: Sequence[str]) -> pd.DataFrame:
        """Nobody uses org records that do not exist."""
        return pd.DataFrame(columns=list(USAGE_COLUMNS), dtype=object)
