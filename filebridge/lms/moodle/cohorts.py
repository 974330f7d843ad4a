"""Moodle cohorts as the shared group road needs them (``GroupEndpoint``).

A group becomes a system cohort whose ``idnumber`` is the ownership key (connection and
group name) and whose name is the group's. A cohort without that idnumber (made by
hand, or by another connection) is never looked at twice: lookups match the idnumber
exactly. Members are the accounts' Moodle ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from filebridge.lms.group_sync import Refusal
from filebridge.lms.moodle.client import MoodleCallFailed, MoodleClient, reason_of

# The web-service functions the cohorts need (beside the users' own).
COHORT_FUNCTIONS = ("core_cohort_get_cohorts", "core_cohort_create_cohorts",
                    "core_cohort_get_cohort_members", "core_cohort_add_cohort_members",
                    "core_cohort_delete_cohort_members")
# Moodle's add_cohort_members warning for a member the cohort already has.
_ALREADY_MEMBER = "3"
# Members per add or delete call: each costs a handful of request variables.
_CHUNK = 200


def _refusal(exc: MoodleCallFailed) -> Refusal:
    return Refusal(reason_of(exc.errorcode), exc.detail)


class MoodleCohorts:
    """The cohorts of one connection's Moodle site."""

    def __init__(self, client: MoodleClient) -> None:
        self.client = client

    def find_group(self, key: str) -> str | None:
        """The id of the cohort whose idnumber is ``key``."""
        cohorts = self.client.call("core_cohort_get_cohorts", {"cohortids": []})
        for cohort in cohorts or []:
            if isinstance(cohort, dict) and cohort.get("idnumber") == key:
                return str(cohort["id"])
        return None

    def create_group(self, name: str, key: str) -> str | Refusal:
        """Create a system cohort named ``name`` with idnumber ``key``."""
        try:
            made = self.client.call("core_cohort_create_cohorts", {"cohorts": [{
                "categorytype": {"type": "system", "value": ""}, "name": name,
                "idnumber": key, "visible": True}]})
        except MoodleCallFailed as exc:
            return _refusal(exc)
        return str(made[0]["id"])

    def member_ids(self, group_id: str) -> set[str] | None:
        """Moodle ids of the cohort's members; None when the cohort is gone."""
        try:
            answer = self.client.call("core_cohort_get_cohort_members",
                                      {"cohortids": [int(group_id)]})
        except MoodleCallFailed as exc:
            if exc.errorcode == "invalidrecord":
                return None
            raise
        for item in answer or []:
            if isinstance(item, dict) and str(item.get("cohortid")) == group_id:
                return {str(u) for u in item.get("userids") or []}
        return None

    def add_members(self, group_id: str, member_ids: Sequence[str]) -> Refusal | None:
        """Add accounts; a member the cohort already has is no refusal."""
        for n in range(0, len(member_ids), _CHUNK):
            members = [{"cohorttype": {"type": "id", "value": group_id},
                        "usertype": {"type": "id", "value": i}}
                       for i in member_ids[n:n + _CHUNK]]
            try:
                answer: Any = self.client.call("core_cohort_add_cohort_members",
                                               {"members": members})
            except MoodleCallFailed as exc:
                return _refusal(exc)
            warnings = [w for w in (answer or {}).get("warnings") or []
                        if str(w.get("warningcode")) != _ALREADY_MEMBER]
            if warnings:
                return Refusal("refused", "; ".join(str(w.get("message")) for w in warnings))
        return None

    def remove_members(self, group_id: str, member_ids: Sequence[str]) -> Refusal | None:
        """Take accounts out of the cohort."""
        for n in range(0, len(member_ids), _CHUNK):
            members = [{"cohortid": int(group_id), "userid": int(i)}
                       for i in member_ids[n:n + _CHUNK]]
            try:
                self.client.call("core_cohort_delete_cohort_members", {"members": members})
            except MoodleCallFailed as exc:
                return _refusal(exc)
        return None
