"""Colour for people at a terminal, never in pipes, files, or with ``NO_COLOR`` set.

See https://no-color.org: any non-empty ``NO_COLOR`` turns colour off. ``TERM=dumb``
does too. A handful of ANSI codes is all the CLI needs for its own lines; the progress
line leaves colour to rich under the same rule.
"""

from __future__ import annotations

import os
from typing import Literal, TextIO

Colour = Literal["red", "yellow", "green", "bold"]
_CODES: dict[str, str] = {"red": "31", "yellow": "33", "green": "32", "bold": "1"}


def colour_allowed(stream: TextIO) -> bool:
    """True when ``stream`` is a terminal and neither NO_COLOR nor TERM=dumb says no."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def paint(text: str, colour: Colour, stream: TextIO) -> str:
    """``text`` in ``colour`` when ``stream`` may have colour; else unchanged."""
    if not colour_allowed(stream):
        return text
    return f"\033[{_CODES[colour]}m{text}\033[0m"
