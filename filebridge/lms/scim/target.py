"""A connection's SCIM target as typed values: where, with which token, how patiently,
and which SCIM attribute each canonical field goes to."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

# Canonical field -> SCIM attribute path (RFC 7644 section 3.10 notation; a multi-valued
# attribute names its element by type, as in ``emails[type eq "work"].value``).
DEFAULT_ATTRIBUTES: Mapping[str, str] = {
    "employee_id": f"{ENTERPRISE}:employeeNumber",
    "email": 'emails[type eq "work"].value',
    "first_name": "name.givenName",
    "last_name": "name.familyName",
    "title": "name.honorificPrefix",
    "job_title": "title",
    "phone": 'phoneNumbers[type eq "work"].value',
    "language": "preferredLanguage",
    "employee_type": "userType",
    "department": f"{ENTERPRISE}:department",
    "division": f"{ENTERPRISE}:division",
    "company": f"{ENTERPRISE}:organization",
    "city": 'addresses[type eq "work"].locality',
    "country": 'addresses[type eq "work"].country',
    "manager_id": f"{ENTERPRISE}:manager.value",
}


@dataclass(frozen=True)
class Timeouts:
    """Seconds to wait: to connect, for each answer, and for a whole apply."""

    connect: float = 10.0
    read: float = 60.0
    run: float = 3600.0


@dataclass(frozen=True)
class Retry:
    """How 429 and 5xx answers are retried: attempts per request and the longest wait."""

    attempts: int = 5
    backoff_seconds: float = 0.5
    max_wait_seconds: float = 30.0


@dataclass(frozen=True)
class ScimTarget:
    """One connection's SCIM service provider.

    ``token`` is a secret reference (``${env:NAME}`` or ``file:/path``), resolved when
    the session opens. ``attributes`` maps canonical fields (and ``custom.*``) onto SCIM
    attribute paths; ``user_name`` is the canonical field sent as ``userName``.
    """

    url: str
    token: str
    timeouts: Timeouts = field(default_factory=Timeouts)
    retry: Retry = field(default_factory=Retry)
    ca_bundle: Path | None = None
    user_name: str = "email"
    attributes: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_ATTRIBUTES))
    bulk: bool = True
    page_size: int = 500

    @property
    def location(self) -> str:
        """Where the target lives, safe to print (the token is never part of it)."""
        return self.url


def target_from_config(block: Mapping[str, Any]) -> ScimTarget:
    """A ``ScimTarget`` from a validated ``connections.<name>.lms`` block (its
    ``ca_bundle`` already absolute, as ``load_settings`` makes it)."""
    timeouts = block.get("timeouts") or {}
    retry = block.get("retry") or {}
    attributes = dict(DEFAULT_ATTRIBUTES)
    for name, path in (block.get("attributes") or {}).items():
        if path is None or path == "":
            attributes.pop(name, None)  # an explicit null stops a field from being sent
        else:
            attributes[name] = path
    ca = block.get("ca_bundle")
    return ScimTarget(
        url=str(block["url"]).rstrip("/"),
        token=str(block["token"]),
        timeouts=Timeouts(**{k: float(v) for k, v in timeouts.items()}),
        retry=Retry(**retry),
        ca_bundle=Path(ca) if ca else None,
        user_name=str(block.get("user_name", "email")),
        attributes=attributes,
        bulk=bool(block.get("bulk", True)),
        page_size=int(block.get("page_size", 500)),
    )
