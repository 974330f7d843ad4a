"""Generate the configuration reference (docs/configuration.md) from the JSON Schemas.

Run ``python -m filebridge.config.reference > docs/configuration.md``. The schemas
are the single source of truth; ``tests/config/test_reference.py`` fails when the
committed reference no longer matches them, so the two cannot drift.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from typing import Any

import yaml

from filebridge.config.validate import load_schemas

# Documents in the order a newcomer meets them; unknown schemas follow by name.
_ORDER = ("settings", "transport", "mapping", "export-mapping", "schedule")
_FILES = {
    "settings": "settings.yaml",
    "transport": "the transport of each connection in settings.yaml",
    "mapping": "mappings/*.yaml",
    "export-mapping": "mappings/*.yaml with kind: export",
    "schedule": "schedules/*.yaml",
}
_TYPE_WORDS = {"object": "mapping", "array": "list", "integer": "whole number"}


@dataclass
class _Writer:
    """Walks one schema file and writes one section per mapping it describes."""

    root: dict[str, Any]
    prefix: str
    lines: list[str] = field(default_factory=list)
    done_defs: set[str] = field(default_factory=set)
    external: dict[str, str] = field(default_factory=dict)  # schema file -> key prefix

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        """A local ``$ref`` replaced by its target, with the referring annotations on top."""
        ref = schema.get("$ref", "")
        if not ref.startswith("#/$defs/"):
            return schema
        target = dict(self.root["$defs"][ref.removeprefix("#/$defs/")])
        target.update({k: v for k, v in schema.items() if k != "$ref"})
        target["x-def"] = ref
        return target

    def section(self, path: str, schema: dict[str, Any]) -> None:
        """Document the keys of the mapping at ``path``, then its nested mappings."""
        children: list[tuple[str, dict[str, Any]]] = []
        rows: list[str] = []
        required = set(schema.get("required", []))
        props = [(k, v) for k, v in schema.get("properties", {}).items()]
        props += [(v.get("title", p), v) for p, v in schema.get("patternProperties", {}).items()]
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and ("$ref" in extra or "description" in extra):
            props.append(("<name>", extra))
        for key, sub in props:
            full = f"{path}.{key}" if path else key
            rows.append(self.entry(full, sub, key in required))
            children += self.nested(full, sub)
        if rows:
            self.lines += [f"### `{path or '(top level)'}`", ""]
            if path and schema.get("description"):
                self.lines += [_text(schema["description"]), ""]
            self.lines += rows + [""]
        for child_path, child in children:
            self.section(child_path, child)

    def nested(self, path: str, sub: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        """Mappings below ``sub`` that deserve their own section (each $def only once)."""
        ref = sub.get("$ref", "")
        if ref and not ref.startswith("#"):
            self.external.setdefault(ref, path)
            return []
        target = sub
        if ref:
            if ref in self.done_defs:
                return []
            self.done_defs.add(ref)
            # A section about the definition itself, not about the first key using it.
            target = self.root["$defs"][ref.removeprefix("#/$defs/")]
            title = target.get("title", "")
            path = title if "<" in title else path
        found: list[tuple[str, dict[str, Any]]] = []
        if _has_keys(target):
            found.append((path, target))
        if isinstance(target.get("items"), dict):
            found += self.nested(f"{path}[]", target["items"])
        for branch in target.get("anyOf", []):
            if _has_keys(branch):
                found.append((path, branch))
        return found

    def entry(self, key: str, sub: dict[str, Any], required: bool) -> str:
        """One bullet: key, type, required, default, allowed values, description, example."""
        target = self.resolve(sub)
        facts = [self.type_of(sub)]
        if required:
            facts.append("required")
        if "default" in target:
            facts.append(f"default {_code(target['default'])}")
        items = target.get("items")
        allowed = _allowed(target)
        each = _allowed(self.resolve(items)) if isinstance(items, dict) else []
        if allowed:
            facts.append("one of " + ", ".join(_code(v) for v in allowed))
        elif each:
            facts.append("each one of " + ", ".join(_code(v) for v in each))
        text = f"- **`{key}`** ({'; '.join(facts)})"
        if target.get("description"):
            text += " — " + _text(target["description"])
        examples = target.get("examples", [])
        if examples:
            text += " Example: " + " or ".join(_code(e) for e in examples[:2]) + "."
        return text

    def type_of(self, sub: dict[str, Any]) -> str:
        """A short type description: ``string``, ``list of transform``, ``mapping``."""
        ref = sub.get("$ref", "")
        if ref and not ref.startswith("#"):
            return f"mapping, see {ref.removesuffix('.schema.json')} below"
        target = self.resolve(sub)
        title = self.root["$defs"][ref.removeprefix("#/$defs/")].get("title") if ref else None
        if title and _has_keys(target):
            return f"mapping, see `{title}`"
        if "const" in target:
            return _code(target["const"])
        if "anyOf" in target:
            return " or ".join(dict.fromkeys(self.type_of(b) for b in target["anyOf"]))
        kind = target.get("type", "string" if "enum" in target else "any")
        if kind == "array" and isinstance(target.get("items"), dict):
            return f"list of {self.type_of(target['items'])}"
        if isinstance(kind, list):
            return " or ".join(_TYPE_WORDS.get(str(k), str(k)) for k in kind)
        return _TYPE_WORDS.get(str(kind), str(kind))


def _has_keys(schema: dict[str, Any]) -> bool:
    extra = schema.get("additionalProperties")
    named = isinstance(extra, dict) and ("$ref" in extra or "description" in extra)
    return bool(schema.get("properties") or schema.get("patternProperties") or named)


def _allowed(schema: dict[str, Any]) -> list[Any]:
    values = list(schema.get("enum", []))
    for branch in schema.get("anyOf", []):
        values += branch.get("enum", [])
    return values


def _code(value: Any) -> str:
    """``value`` as YAML in a code span, the way it is written in a configuration file."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000, sort_keys=False)
    text = text.strip().removesuffix("...").strip()
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def _text(description: str) -> str:
    # Keep <name> and *.csv literal in Markdown renderers.
    return re.sub(r"([<>*])", r"\\\1", description)


