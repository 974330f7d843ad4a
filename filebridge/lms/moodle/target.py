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
class CompletionsSource:
    """Where a Moodle connection's course completions come from.

    ``file``: results loaded with ``filebridge lms load-completions``; ``rest``: Moodle's
    web services (course by course, person by person); ``database``: one read-only query
    on Moodle's own database at ``url`` (``password`` a secret reference), tables named
    with ``table_prefix``. ``course_code`` says which course field the export's course
    code is; ``courses`` limits the courses read (by that code); a completion Moodle
    aggregates late (its timecompleted is when the last criterion was met, which can be
    before the cron run that records it) is still found within ``lookback_hours``.
    """

    source: str = "file"
    url: str | None = None
    password: str | None = None
    table_prefix: str = "mdl_"
    course_code: str = "shortname"
    courses: tuple[str, ...] | None = None
    lookback_hours: float = 168.0
    timeout_seconds: float = 120.0


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
    completions: CompletionsSource = field(default_factory=CompletionsSource)

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
        completions=completions_from_config(block.get("completions") or {}),
    )


def completions_from_config(block: Mapping[str, Any]) -> CompletionsSource:
    """A ``CompletionsSource`` from a validated ``lms.completions`` block."""
    courses = block.get("courses")
    return CompletionsSource(
        source=str(block.get("source", "file")),
        url=block.get("url"),
        password=block.get("password"),
        table_prefix=str(block.get("table_prefix", "mdl_")),
        course_code=str(block.get("course_code", "shortname")),
        courses=None if courses is None else tuple(str(c) for c in courses),
        lookback_hours=float(block.get("lookback_hours", 168)),
        timeout_seconds=float(block.get("timeout_seconds", 120)),
    )
