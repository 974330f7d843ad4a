"""The LMS behind one small interface (``Store``); the built-in SQL store is ``SqlStore``."""

from filebridge.lms.errors import InvalidFieldName, StalePlan, StoreError
from filebridge.lms.sqlstore import SqlStore
from filebridge.lms.store import Store

__all__ = ["InvalidFieldName", "SqlStore", "StalePlan", "Store", "StoreError"]
