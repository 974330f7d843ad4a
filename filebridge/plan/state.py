"""What the plan reads of the LMS: one small protocol, bound to one connection.

The plan is a pure function of (mapped records, actual state, policy). Every fact it
needs about the LMS comes through ``ActualState``; the built-in SQL store, an external
LMS's mirror and the in-memory store used by tests each implement it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Protocol

import pandas as pd

from filebridge.plan.org import StoredOrg

# Columns of ``ActualState.snapshot()``.
SNAPSHOT_COLUMNS = ("employee_id", "fingerprint", "active")
# Columns of ``ActualState.holders_of_emails()``.
HOLDER_COLUMNS = ("email", "managed_by", "employee_id", "active")
# Columns of ``ActualState.drift()``.
DRIFT_MARK_COLUMNS = ("employee_id", "field", "written")
# Columns of ``ActualState.org_usage()``.
USAGE_COLUMNS = ("kind", "value", "managed_by", "employee_id")
# Columns of ``ActualState.memberships()``.
MEMBERSHIP_COLUMNS = ("group", "employee_id", "ours")
# Columns of ``ActualState.group_drift()``.
GROUP_DRIFT_MARK_COLUMNS = ("employee_id", "group")


class ActualState(Protocol):
    """The LMS as one connection sees it, read fast and only as far as the plan needs."""

    connection: str

    def snapshot(self, group_fingerprints: bool = False) -> pd.DataFrame:
        """``employee_id`` (str), ``fingerprint`` (int64), ``active`` (bool) of everyone
        this connection manages: the whole fast path of the diff.

        ``group_fingerprints``: add the group fingerprint stored for each person
        (``group_fingerprint``, int64; 0 or missing: always compared), read in the same
        pass. A target that keeps none leaves the column out: every person's
        memberships are then read."""
        ...

    def fetch(self, employee_ids: Sequence[str], fields: Sequence[str]) -> pd.DataFrame:
        """The stored ``fields`` of these people (the few whose fingerprint differs),
        indexed by ``employee_id``; "" is blank."""
        ...

    def drift(self) -> pd.DataFrame:
        """Fields of this connection's people changed in the LMS outside filebridge since
        it wrote them, with the value it had written (see ``DRIFT_MARK_COLUMNS``); empty
        where the target has no way to notice (an external LMS's drift is ``verify``'s)."""
        ...

    def existing_ids(self, employee_ids: Iterable[str]) -> set[str]:
        """Which of ``employee_ids`` exist in the LMS under any connection or none
        (a manager named by id may be someone another connection manages)."""
        ...

    def holders_of_emails(self, emails: Sequence[str]) -> pd.DataFrame:
        """Every account using one of ``emails`` (see ``HOLDER_COLUMNS``)."""
        ...

    def manager_ids_by_email(self, emails: Sequence[str]) -> dict[str, str]:
        """The employee id each work email names when it names one person unambiguously
        (this connection's people first, active before deactivated)."""
        ...

    def inactive_since(self, cutoff: datetime) -> frozenset[str]:
        """This connection's people deactivated before ``cutoff`` (and still inactive)."""
        ...

    def org(self) -> StoredOrg:
        """Every department and job title with the connection that created it."""
        ...

    def org_usage(self, fields: Sequence[str], codes: Sequence[str],
                  titles: Sequence[str]) -> pd.DataFrame:
        """Active people using these department codes or job titles (``USAGE_COLUMNS``)."""
        ...

    def memberships(self, people: Sequence[str] | None = None,
                    other_than: Collection[str] | None = None) -> pd.DataFrame:
        """Members of the groups this connection owns who are this connection's people
        (``MEMBERSHIP_COLUMNS``): ``ours`` is True where the connection made the
        membership, False where it was made outside filebridge.

        ``people`` narrows it to these employee ids, plus (when ``other_than`` is given)
        every member of an owned group whose name is not in ``other_than``."""
        ...

    def group_drift(self) -> pd.DataFrame:
        """Memberships of this connection's groups removed in the LMS outside filebridge
        since its last apply (``GROUP_DRIFT_MARK_COLUMNS``); empty where not noticed."""
        ...
