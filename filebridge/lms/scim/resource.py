"""Canonical person records ⇄ SCIM User resources (core schema, enterprise extension and
custom schemas by URN), and the PATCH operations that turn one into the other.

A field maps to an attribute path in RFC 7644 section 3.10 notation: ``title``,
``name.givenName``, ``urn:…:enterprise:2.0:User:department``, or an element of a
multi-valued attribute chosen by type, ``emails[type eq "work"].value``. Fields sharing
one top-level attribute (``name``, ``addresses``…) are always written together, from
the whole record, so a change of one never drops another.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from filebridge.lms.scim.target import ENTERPRISE, KeyAttribute
from filebridge.person import KEY

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
MANAGER = "manager_id"
EMPLOYEE_NUMBER = f"{ENTERPRISE}:employeeNumber"
_ELEMENT = re.compile(r'^(?P<attr>\w+)\[type eq "(?P<type>[^"]+)"\]\.(?P<sub>\w+)$')


@dataclass(frozen=True)
class AttributePath:
    """One parsed attribute path: schema URN (None: core), attribute, element type, sub."""

    urn: str | None
    attr: str
    type: str | None
    sub: str | None

    @property
    def top(self) -> tuple[str | None, str]:
        """The top-level attribute this path writes into."""
        return self.urn, self.attr


def parse_path(path: str) -> AttributePath:
    """Parse ``path``; ``ValueError`` when it is not in the supported notation."""
    urn: str | None = None
    rest = path
    if path.startswith("urn:"):
        urn, _, rest = path.rpartition(":")
        if not urn or not rest:
            raise ValueError(f"{path!r}: a schema URN must be followed by :attribute")
    if match := _ELEMENT.match(rest):
        return AttributePath(urn, match["attr"], match["type"], match["sub"])
    attr, _, sub = rest.partition(".")
    if not re.fullmatch(r"\w+", attr) or (sub and not re.fullmatch(r"\w+", sub)):
        raise ValueError(f"{path!r} is not an attribute path such as name.givenName")
    return AttributePath(urn, attr, None, sub or None)


def _top_path(top: tuple[str | None, str]) -> str:
    urn, attr = top
    return f"{urn}:{attr}" if urn else attr


class ResourceMapping:
    """Canonical fields ⇄ one SCIM User, for a target's ``attributes``, ``user_name`` and
    ``key`` (the attribute holding the employee id)."""

    def __init__(self, attributes: Mapping[str, str], user_name: str,
                 key: KeyAttribute = "externalId") -> None:
        if key == "employeeNumber":
            attributes = {**attributes, KEY: EMPLOYEE_NUMBER}
        self.paths = {f: parse_path(p) for f, p in attributes.items()}
        self.key = key
        self.user_name = KEY if key == "userName" else user_name
        self._tops: dict[tuple[str | None, str], list[str]] = {}
        for name, path in self.paths.items():
            self._tops.setdefault(path.top, []).append(name)

    @property
    def key_path(self) -> str:
        """The key attribute's path, as a filter names it."""
        return EMPLOYEE_NUMBER if self.key == "employeeNumber" else self.key

    def key_of(self, resource: Mapping[str, Any]) -> str:
        """The employee id a resource holds in the key attribute ("" when none)."""
        holder: Any = resource.get(ENTERPRISE) if self.key == "employeeNumber" else resource
        value = holder.get(self.key) if isinstance(holder, Mapping) else None
        return "" if value is None else str(value)

    def key_filter(self, employee_ids: Iterable[str]) -> str:
        """A filter matching the resources keyed by any of ``employee_ids``."""
        # A SCIM filter's string literal is a JSON string.
        return " or ".join(f"{self.key_path} eq {json.dumps(e, ensure_ascii=False)}"
                           for e in employee_ids)

    def urns(self) -> set[str]:
        """Every extension schema URN some field writes into."""
        return {p.urn for p in self.paths.values() if p.urn}

    def _value(self, top: tuple[str | None, str], record: Mapping[str, str],
               manager: str | None) -> Any:
        """The whole value of one top-level attribute for ``record`` (None: absent)."""
        simple: str | None = None
        complex_: dict[str, str] = {}
        elements: dict[str, dict[str, str]] = {}
        for name in self._tops[top]:
            value = manager if name == MANAGER else record.get(name, "")
            if not value:
                continue
            path = self.paths[name]
            if path.type is not None:
                elements.setdefault(path.type, {"type": path.type})[path.sub or "value"] = value
            elif path.sub is not None:
                complex_[path.sub] = value
            else:
                simple = value
        if elements:
            items = [dict(e) for e in elements.values()]
            items[0]["primary"] = True  # type: ignore[assignment]
            return items
        return complex_ or simple

    def resource(self, record: Mapping[str, str], active: bool, manager: str | None
                 ) -> dict[str, Any]:
        """The full User payload for ``record``; ``manager`` is the manager's SCIM id."""
        body: dict[str, Any] = {"schemas": [CORE]}
        if self.key == "externalId":
            body["externalId"] = record[KEY]
        body["userName"] = record.get(self.user_name) or record[KEY]
        body["active"] = active
        for top in self._tops:
            value = self._value(top, record, manager)
            if value is None:
                continue
            urn, attr = top
            if urn is None:
                body[attr] = value
            else:
                body.setdefault(urn, {})[attr] = value
                if urn not in body["schemas"]:
                    body["schemas"].append(urn)
        return body

    def touched(self, fields: Iterable[str]) -> set[tuple[str | None, str]]:
        """The top-level attributes a change of ``fields`` rewrites."""
        return {self.paths[f].top for f in fields if f in self.paths}

    def operations(self, record: Mapping[str, str], fields: Iterable[str],
                   manager: str | None) -> list[dict[str, Any]]:
        """PATCH operations that bring the resource to ``record`` for changed ``fields``."""
        fields = list(fields)
        ops: list[dict[str, Any]] = []
        if self.user_name in fields and record.get(self.user_name):
            ops.append({"op": "replace", "path": "userName", "value": record[self.user_name]})
        if KEY in fields and self.key == "externalId":
            ops.append({"op": "replace", "path": "externalId", "value": record[KEY]})
        for top in sorted(self.touched(fields), key=lambda t: (t[0] or "", t[1])):
            value = self._value(top, record, manager)
            if value is None:
                ops.append({"op": "remove", "path": _top_path(top)})
            elif isinstance(value, dict):
                # A replace of a complex attribute keeps the sub-attributes it leaves out
                # (RFC 7644 section 3.5.2.3): a blanked one is removed by its own path.
                for name in (f for f in fields if f in self._tops[top]):
                    sub = f"{_top_path(top)}.{self.paths[name].sub}"
                    if self.paths[name].sub in value:
                        ops.append({"op": "replace", "path": sub,
                                    "value": value[self.paths[name].sub]})
                    else:
                        ops.append({"op": "remove", "path": sub})
            else:
                ops.append({"op": "replace", "path": _top_path(top), "value": value})
        return ops

    def replaced(self, current: Mapping[str, Any], record: Mapping[str, str], active: bool,
                 manager: str | None) -> dict[str, Any]:
        """``current`` (a resource as read) with every mapped attribute set from ``record``,
        for a PUT: attributes filebridge does not map are kept as they are."""
        body = {k: v for k, v in current.items() if k != "meta"}
        fresh = self.resource(record, active, manager)
        for top in self._tops:
            urn, attr = top
            holder = body.setdefault(urn, {}) if urn else body
            if urn and urn in fresh and attr in fresh[urn]:
                holder[attr] = fresh[urn][attr]
            elif not urn and attr in fresh:
                holder[attr] = fresh[attr]
            else:
                holder.pop(attr, None)
        for name in ("externalId", "userName", "active"):
            if name in fresh:
                body[name] = fresh[name]
        body["schemas"] = sorted(set(body.get("schemas", [])) | set(fresh["schemas"]),
                                 key=lambda s: s != CORE)
        for urn in self.urns():
            if urn in body and not body[urn]:
                del body[urn]
        return body

    def raw(self, resource: Mapping[str, Any], name: str) -> str:
        """The text a resource holds for the canonical field ``name`` as the server stored
        it ("" when absent or unmapped): for the manager, the reference itself."""
        path = self.paths.get(name)
        if path is None:
            return ""
        holder: Any = resource.get(path.urn, {}) if path.urn else resource
        value: Any = holder.get(path.attr) if isinstance(holder, Mapping) else None
        if path.type is not None:
            value = next((e for e in value or [] if isinstance(e, Mapping)
                          and e.get("type") == path.type), {})
        if path.sub is not None:
            value = value.get(path.sub) if isinstance(value, Mapping) else None
        return "" if value is None else str(value)

    def record(self, resource: Mapping[str, Any], managers: Mapping[str, str]
               ) -> dict[str, str]:
        """The canonical fields a resource holds (``managers``: SCIM id → employee id)."""
        out: dict[str, str] = {}
        for name in self.paths:
            text = self.raw(resource, name)
            out[name] = managers.get(text, "") if name == MANAGER and text else text
        if self.user_name not in self.paths:
            out[self.user_name] = str(resource.get("userName") or "")
        out[KEY] = self.key_of(resource)
        return out