def render_reference(schemas: dict[str, dict[str, Any]] | None = None) -> str:
    """The whole Markdown reference for the given (default: shipped) schemas."""
    schemas = schemas if schemas is not None else load_schemas()
    names = sorted(schemas, key=lambda n: (_rank(n), n))
    out = [
        "# Configuration reference",
        "",
        "<!-- GENERATED by `python -m filebridge.config.reference > docs/configuration.md`"
        " from filebridge/schemas/*.schema.json; do not edit by hand. -->",
        "",
        "Keys are written as dotted paths; `<name>` stands for a name you choose, `[]` for"
        " every item of a list. Secrets never go into these files: write `${env:NAME}` or"
        " `file:/path` where a secret is needed. `filebridge check` validates everything.",
        "",
    ]
    external: dict[str, str] = {}
    for name in names:
        schema = schemas[name]
        stem = name.removesuffix(".schema.json")
        writer = _Writer(schema, external.get(name, ""))
        out += [f"## {schema.get('title', stem)} ({_FILES.get(stem, name)})", ""]
        if schema.get("description"):
            out += [_text(schema["description"]), ""]
        writer.section(writer.prefix, schema)
        out += writer.lines
        external.update({k: v for k, v in writer.external.items() if k not in external})
    return "\n".join(out).rstrip() + "\n"


def _rank(name: str) -> int:
    stem = name.removesuffix(".schema.json")
    return _ORDER.index(stem) if stem in _ORDER else len(_ORDER)


def main() -> None:
    """Write the reference to standard output."""
    sys.stdout.write(render_reference())


if __name__ == "__main__":
    main()
