"""Checks JSON Schema cannot express, for mappings and settings.

They run after the schema on possibly invalid data, so every access checks the
type first: we want every problem of a file in one pass, not a crash on the first.
Problems look exactly like schema problems (file:line: key: message).
"""

from __future__ import annotations

import codecs
import re
import string
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from filebridge.config.errors import ConfigProblem
from filebridge.config.group_rules import group_rule_problems
from filebridge.config.loader import Document, KeyPath
from filebridge.config.secrets import FILE_REFERENCE, is_reference
from filebridge.config.validate import did_you_mean, is_secret_key, load_schemas
from filebridge.person import KEY, STATUSES, is_field_name
from filebridge.xml_path import predicate_error, prefixes_of, split_steps

SOURCES = ("column", "path", "template", "value")
FIELD_KEYS = frozenset(load_schemas()["mapping.schema.json"]["$defs"]["field"]["properties"])
CONNECTION_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
# Day and month both > 12 and distinct, so a format that swaps or drops them fails.
_SAMPLE_DATE = datetime(2026, 1, 31)
_NO_EMAIL = ("email is missing: filebridge finds returning people and address clashes in "
             "the LMS by work e-mail, so every import mapping needs it; map the file's e-mail "
             "column, e.g. email: {column: Work Email}")
_SECRET_HINT = "secrets never in YAML: write ${env:NAME} or file:/path instead"


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def mapping_problems(doc: Document) -> list[ConfigProblem]:
    """Sources, templates, regexes, dates and value maps of a mapping document."""
    data = _dict(doc.data)
    fmt = _dict(data.get("format"))
    fields = _dict(data.get("fields"))
    namespaces = _dict(fmt.get("namespaces"))
    problems: list[ConfigProblem] = []
    if isinstance(data.get("fields"), dict) and "email" not in fields:
        problems.append(doc.problem(("fields",), _NO_EMAIL))
    encoding = fmt.get("encoding")
    if isinstance(encoding, str) and encoding:
        try:
            codecs.lookup(encoding)
        except LookupError:
            problems.append(doc.problem(("format", "encoding"), f"unknown encoding {encoding!r}; "
                                        "write a Python codec name such as utf-8, cp1252, "
                                        "latin-1 or utf-16"))
    terminator = fmt.get("record_terminator")
    if isinstance(terminator, str) and str(fmt.get("delimiter", ",")) in terminator:
        problems.append(doc.problem(("format", "record_terminator"),
                                    "must not contain the delimiter"))
    if fmt.get("type") == "xml" and isinstance(fmt.get("record_path"), str):
        problems += _prefix_problems(doc, ("format", "record_path"), fmt["record_path"], namespaces)
    for name, spec in fields.items():
        # Unknown names and keys are already reported by the schema; checking their
        # sources too would only repeat the same mistake in other words.
        if isinstance(spec, dict) and is_field_name(name) and set(spec) <= FIELD_KEYS:
            at: KeyPath = ("fields", name)
            problems += _source_problems(doc, at, spec, fmt.get("type"), namespaces)
            problems += _template_problems(doc, at, spec, list(fields))
            problems += _transform_problems(doc, at, spec)
            problems += _date_problems(doc, at, spec)
            problems += _value_problems(doc, at, spec)
            problems += _owner_problems(doc, at, spec, name)
    return problems + group_rule_problems(doc, [str(n) for n in fields])


def _owner_problems(doc: Document, at: KeyPath, spec: dict[str, Any], name: str
                    ) -> list[ConfigProblem]:
    owner = spec.get("owner", "lms" if spec.get("lms_owned") is True else "hr")
    if spec.get("lms_owned") is True and owner == "hr":
        return [doc.problem((*at, "lms_owned"), "contradicts owner: hr; lms_owned is the old "
                            "spelling of owner: lms, so keep only owner")]
    if name == KEY and owner == "lms":
        return [doc.problem((*at, "owner"), "the employee id identifies the person in every "
                            "file, so HR owns it; remove owner: lms")]
    return []


def _source_problems(
    doc: Document, at: KeyPath, spec: dict[str, Any], kind: Any, namespaces: dict[str, Any]
) -> list[ConfigProblem]:
    given = [k for k in SOURCES if k in spec]
    if not given:
        return [doc.problem(at, "needs one of column, path, template or value")]
    if len(given) > 1:
        message = f"has both {given[0]} and {given[1]}; give exactly one of {', '.join(SOURCES)}"
        return [doc.problem(at + (given[1],), message)]
    source = given[0]
    if at[-1] == KEY and source in ("template", "value"):
        return [doc.problem(at + (source,), f"{KEY} must come from the file (column or path)")]
    if source == "column" and kind in ("xml", "json"):
        message = (f"column is for CSV and XLSX files; this mapping reads "
                   f"{str(kind).upper()}, use path")
        return [doc.problem(at + ("column",), message)]
    if source == "path" and kind in ("csv", "xlsx"):
        message = (f"path is for XML and JSON files; this mapping reads "
                   f"{str(kind).upper()}, use column")
        return [doc.problem(at + ("path",), message)]
    if source == "path" and isinstance(spec["path"], str) and kind == "xml":
        return _prefix_problems(doc, at + ("path",), spec["path"], namespaces)
    return []


