"""The person vocabulary: the canonical fields every mapping maps onto and every store keeps.

The JSON Schema for mappings (``filebridge/schemas/mapping.schema.json``) lists the
same names; ``tests/config/test_schemas.py`` keeps the two in step.
"""

from __future__ import annotations

import re
from typing import Final, Literal

KEY: Final = "employee_id"

CANONICAL_FIELDS: Final[tuple[str, ...]] = (
    "employee_id",
    "email",
    "first_name",
    "last_name",
    "title",
    "phone",
    "language",
    "job_title",
    "department",
    "department_code",
    "parent_department_code",
    "location",
    "office",
    "city",
    "country",
    "company",
    "division",
    "employee_type",
    "manager_id",
    "manager_email",
    "hire_date",
    "termination_date",
    "status",
)

CUSTOM_FIELD: Final = re.compile(r"^custom\.[a-z][a-z0-9_]{0,62}$")

Status = Literal["active", "inactive"]
STATUSES: Final[tuple[str, ...]] = ("active", "inactive")


def is_field_name(name: str) -> bool:
    """True for a canonical field or a ``custom.*`` attribute name."""
    return name in CANONICAL_FIELDS or bool(CUSTOM_FIELD.match(name))
