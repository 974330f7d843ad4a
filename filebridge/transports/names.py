"""Remote-name safety: a file name from a listing is data, never a path.

A name is refused (reported, never cleaned up) when it could leave its folder,
mislead a reader, or mean something special to a shell or to Windows. Cleaning
names would let two different remote files map to one local name; refusing keeps
what the operator sees identical to what is on the server.
"""

from __future__ import annotations

import fnmatch
import re
import unicodedata

from filebridge.transports.errors import HostileName

MAX_NAME_BYTES = 255

# Characters that look like a dot or a slash but are not; NFKC maps some of them,
# not all (the division and fraction slashes survive normalisation).
_LOOKALIKE_SEPARATORS = frozenset(
    "\u2024\u2044\u2215\u29f8\u29f9\ufe52\ufe68\uff0e\uff0f\uff3c\u3002\u2025\u2026"
)
_WINDOWS_INVALID = frozenset('<>:"|?*')
_WINDOWS_RESERVED = re.compile(
    r"^(CON|PRN|AUX|NUL|CONIN\$|CONOUT\$|COM[0-9\u00b9\u00b2\u00b3]|LPT[0-9\u00b9\u00b2\u00b3])$",
    re.IGNORECASE,
)
# Parts of a name we never take: our own temporary files and other tools' ones.
_TEMPORARY_SUFFIXES = (".tmp", ".part", ".partial", ".filepart", ".crdownload")


def name_problem(name: str) -> str | None:
    """Why ``name`` is unsafe as a file name (a kebab-case reason), or None when it is safe."""
    if not name or name in (".", ".."):
        return "empty-or-dot"
    if "/" in name or "\\" in name:
        return "path-separator"
    if "\ufffd" in name or any(unicodedata.category(ch) == "Cs" for ch in name):
        return "not-utf8"  # undecodable bytes arrive as lone surrogates or U+FFFD
    for ch in name:
        category = unicodedata.category(ch)
        if category == "Cc":
            return "control-character"
        if category in ("Cf", "Zl", "Zp", "Co", "Cn"):
            return "invisible-or-bidi-character"
        if category == "Zs" and ch != " ":
            return "unusual-space"
    if any(ch in _LOOKALIKE_SEPARATORS for ch in name):
        return "lookalike-separator"
    if unicodedata.normalize("NFKC", name) != unicodedata.normalize("NFC", name):
        return "compatibility-character"  # fullwidth letters, ligatures, superscripts
    if any(ch in _WINDOWS_INVALID for ch in name):
        return "windows-invalid-character"
    if _WINDOWS_RESERVED.match(name.split(".", 1)[0].rstrip(" ")):
        return "windows-reserved-name"
    if name[0] in "-~ ":
        return "leading-dash-tilde-or-space"
    if name[-1] in ". ":
        return "trailing-dot-or-space"
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        return "too-long"
    return None


def check_name(name: str) -> str:
    """Return ``name`` unchanged when safe; raise ``HostileName`` otherwise."""
    reason = name_problem(name)
    if reason is not None:
        raise HostileName(name, reason)
    return name


def is_ignored(name: str) -> bool:
    """True for names we skip silently: dot-files and temporary uploads (*.tmp, *.part, ...)."""
    return name.startswith(".") or name.lower().endswith(_TEMPORARY_SUFFIXES)


def matches(name: str, pattern: str) -> bool:
    """Case-sensitive shell-pattern match, the same on every operating system."""
    return fnmatch.fnmatchcase(name, pattern)


def part_name(name: str, token: str) -> str:
    """The hidden name a delivery of ``name`` is uploaded under before its rename."""
    return f".{name}.{token}.part"


def leftover_parts(name: str, entries: list[str]) -> list[str]:
    """Names in ``entries`` that an earlier, killed delivery of ``name`` left behind.

    Only this exact pattern (12 hex digits, the token ``deliver`` draws) is ever matched:
    nothing another program wrote looks like it by accident.
    """
    pattern = re.compile(rf"^\.{re.escape(name)}\.[0-9a-f]{{12}}\.part$")
    return [e for e in entries if pattern.match(e)]
