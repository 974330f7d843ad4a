"""Validate settings.yaml and every mapping and schedule; exit 0 when all are usable, else 2."""

from __future__ import annotations

import argparse

from filebridge.cli.common import add_common, emit_json, settings_file
from filebridge.config import check as check_config

NAME = "check"
HELP = "validate settings, mappings and schedules (file:line: key: problem)"
EXAMPLES = (
    'filebridge check',
    'filebridge check --settings /etc/filebridge/settings.yaml --json',
)


def register(parser: argparse.ArgumentParser) -> None:
    """Options of ``check``."""
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    """Print every configuration problem; 0 when there are none, 2 otherwise."""
    settings = settings_file(args)
    problems = check_config(settings)
    if args.json:
        emit_json({"ok": not problems, "settings": str(settings),
                   "problems": [vars(p) if not hasattr(p, "to_dict") else p.to_dict()
                                for p in problems]})
    else:
        for p in problems:
            print(p.render())
        print(f"{settings}: {'ok' if not problems else f'{len(problems)} problem(s)'}")
    return 0 if not problems else 2
