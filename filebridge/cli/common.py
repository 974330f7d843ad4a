"""Options and output shared by every command: --settings, --json, --debug."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from filebridge.errors import Terminal
from filebridge.pipeline.context import Context, open_context

DEFAULT_SETTINGS = "settings.yaml"
SETTINGS_VARIABLE = "FILEBRIDGE_SETTINGS"


def add_common(parser: argparse.ArgumentParser, *, json_output: bool = True) -> None:
    """Add the options every command shares."""
    parser.add_argument("--settings", type=Path, default=None,
                        help="settings file (default: $FILEBRIDGE_SETTINGS or ./settings.yaml)")
    if json_output:
        parser.add_argument("--json", action="store_true",
                            help="print one JSON document with stable keys instead of text")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of unexpected errors")


def settings_file(args: argparse.Namespace) -> Path:
    """The settings file: ``--settings``, else ``$FILEBRIDGE_SETTINGS``, else
    ./settings.yaml; ``SettingsNotFound`` says which was looked for, and where."""
    if args.settings is not None:
        path, source = args.settings, "given with --settings"
    elif os.environ.get(SETTINGS_VARIABLE):
        path, source = Path(os.environ[SETTINGS_VARIABLE]), f"from ${SETTINGS_VARIABLE}"
    else:
        path, source = Path(DEFAULT_SETTINGS), "the default, in the current folder"
    if not path.is_file():
        raise SettingsNotFound(path.absolute(), source)
    return path


def context(args: argparse.Namespace) -> Context:
    """Open the stores named by the settings file (see ``settings_file``)."""
    return open_context(settings_file(args))


def emit_json(data: Any, out: TextIO | None = None) -> None:
    """Print ``data`` as indented JSON (dates and paths as strings)."""
    out = out or sys.stdout  # looked up now, not at import: redirection and capture work
    json.dump(data, out, indent=2, default=str, ensure_ascii=False)
    out.write("\n")


def table(rows: list[list[Any]], headers: list[str], out: TextIO | None = None) -> None:
    """Print a plain aligned text table."""
    out = out or sys.stdout
    cells = [[str(h) for h in headers], *[["" if c is None else str(c) for c in r] for r in rows]]
    widths = [min(max(len(r[i]) for r in cells), 60) for i in range(len(headers))]
    for n, r in enumerate(cells):
        out.write("  ".join(c[:60].ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                  + "\n")
        if n == 0:
            out.write("  ".join("-" * w for w in widths) + "\n")


class NoSuchFile(Terminal):
    """A command was given a file path that does not exist."""

    code = "no-such-file"

    def __init__(self, path: Path) -> None:
        super().__init__(f"{path}: no such file")
        self.path = path


class SettingsNotFound(Terminal):
    """No settings file where the command looked for one."""

    code = "settings-not-found"

    def __init__(self, path: Path, source: str) -> None:
        super().__init__(f"no settings file at {path} ({source}); run the command in the "
                         f"folder of your settings.yaml, or point to it with --settings FILE "
                         f"or {SETTINGS_VARIABLE}=FILE")
        self.path, self.source = str(path), source


def require_file(path: Path) -> Path:
    """``path`` if it is a file; otherwise ``NoSuchFile`` (exit 2 via cli/errors.py)."""
    if not path.is_file():
        raise NoSuchFile(path)
    return path
