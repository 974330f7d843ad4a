"""JSON Schema validation of configuration documents, in words people can act on.

Every error is collected (``iter_errors``), placed on the line of the deepest
key that exists, and re-worded for the common cases: jsonschema's default
messages print whole objects, which is unreadable and could leak a secret.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator, Sequence
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any, Literal

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from filebridge.config.errors import ConfigProblem
from filebridge.config.loader import Document, KeyPath, format_key_path

Kind = Literal["settings", "mapping", "export-mapping", "schedule"]

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"

SECRET_WORDS = ("password", "passphrase", "private_key", "token", "secret")

_TYPE_WORDS = {
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "nothing",
}
_BOUND_WORDS = {
    "minimum": "at least",
    "exclusiveMinimum": "more than",
    "maximum": "at most",
    "exclusiveMaximum": "less than",
}


def _type_word(json_type: object) -> str:
    return _TYPE_WORDS.get(str(json_type), str(json_type))


def is_secret_key(key: object) -> bool:
    """True for keys whose values are secrets (``password``, ``sftp_token``, ...)."""
    if not isinstance(key, str):
        return False
    return any(key == word or key.endswith("_" + word) for word in SECRET_WORDS)


def load_schemas() -> dict[str, dict[str, Any]]:
    """Every ``*.schema.json`` shipped in ``filebridge/schemas``, by file name."""
    return {p.name: json.loads(p.read_text("utf-8")) for p in sorted(SCHEMA_DIR.glob("*.json"))}


@cache
def _registry() -> Registry:
    # Registered by file name (what "$ref": "transport.schema.json" resolves to)
    # and by $id, in case a schema declares an absolute one.
    pairs = []
    for name, contents in load_schemas().items():
        resource = DRAFT202012.create_resource(contents)
        pairs.append((name, resource))
        if isinstance(contents.get("$id"), str) and contents["$id"] != name:
            pairs.append((contents["$id"], resource))
    return Registry().with_resources(pairs)


@cache
def validator_for(kind: Kind) -> Draft202012Validator:
    """A validator for one kind of document, able to follow ``$ref`` between files."""
    schema = load_schemas()[f"{kind}.schema.json"]
    return Draft202012Validator(schema, registry=_registry())


def schema_problems(doc: Document, kind: Kind) -> list[ConfigProblem]:
    """All schema violations of ``doc``, sorted by line."""
    problems: list[ConfigProblem] = []
    validator = validator_for(kind)
    top_keys = tuple(validator.schema.get("properties", {}))
    for error in validator.iter_errors(doc.data):
        for key_path, line_path, message in _explain(error, top_keys):
            line = doc.line_of(line_path)
            problems.append(ConfigProblem(doc.name, line, format_key_path(key_path), message))
    return sort_problems(problems)


def sort_problems(problems: Sequence[ConfigProblem]) -> list[ConfigProblem]:
    """Problems by line (file-level ones first), without exact repeats."""
    unique = list(dict.fromkeys(problems))
    return sorted(unique, key=lambda p: (p.line or 0, p.key, p.message))


def did_you_mean(word: str, candidates: Sequence[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest candidate, or an empty string."""
    lowered = {c.lower(): c for c in candidates}
    match = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return f" (did you mean {lowered[match[0]]!r}?)" if match else ""


def describe(value: Any) -> str:
    """A short description of a YAML value for messages: ``the number 3``."""
    if value is None:
        return "nothing (an empty value)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"  # dates: YAML reads 2026-01-31 as a date


Explained = tuple[KeyPath, KeyPath, str]  # key path shown, key path for the line, message


def _explain(error: ValidationError, top_keys: tuple[str, ...]) -> Iterator[Explained]:
    """One or more human problems for one jsonschema error."""
    path: KeyPath = tuple(error.absolute_path)
    secret = any(is_secret_key(part) for part in path)
    keyword = error.validator
    if keyword == "additionalProperties" and isinstance(error.instance, dict):
        yield from _unknown_keys(error, path, top_keys)
    elif keyword == "required":
        missing = _missing_key(error)
        yield path, path, f"missing required key {missing!r}"
    elif keyword in ("anyOf", "oneOf"):
        yield from _alternatives(error, path, top_keys)
    elif keyword == "not":
        yield from _forbidden(error, path)
    elif secret and (keyword == "pattern" or keyword == "type" and error.instance is not None):
        return  # the semantic secret check says it better, without echoing the value
    else:
        yield path, path, _message(error, secret)


def _unknown_keys(
    error: ValidationError, path: KeyPath, top_keys: tuple[str, ...]
) -> Iterator[Explained]:
    schema = error.schema if isinstance(error.schema, dict) else {}
    known = list(schema.get("properties", {}))
    patterns = list(schema.get("patternProperties", {}))
    for key in error.instance:
        if key in known or any(re.search(p, key) for p in patterns):
            continue
        hint = did_you_mean(key, known)
        if not hint and path and key in top_keys:
            hint = " (a top-level key: check the indentation)"
        elif not hint and any(re.search(p, f"custom.{key}") for p in patterns):
            hint = f" (extra attributes are written 'custom.{key}')"
        yield path, path + (key,), f"unknown key {key!r}{hint}"


