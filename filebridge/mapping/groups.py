"""Group membership rules as values: which people belong in which LMS groups.

A mapping's ``groups`` list holds the rules; each names its group (or, with
``group_from``, a group per value of a field) and says who belongs. Conditions are a
small closed language of data, never code: a field equals a value (``is``), a field is
one of several values (``in``), and ``not`` / ``all`` / ``any`` around other
conditions. The JSON Schema has already checked the shapes; this module only turns
data into frozen values.
"""

from __future__ import annotations

from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass
from typing import Any, Literal

RuleKind = Literal["static", "field", "reports_to"]
Operator = Literal["is", "in", "not", "all", "any"]
OPERATORS: tuple[str, ...] = ("is", "in", "not", "all", "any")
# Where a group_from rule's value goes in the group's name.
VALUE_SLOT = "{value}"


@dataclass(frozen=True)
class Condition:
    """One node of a rule's condition.

    ``is`` / ``in``: ``field`` and its accepted ``values`` (one for ``is``); ``not``:
    one operand; ``all`` / ``any``: any number of operands.
    """

    op: Operator
    field: str = ""
    values: tuple[str, ...] = ()
    operands: tuple[Condition, ...] = ()

    def fields(self) -> frozenset[str]:
        """Every field this condition reads."""
        own = {self.field} if self.field else set()
        return frozenset(own.union(*(o.fields() for o in self.operands)))


@dataclass(frozen=True)
class GroupRule:
    """One rule: a named group (static or reports_to) or one group per field value.

    ``name`` is the group's name; for a ``field`` rule it is a template in which
    ``{value}`` stands for the field's value. ``when`` narrows any rule further.
    """

    kind: RuleKind
    name: str
    when: Condition | None = None
    field: str = ""  # the field a "field" rule names its groups from
    manager: str = ""  # the employee id a "reports_to" rule starts from
    index: int = 0  # position in the mapping's list (for messages)

    def group_name(self, value: str) -> str:
        """The group a ``field`` rule gives a person whose field holds ``value``."""
        return self.name.replace(VALUE_SLOT, value)

    def fields(self) -> frozenset[str]:
        """Every field the rule reads."""
        own = {self.field} if self.field else set()
        if self.kind == "reports_to":
            own.add("manager_id")
        return frozenset(own | (self.when.fields() if self.when else frozenset()))


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def condition_from(data: AbcMapping[str, Any]) -> Condition:
    """Build a ``Condition`` from a schema-validated condition mapping."""
    if "is" in data:
        return Condition("is", str(data["field"]), (_text(data["is"]),))
    if "in" in data:
        return Condition("in", str(data["field"]), tuple(_text(v) for v in data["in"]))
    if "not" in data:
        return Condition("not", operands=(condition_from(data["not"]),))
    op: Operator = "all" if "all" in data else "any"
    return Condition(op, operands=tuple(condition_from(c) for c in data[op]))


def rule_from(index: int, data: AbcMapping[str, Any]) -> GroupRule:
    """Build a ``GroupRule`` from one schema-validated entry of a mapping's ``groups``."""
    when = condition_from(data["when"]) if data.get("when") is not None else None
    if "group_from" in data:
        return GroupRule("field", str(data.get("name", VALUE_SLOT)), when,
                         field=str(data["group_from"]), index=index)
    if "reports_to" in data:
        return GroupRule("reports_to", str(data["name"]), when,
                         manager=str(data["reports_to"]), index=index)
    return GroupRule("static", str(data["name"]), when, index=index)


def rules_from(items: Any) -> tuple[GroupRule, ...]:
    """Every rule of a mapping's ``groups`` list, in order."""
    return tuple(rule_from(i, d) for i, d in enumerate(items or ()))
