"""Plan: the diff of desired (file) and actual (LMS) state, and the guard around it."""

from filebridge.plan.diff import DiffOptions, diff, fingerprint, stored_fields
from filebridge.plan.model import Plan
from filebridge.plan.validate import validate_file

__all__ = ["DiffOptions", "Plan", "diff", "fingerprint", "stored_fields", "validate_file"]
