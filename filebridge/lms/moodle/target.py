"""A connection's Moodle target as typed values: where, with which token, how patiently,
and which Moodle user field each canonical field goes to."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Moodle user field -> canonical field (the standard fields ``core_user_create_users``
# takes; ``username``, ``idnumber`` and ``auth`` are set apart).
DEFAULT_FIELDS: Mapping[str, str] = {
    "firstname": "first_name",
    "lastname": "last_name",
    "email": "email",
    "department": "department",
    "institution": "company",
    "city": "city",
    "country": "country",
    "phone1": "phone",
}


@dataclass(frozen=True)
class Timeouts:
    """Seconds to wait: to connect, and for each answer."""

    connect: float = 10.0
    read: float = 120.0


@dataclass(frozen=True)
class MoodleTarget:
    """One connection's Moodle site.

    ``token`` is a secret reference (``${env:NAME}`` or ``file:/path``), resolved when the
    first call is made. ``idnumber`` and ``username`` name the canonical fields whose
    values become Moodle's ``idnumber`` (the key filebridge looks people up by) and
    ``username`` (lower-cased); ``auth`` is the authentication plugin of new accounts,
    or, with ``auth_field``, the field holding each person's plugin. ``fields`` maps
    Moodle user fields onto canonical fields, ``profile_fields`` custom profile field
    shortnames onto canonical fields; ``name_placeholder`` stands in for a blank first
    or last name, which Moodle refuses.
    """

    url: str
    token: str
    idnumber: str = "employee_id"
    username: str = "email"
    auth: str = "manual"
    auth_field: str | None = None
    fields: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_FIELDS))
    profile_fields: Mapping[str, str] = field(default_factory=dict)
    name_placeholder: str = ""
    max_input_vars: int | None = None  # None: found from the site
    timeouts: Timeouts = field(default_factory=Timeouts)

    @property
    def location(self) -> str:
        """Where the target lives, safe to print (the token is never part of it)."""
        return self.url

    @property
    def endpoint(self) -> str:
        """The REST server script of the site."""
        return f"{self.url}/webservice/rest/server.php"


def target_from_config(block: Mapping[str, Any]) -> MoodleTarget:
    """A ``MoodleTarget`` from a validated ``connections.<name>.lms`` block."""
    fields = dict(DEFAULT_FIELDS)
    for name, canonical in (block.get("fields") or {}).items():
        if canonical is None or canonical == "":
            fields.pop(name, None)  # an explicit null stops a field from being sent
        else:
            fields[name] = str(canonical)
    timeouts = block.get("timeouts") or {}
    return MoodleTarget(
        url=str(block["url"]).rstrip("/"),
        token=str(block["token"]),
        idnumber=str(block.get("idnumber", "employee_id")),
        username=str(block.get("username", "email")),
        auth=str(block.get("auth", "manual")),
        auth_field=block.get("auth_field"),
        fields=fields,
        profile_fields={str(k): str(v) for k, v in (block.get("profile_fields") or {}).items()},
        name_placeholder=str(block.get("name_placeholder", "")),
        max_input_vars=(int(block["max_input_vars"]) if block.get("max_input_vars")
                        else None),
        timeouts=Timeouts(**{k: float(v) for k, v in timeouts.items()}),
    )
