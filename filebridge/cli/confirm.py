"""Asking before a command changes the LMS: ``--yes`` answers, a terminal is asked."""

from __future__ import annotations

import argparse
import sys


def confirmed(args: argparse.Namespace, question: str) -> bool:
    """True with ``--yes`` or when the person at the terminal answers yes."""
    if getattr(args, "yes", False):
        return True
    if not sys.stdin.isatty():
        print("not applied: pass --yes to apply without a prompt", file=sys.stderr)
        return False
    return input(f"\n{question}? [y/N] ").strip().lower() in ("y", "yes")
