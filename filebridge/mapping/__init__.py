"""Mapping: YAML field mapping ⇄ canonical person fields (column-wise, no row loops).

The column-wise parts need pandas; the field vocabulary does not. Names are loaded on
first use so that ``filebridge.config`` can read the vocabulary without importing pandas.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from filebridge.mapping.errors import MissingColumns
from filebridge.person import CANONICAL_FIELDS, KEY, is_field_name

if TYPE_CHECKING:
    from filebridge.mapping.apply import MappedRecords, apply_mapping, check_columns
    from filebridge.mapping.spec import FieldSpec, Mapping, mapping_from_dict

_LAZY = {
    "MappedRecords": "filebridge.mapping.apply",
    "apply_mapping": "filebridge.mapping.apply",
    "check_columns": "filebridge.mapping.apply",
    "FieldSpec": "filebridge.mapping.spec",
    "Mapping": "filebridge.mapping.spec",
    "mapping_from_dict": "filebridge.mapping.spec",
}

__all__ = [
    "CANONICAL_FIELDS", "KEY", "FieldSpec", "MappedRecords", "Mapping", "MissingColumns",
    "apply_mapping", "check_columns", "is_field_name", "mapping_from_dict",
]


def __getattr__(name: str) -> Any:
    """Import the column-wise parts on first use."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'filebridge.mapping' has no attribute {name!r}")
