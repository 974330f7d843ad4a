"""Mapping: YAML field mapping ⇄ canonical person fields (column-wise, no row loops)."""

from filebridge.mapping.apply import MappedRecords, apply_mapping, check_columns
from filebridge.mapping.errors import MissingColumns
from filebridge.mapping.fields import CANONICAL_FIELDS, KEY, is_field_name
from filebridge.mapping.spec import FieldSpec, Mapping, mapping_from_dict

__all__ = [
    "CANONICAL_FIELDS", "KEY", "FieldSpec", "MappedRecords", "Mapping", "MissingColumns",
    "apply_mapping", "check_columns", "is_field_name", "mapping_from_dict",
]
