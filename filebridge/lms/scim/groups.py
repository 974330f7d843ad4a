"""SCIM Groups as the shared group road needs them (``GroupEndpoint``).

An owned group carries its ownership key as ``externalId`` and the group's name as
``displayName``. Members are added with a PATCH ``add`` of ``members`` and taken out
with a PATCH ``remove`` of ``members[value eq "…"]`` when the server supports PATCH;
otherwise the group is read and written back whole with PUT, ``If-Match`` its version
when the server supports ETags (read again and retried when someone changed it
meanwhile). A create whose answer was lost is looked up by its key before it is sent
again, so a group is never made twice.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import httpx2

from filebridge.lms.group_sync import Refusal
from filebridge.lms.scim.errors import ScimProtocolError, ScimUnavailable
from filebridge.lms.scim.features import GROUP_SCHEMA, Features
from filebridge.lms.scim.listing import list_users
from filebridge.lms.scim.resource import PATCH_OP
from filebridge.lms.scim.send import refusal_reason
from filebridge.lms.scim.session import ScimSession, Unanswered

_JSON = {"Content-Type": "application/scim+json"}
# Members per PATCH operation list: keeps one request well under common payload limits.
_CHUNK = 500
# Times a PUT is tried again after 412 (the group changed between the read and the PUT).
_PUT_ATTEMPTS = 3


def _refusal(response: httpx2.Response) -> Refusal:
    try:
        body: Any = response.json()
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    return Refusal(refusal_reason(response.status_code, body.get("scimType")),
                   str(body.get("detail") or f"HTTP {response.status_code}"))


class ScimGroups:
    """The Groups of one connection's SCIM service provider."""

    def __init__(self, session: ScimSession, features: Features, page_size: int) -> None:
        self.session = session
        self.features = features
        self.page_size = page_size

    def _fail(self, what: str) -> ScimProtocolError:
        return ScimProtocolError(self.session.connection, self.session.target.url, what)

    def find_group(self, key: str) -> str | None:
        """The id of the Group whose ``externalId`` is ``key`` (filtered when possible)."""
        flt = f"externalId eq {json.dumps(key, ensure_ascii=False)}" \
            if self.features.filter else None
        for group in list_users(self.session, self.features, self.page_size, flt, "Group"):
            if group.get("externalId") == key and group.get("id"):
                return str(group["id"])
        return None

    def create_group(self, name: str, key: str) -> str | Refusal:
        """POST a Group; a lost answer is looked up by ``key`` before one more try."""
        body = {"schemas": [GROUP_SCHEMA], "displayName": name, "externalId": key}
        for attempt in (1, 2):
            try:
                response = self.session.request("POST", "Groups", json=body, headers=_JSON)
            except Unanswered as exc:
                if (found := self.find_group(key)) is not None:
                    return found
                if attempt == 2:
                    raise ScimUnavailable(self.session.connection, self.session.target.url,
                                          exc.reason) from exc
                continue
            if response.status_code >= 300:
                return _refusal(response)
            made = response.json()
            if not isinstance(made, dict) or not made.get("id"):
                raise self._fail("a created Group came back without an id")
            return str(made["id"])
        raise AssertionError("unreachable")  # pragma: no cover

    def _read(self, group_id: str) -> httpx2.Response:
        return self.session.request("GET", f"Groups/{group_id}")

    def member_ids(self, group_id: str) -> set[str] | None:
        """The ``members[].value`` of a Group; None when it is gone (404)."""
        response = self._read(group_id)
        if response.status_code == 404:
            return None
        if response.status_code >= 300:
            raise self._fail(f"reading Group {group_id} failed: HTTP {response.status_code}")
        return _values(response.json())

    def add_members(self, group_id: str, member_ids: Sequence[str]) -> Refusal | None:
        """Add members: PATCH ``add``, or PUT of the group with them."""
        if not self.features.patch:
            return self._put(group_id, lambda have: have | set(member_ids))
        ops = [{"op": "add", "path": "members",
                "value": [{"value": i} for i in member_ids[n:n + _CHUNK]]}
               for n in range(0, len(member_ids), _CHUNK)]
        return self._patch(group_id, ops)

    def remove_members(self, group_id: str, member_ids: Sequence[str]) -> Refusal | None:
        """Take members out: PATCH ``remove`` by value filter, or PUT without them."""
        if not self.features.patch:
            return self._put(group_id, lambda have: have - set(member_ids))
        ops = [{"op": "remove", "path": f"members[value eq {json.dumps(i)}]"}
               for i in member_ids]
        return self._patch(group_id, ops)

    def _patch(self, group_id: str, ops: list[dict[str, Any]]) -> Refusal | None:
        for n in range(0, len(ops), _CHUNK):
            response = self.session.request(
                "PATCH", f"Groups/{group_id}", headers=_JSON,
                json={"schemas": [PATCH_OP], "Operations": ops[n:n + _CHUNK]})
            if response.status_code >= 300:
                return _refusal(response)
        return None

    def _put(self, group_id: str, members: Any) -> Refusal | None:
        for _ in range(_PUT_ATTEMPTS):
            current = self._read(group_id)
            if current.status_code >= 300:
                return _refusal(current)
            group = current.json()
            body = {k: v for k, v in group.items() if k != "meta"}
            wanted = members(_values(group))
            body["members"] = [{"value": v} for v in sorted(wanted)]
            headers = dict(_JSON)
            version = (group.get("meta") or {}).get("version")
            if self.features.etag and version:
                headers["If-Match"] = version
            response = self.session.request("PUT", f"Groups/{group_id}", json=body,
                                            headers=headers)
            if response.status_code != 412:
                return _refusal(response) if response.status_code >= 300 else None
        return Refusal("precondition-failed", f"Group {group_id} kept changing while it "
                       f"was written ({_PUT_ATTEMPTS} tries)")


def _values(group: Any) -> set[str]:
    members = group.get("members") if isinstance(group, dict) else None
    return {str(m["value"]) for m in members or [] if isinstance(m, dict) and m.get("value")}