def _prefix_problems(
    doc: Document, at: KeyPath, path: str, namespaces: dict[str, Any]
) -> list[ConfigProblem]:
    problems = [doc.problem(at, error) for step in split_steps(path)
                if (error := predicate_error(step))]
    return problems + [
        doc.problem(at, f"namespace prefix {prefix!r} is not declared in format.namespaces")
        for prefix in prefixes_of(path)
        if prefix not in namespaces
    ]


def _template_problems(
    doc: Document, at: KeyPath, spec: dict[str, Any], names: list[str]
) -> list[ConfigProblem]:
    template = spec.get("template")
    if not isinstance(template, str):
        return []
    here = at + ("template",)
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        return [doc.problem(here, f"not a valid template: {exc} (write {{{{ for a literal {{)")]
    problems = []
    for _, ref, spec_text, conversion in parts:
        if ref is None:
            continue
        if spec_text or conversion:
            problems.append(doc.problem(here, f"placeholders are plain {{name}}, not {{{ref}...}}"))
        elif ref == at[-1]:
            problems.append(doc.problem(here, f"template refers to its own field {{{ref}}}"))
        elif ref not in names:
            hint = did_you_mean(ref, names)
            message = f"template refers to {{{ref}}}, which is not a field of this mapping{hint}"
            problems.append(doc.problem(here, message))
    return problems


def _transform_problems(doc: Document, at: KeyPath, spec: dict[str, Any]) -> list[ConfigProblem]:
    steps = spec.get("transform")
    steps = steps if isinstance(steps, list) else []
    problems = []
    for index, step in enumerate(steps):
        replace = _dict(_dict(step).get("regex_replace"))
        pattern, replacement = replace.get("pattern"), replace.get("replacement")
        if not isinstance(pattern, str):
            continue
        here = at + ("transform", index, "regex_replace")
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            message = f"not a valid regular expression: {exc.msg} at position {exc.pos}"
            problems.append(doc.problem(here + ("pattern",), message))
            continue
        if isinstance(replacement, str):
            try:
                # sub() parses the replacement even when nothing matches.
                compiled.sub(replacement, "")
            except (re.error, IndexError) as exc:
                message = f"not a valid replacement for this pattern: {exc}"
                problems.append(doc.problem(here + ("replacement",), message))
    return problems


def _date_problems(doc: Document, at: KeyPath, spec: dict[str, Any]) -> list[ConfigProblem]:
    formats = spec.get("date_format")
    listed = formats if isinstance(formats, list) else [formats]
    problems = []
    for index, fmt in enumerate(listed):
        if not isinstance(fmt, str):
            continue
        here = at + ("date_format",) + ((index,) if isinstance(formats, list) else ())
        reason = date_format_problem(fmt)
        if reason:
            problems.append(doc.problem(here, reason))
    return problems


def date_format_problem(fmt: str) -> str | None:
    """Why ``fmt`` cannot read dates unambiguously, or None if it can."""
    if fmt == "excel":  # Excel serial day numbers
        return None
    if not re.search(r"%[A-Za-z]", fmt):
        return f"date_format {fmt!r} has no % directive; write e.g. '%d/%m/%Y'"
    written = _SAMPLE_DATE.strftime(fmt)
    try:
        read = datetime.strptime(written, fmt)
    except ValueError as exc:
        return f"date_format {fmt!r} cannot read the dates it describes: {exc}"
    if read.date() != _SAMPLE_DATE.date():
        return (
            f"date_format {fmt!r} does not pin down a whole date: 2026-01-31 is written "
            f"{written!r} and read back as {read.date().isoformat()}"
        )
    return None


def _value_problems(doc: Document, at: KeyPath, spec: dict[str, Any]) -> list[ConfigProblem]:
    value_map = spec.get("map") if isinstance(spec.get("map"), dict) else None
    allowed = spec.get("allowed") if isinstance(spec.get("allowed"), list) else None
    default, fallback = spec.get("default"), spec.get("map_default")
    problems = []
    if "map_default" in spec and value_map is None:
        problems.append(doc.problem(at + ("map_default",), "map_default only works with map"))
    if value_map is not None and isinstance(default, str) and default not in value_map:
        if fallback is None:
            message = f"default {default!r} is not a key of map, so blank cells would be rejected"
            problems.append(doc.problem(at + ("default",), message))
    results = list(value_map.items()) if value_map is not None else []
    if isinstance(fallback, str):
        results.append(("map_default", fallback))
    if at[-1] == "status":
        allowed = list(STATUSES) if allowed is None else allowed
        if isinstance(spec.get("value"), str):
            results.append(("value", spec["value"]))
    if allowed is not None:
        for key, result in results:
            where = at + (key,) if key in ("map_default", "value") else at + ("map", key)
            if result not in allowed:
                message = f"gives {result!r}, which is not one of {allowed!r}"
                problems.append(doc.problem(where, message))
    if spec.get("empty") == "clear" and ("default" in spec or spec.get("required") is True):
        why = "default fills every blank value" if "default" in spec else "required rejects it"
        problems.append(doc.problem(at + ("empty",), f"empty: clear never happens: {why}"))
    return problems


