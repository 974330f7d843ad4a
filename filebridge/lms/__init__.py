"""The LMS behind one small interface (``Lms``); the built-in SQL store is ``SqlStore``."""

from filebridge.lms.errors import InvalidFieldName, StalePlan, StoreError
from filebridge.lms.interface import ApplyResult, Capabilities, ChangeOutcome, Lms, Receipt
from filebridge.lms.sqlstore import SqlStore

__all__ = ["ApplyResult", "Capabilities", "ChangeOutcome", "InvalidFieldName", "Lms", "Receipt",
           "SqlStore", "StalePlan", "StoreError"]
