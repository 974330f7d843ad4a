"""Checks of a mapping's group rules that JSON Schema cannot express.

Each problem names the file, the line and the key path of the rule, like every
configuration problem: a condition with two operators or none, a field the mapping
does not map, a ``reports_to`` rule without manager references, two rules naming one
group.
"""

from __future__ import annotations

from typing import Any

from filebridge.config.errors import ConfigProblem
from filebridge.config.loader import Document, KeyPath
from filebridge.config.validate import did_you_mean

_OPERATORS = ("is", "in", "not", "all", "any")
_VALUE = "{value}"


def group_rule_problems(doc: Document, mapped: list[str]) -> list[ConfigProblem]:
    """Problems of the ``groups`` list of a mapping whose fields are ``mapped``."""
    data = doc.data if isinstance(doc.data, dict) else {}
    rules = data.get("groups")
    if not isinstance(rules, list):
        return []
    problems: list[ConfigProblem] = []
    seen: dict[str, int] = {}
    for i, rule in enumerate(rules):
        if not isinstance(rule, dict):
            continue
        at: KeyPath = ("groups", i)
        problems += _rule_problems(doc, at, rule, mapped)
        name = rule.get("name")
        if isinstance(name, str) and "group_from" not in rule:
            if name in seen:
                problems.append(doc.problem((*at, "name"), f"group {name!r} is already named "
                                            f"by groups[{seen[name]}]; one rule per group"))
            seen.setdefault(name, i)
    return problems


def _rule_problems(doc: Document, at: KeyPath, rule: dict[str, Any],
                   mapped: list[str]) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    kinds = [k for k in ("when", "group_from", "reports_to") if k in rule]
    if "group_from" in rule and "reports_to" in rule:
        problems.append(doc.problem(at, "a rule takes group_from or reports_to, not both"))
    if not kinds:
        problems.append(doc.problem(at, "a rule needs when, group_from or reports_to"))
    elif "group_from" not in rule and "name" not in rule:
        problems.append(doc.problem(at, "a rule needs name: the group's name in the LMS"))
    source = rule.get("group_from")
    if isinstance(source, str):
        problems += _field_problems(doc, (*at, "group_from"), source, mapped)
        name = rule.get("name")
        if isinstance(name, str) and _VALUE not in name:
            problems.append(doc.problem((*at, "name"), "with group_from the name must contain "
                                        "{value}, e.g. 'Department {value}'"))
    if "reports_to" in rule and not {"manager_id", "manager_email"} & set(mapped):
        problems.append(doc.problem((*at, "reports_to"), "reports_to follows the file's "
                                    "manager references: map manager_id or manager_email"))
    if isinstance(rule.get("name"), str) and "group_from" not in rule and _VALUE in rule["name"]:
        problems.append(doc.problem((*at, "name"), "{value} belongs in group_from rules only"))
    if isinstance(rule.get("when"), dict):
        problems += _condition_problems(doc, (*at, "when"), rule["when"], mapped)
    return problems


def _condition_problems(doc: Document, at: KeyPath, cond: dict[str, Any],
                        mapped: list[str]) -> list[ConfigProblem]:
    ops = [k for k in _OPERATORS if k in cond]
    if not set(cond) <= {"field", *_OPERATORS}:
        return []  # the schema names the unknown key already
    if len(ops) != 1:
        found = ", ".join(ops) if ops else "none"
        return [doc.problem(at, "a condition takes exactly one of is, in, not, all, any "
                            f"(found {found})")]
    op = ops[0]
    if op in ("is", "in"):
        field = cond.get("field")
        if field is None:
            return [doc.problem(at, f"{op} needs field: the mapped field it compares")]
        return _field_problems(doc, (*at, "field"), str(field), mapped)
    problems: list[ConfigProblem] = []
    if "field" in cond:
        problems.append(doc.problem((*at, "field"), f"{op} takes conditions, not a field"))
    inner = cond[op]
    if op == "not" and isinstance(inner, dict):
        problems += _condition_problems(doc, (*at, "not"), inner, mapped)
    elif isinstance(inner, list):
        for j, sub in enumerate(inner):
            if isinstance(sub, dict):
                problems += _condition_problems(doc, (*at, op, j), sub, mapped)
    return problems


def _field_problems(doc: Document, at: KeyPath, field: str,
                    mapped: list[str]) -> list[ConfigProblem]:
    if field in mapped:
        return []
    return [doc.problem(at, f"{field!r} is not a field of this mapping"
                        f"{did_you_mean(field, mapped)}; rules read mapped fields only")]