def settings_problems(doc: Document) -> list[ConfigProblem]:
    """Connection names, referenced files, database URLs and secrets of a settings file."""
    data = _dict(doc.data)
    base = doc.path.resolve().parent
    problems = _secret_problems(doc, (), data)
    for section in ("lms", "ledger"):
        url = _dict(data.get(section)).get("url")
        if isinstance(url, str):
            problems += _url_problems(doc, (section, "url"), url)
    for name, conn in _dict(data.get("connections")).items():
        at: KeyPath = ("connections", name)
        if not CONNECTION_NAME.match(name):
            message = (
                f"connection name {name!r} is not allowed: use lowercase letters, digits, "
                "'-' and '_', starting with a letter or digit (at most 63 characters)"
            )
            problems.append(doc.problem(at, message))
        if not isinstance(conn, dict):
            continue
        if "import_mapping" not in conn and "export_mapping" not in conn:
            problems.append(doc.problem(at, "needs import_mapping or export_mapping (or both)"))
        for key in ("import_mapping", "export_mapping", "schedule"):
            if isinstance(conn.get(key), str) and conn[key]:
                target = base / conn[key]
                if not target.is_file():
                    problems.append(doc.problem(at + (key,), f"file not found: {target}"))
        problems += _scim_key_problems(doc, at + ("lms",), _dict(conn.get("lms")))
    return problems


_EMPLOYEE_NUMBER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"


def _scim_key_problems(doc: Document, at: KeyPath, lms: dict[str, Any]) -> list[ConfigProblem]:
    """A SCIM key attribute the other keys of the block contradict."""
    key = lms.get("key")
    if key == "userName" and lms.get("user_name", KEY) != KEY:
        return [doc.problem(at + ("user_name",), "with key: userName the userName is the "
                            "employee id; remove user_name (or set it to employee_id)")]
    path = _dict(lms.get("attributes")).get(KEY, _EMPLOYEE_NUMBER)
    if key == "employeeNumber" and path not in (_EMPLOYEE_NUMBER, None):
        return [doc.problem(at + ("attributes", KEY), "with key: employeeNumber the employee "
                            f"id goes to {_EMPLOYEE_NUMBER}; remove this line")]
    return []


def _url_problems(doc: Document, at: KeyPath, url: str) -> list[ConfigProblem]:
    problems = []
    for _, ref, _, _ in _safe_parse(url):
        if ref is not None and ref != "state_dir":
            message = f"unknown placeholder {{{ref}}}; only {{state_dir}} is replaced"
            problems.append(doc.problem(at, message))
    try:
        has_password = urlsplit(url).password is not None
    except ValueError:
        has_password = False
    if has_password:
        section = at[0]
        message = f"the URL contains a password; {_SECRET_HINT} as {section}.password"
        problems.append(doc.problem(at, message))
    return problems


def _safe_parse(text: str) -> list[tuple[str, str | None, str | None, str | None]]:
    try:
        return list(string.Formatter().parse(text))
    except ValueError:
        return []


def _secret_problems(doc: Document, at: KeyPath, value: Any) -> list[ConfigProblem]:
    """Every secret-looking key anywhere in the document must hold a reference."""
    problems: list[ConfigProblem] = []
    items: list[tuple[str | int, Any]] = []
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        items = list(enumerate(value))
    for key, child in items:
        here = at + (key,)
        if is_secret_key(key) and child is not None:
            reason = _literal_secret(key, child)
            if reason:
                problems.append(doc.problem(here, reason))
        else:
            problems += _secret_problems(doc, here, child)
    return problems


def _literal_secret(key: Any, value: Any) -> str | None:
    """Why ``value`` under a secret-looking ``key`` is not acceptable; never quotes it."""
    if is_reference(value):
        return None
    if isinstance(value, str) and key == "private_key":
        # The SFTP transport takes a key *file* path here; only key material is a secret.
        if "-----BEGIN" not in value and "\n" not in value:
            return None
        return f"{_SECRET_HINT}; put the key in a file and give its path"
    if isinstance(value, str) and value.startswith("file:") and not FILE_REFERENCE.match(value):
        return "file: references need an absolute path, e.g. file:/run/secrets/name"
    if isinstance(value, str) and (match := re.match(r"^\$\{?([A-Za-z_]\w*)\}?$", value)):
        return f"{_SECRET_HINT} (did you mean '${{env:{match[1]}}}'?)"
    return _SECRET_HINT
