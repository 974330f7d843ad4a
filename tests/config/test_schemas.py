"""The schemas themselves: valid, documented, with valid examples, in step with the code."""

from __future__ import annotations

import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from filebridge.config import Document, problems_in
from filebridge.config import settings as settings_module
from filebridge.config.validate import _registry, load_schemas
from filebridge.person import CANONICAL_FIELDS, CUSTOM_FIELD
from filebridge.plan import guard as guard_module
from filebridge.plan import policy as policy_module

SCHEMAS = load_schemas()


def properties(node: Any, pointer: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """(JSON pointer, schema) of every property anywhere in a schema."""
    if isinstance(node, dict):
        for keyword in ("properties", "patternProperties"):
            for key, sub in (node.get(keyword) or {}).items():
                yield f"{pointer}/{keyword}/{key.replace('~', '~0').replace('/', '~1')}", sub
        extra = node.get("additionalProperties")
        if isinstance(extra, dict) and "$ref" in extra:
            yield f"{pointer}/additionalProperties", extra
        for key, sub in node.items():
            yield from properties(sub, f"{pointer}/{key}")
    elif isinstance(node, list):
        for index, sub in enumerate(node):
            yield from properties(sub, f"{pointer}/{index}")


def all_properties() -> list[tuple[str, str, dict[str, Any]]]:
    return [(name, ptr, sub) for name, s in SCHEMAS.items() for ptr, sub in properties(s)]


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_schema_is_valid_draft_2020_12(name: str) -> None:
    Draft202012Validator.check_schema(SCHEMAS[name])


def test_every_property_has_description_and_examples() -> None:
    # Properties inside if/then/not are conditions on keys, not keys people write.
    lacking = [
        f"{name}#{ptr}"
        for name, ptr, sub in all_properties()
        if not any(f"/{k}/" in ptr for k in ("if", "then", "else", "not"))
        and not (sub.get("description") and sub.get("examples"))
    ]
    assert lacking == []


def test_every_example_is_valid() -> None:
    registry = _registry()
    wrong = []
    for name, ptr, sub in all_properties():
        validator = Draft202012Validator({"$ref": f"{name}#{ptr}"}, registry=registry)
        for example in sub.get("examples", []):
            if not validator.is_valid(example):
                wrong.append(f"{name}#{ptr}: {example!r}")
    assert wrong == []


def test_canonical_fields_match_the_mapping_module() -> None:
    fields = SCHEMAS["mapping.schema.json"]["properties"]["fields"]
    assert tuple(fields["properties"]) == CANONICAL_FIELDS
    assert list(fields["patternProperties"]) == [CUSTOM_FIELD.pattern]


def test_python_vocabularies_match_the_schemas() -> None:
    settings = SCHEMAS["settings.schema.json"]
    log = settings["properties"]["log"]["properties"]
    policies = settings["$defs"]["connection"]["properties"]["policies"]["properties"]
    assert list(typing.get_args(settings_module.LogFormat)) == log["format"]["enum"]
    assert list(typing.get_args(settings_module.LogLevel)) == log["level"]["enum"]
    assert list(typing.get_args(settings_module.Leavers)) == policies["leavers"]["enum"]
    assert list(typing.get_args(policy_module.Leavers)) == policies["leavers"]["enum"]
    assert list(typing.get_args(policy_module.RehireMatch)) == policies["rehire_match"]["enum"]
    assert list(typing.get_args(policy_module.Cleanup)) == policies["cleanup"]["enum"]
    limit = settings["$defs"]["limit"]["properties"]
    assert list(typing.get_args(guard_module.Reaction)) == limit["reaction"]["enum"]
    thresholds = settings["$defs"]["connection"]["properties"]["thresholds"]["properties"]
    assert set(guard_module.ACTIONS) <= set(thresholds)


def test_odd_documents_give_problems_not_crashes() -> None:
    scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=5)
    keys = st.sampled_from(
        [
            "fields",
            "format",
            "type",
            "email",
            "transform",
            "map",
            "default",
            "connections",
            "transport",
            "password",
            "tasks",
            "cron",
            "timezone",
            "template",
            "lms",
            "url",
            "x",
        ]
    )
    values = st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=4),
        max_leaves=12,
    )

    @settings(max_examples=150, deadline=None)
    @given(values, st.sampled_from(["settings", "mapping", "schedule"]))
    def run(data: Any, kind: Any) -> None:
        problems_in(Document(Path("/nonexistent/x.yaml"), "x.yaml", data, {}), kind)

    run()
