"""The ledger: every file and run, its state, checksums, plans and reports."""

from filebridge.ledger.errors import InvalidState, LedgerError, UnknownFile, UnknownRun
from filebridge.ledger.ledger import FileRecord, Ledger, RunRecord

__all__ = [
    "FileRecord",
    "InvalidState",
    "Ledger",
    "LedgerError",
    "RunRecord",
    "UnknownFile",
    "UnknownRun",
]