def _missing_key(error: ValidationError) -> str:
    wanted = error.validator_value if isinstance(error.validator_value, list) else []
    instance = error.instance if isinstance(error.instance, dict) else {}
    # jsonschema yields one error per missing key but only names it in the message.
    missing = [k for k in wanted if k not in instance]
    named = [k for k in missing if error.message == f"{k!r} is a required property"]
    return (named or missing or ["?"])[0]


def _alternatives(
    error: ValidationError, path: KeyPath, top_keys: tuple[str, ...]
) -> Iterator[Explained]:
    """anyOf/oneOf: explain the branch the value was evidently meant for."""
    branches: dict[Any, list[ValidationError]] = {}
    for sub in error.context or []:
        branches.setdefault(sub.schema_path[0] if sub.schema_path else 0, []).append(sub)
    options = error.validator_value if isinstance(error.validator_value, list) else []
    if all(set(o) == {"required"} for o in options if isinstance(o, dict)) and options:
        names = ", ".join(repr(k) for o in options for k in o["required"])
        verb = "give exactly one of" if error.validator == "oneOf" else "give one of"
        yield path, path, f"{verb} the keys {names}"
        return
    if not branches:  # oneOf matched more than one branch
        yield path, path, "matches more than one of the allowed forms; give exactly one"
        return
    # A branch whose top-level type check failed is not the one that was meant.
    fitting = [
        errs
        for errs in branches.values()
        if not any(e.validator == "type" and not e.relative_path for e in errs)
    ]
    if len(fitting) == 1:
        for sub in fitting[0]:
            yield from _explain(sub, top_keys)
        return
    types = []
    for errs in branches.values():
        for e in errs:
            if e.validator == "type" and not e.relative_path:
                value = e.validator_value
                types += value if isinstance(value, list) else [value]
    if types and not fitting:
        expected = " or ".join(dict.fromkeys(_type_word(t) for t in types))
        yield path, path, f"expected {expected}, got {describe(error.instance)}"
        return
    yield path, path, "is not in any of the allowed forms; see docs/configuration.md"


def _forbidden(error: ValidationError, path: KeyPath) -> Iterator[Explained]:
    """``not: {anyOf: [{required: [k]}, ...]}`` means: these keys are not allowed here."""
    negated = error.validator_value if isinstance(error.validator_value, dict) else {}
    options = negated.get("anyOf", [])
    present = [
        k
        for o in options
        if isinstance(o, dict)
        for k in o.get("required", [])
        if isinstance(error.instance, dict) and k in error.instance
    ]
    if not present:
        yield path, path, "this value is not allowed here"
    for key in present:
        yield path, path + (key,), f"key {key!r} is not allowed here"


def _message(error: ValidationError, secret: bool) -> str:
    """The message for a single-keyword error; never echoes a secret or a whole object."""
    value, keyword, expected = error.instance, error.validator, error.validator_value
    shown = "the value" if secret else describe(value)
    if keyword == "type":
        types = expected if isinstance(expected, list) else [expected]
        message = f"expected {' or '.join(_type_word(t) for t in types)}, got {shown}"
        if "string" in types and isinstance(value, bool | int | float | date) and not secret:
            message += " (put the value in quotes"
            if isinstance(value, bool):
                message += "; YAML reads yes/no/on/off/true/false as booleans"
            message += ")"
        return message
    if secret:
        return f"the value does not satisfy {keyword!r}"
    if keyword == "enum":
        hint = did_you_mean(value, [str(v) for v in expected]) if isinstance(value, str) else ""
        return f"{value!r} is not one of {expected!r}{hint}"
    if keyword == "const":
        return f"must be {expected!r}, got {value!r}"
    if keyword == "minLength" and expected == 1:
        return "must not be empty"
    if keyword == "maxLength":
        return f"must be at most {expected} character(s) long, got {value!r}"
    if keyword == "pattern":
        examples = error.schema.get("examples") if isinstance(error.schema, dict) else None
        if examples and isinstance(examples[0], str):
            return f"{value!r} does not have the expected form, e.g. {examples[0]!r}"
        return f"{value!r} does not have the expected form (pattern {expected!r})"
    if keyword in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        bound = _BOUND_WORDS[keyword]
        return f"must be {bound} {expected}, got {value!r}"
    if keyword == "minItems":
        return f"must list at least {expected} item(s)"
    if keyword == "uniqueItems":
        return "lists the same item more than once"
    if isinstance(value, dict | list):
        return f"does not satisfy {keyword!r} (see docs/configuration.md)"
    return error.message
