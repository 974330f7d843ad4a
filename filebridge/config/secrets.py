"""Secret references: ``${env:NAME}`` and ``file:/path``, never the secret itself.

Configuration files get copied into tickets, backups and version control, so
they only ever name *where* a secret is. Values are resolved at the moment of
use and never appear in an exception message or repr.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path

from filebridge.config.errors import SecretError

ENV_REFERENCE = re.compile(r"^\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}$")
FILE_REFERENCE = re.compile(r"^file:(/.+)$")


def is_reference(value: object) -> bool:
    """True if ``value`` is a well-formed ``${env:NAME}`` or ``file:/path`` reference."""
    if not isinstance(value, str):
        return False
    return bool(ENV_REFERENCE.match(value) or FILE_REFERENCE.match(value))


def resolve_secret(ref: str, env: Mapping[str, str] = os.environ) -> str:
    """The secret ``ref`` points to; ``SecretError`` (without the value) if unavailable."""
    if match := ENV_REFERENCE.match(ref):
        name = match[1]
        if name not in env:
            raise SecretError(ref, f"environment variable {name} is not set")
        if env[name] == "":
            raise SecretError(ref, f"environment variable {name} is empty")
        return env[name]
    if match := FILE_REFERENCE.match(ref):
        return _read_secret_file(ref, Path(match[1]))
    # Whatever this is, it may be a secret pasted in by mistake: do not repeat it.
    raise SecretError("(not a reference)", "write ${env:NAME} or file:/path, never the secret")


def _read_secret_file(ref: str, path: Path) -> str:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise SecretError(ref, f"file not found: {path}") from None
    except OSError as exc:
        raise SecretError(ref, f"cannot read {path}: {exc.strerror}") from None
    if not stat.S_ISREG(mode):
        raise SecretError(ref, f"{path} is not a regular file")
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        # ssh refuses such key files too: anyone on the machine could read it.
        raise SecretError(
            ref,
            f"{path} is readable by group or others (mode {stat.S_IMODE(mode):04o}); "
            f"run: chmod 600 {path}",
        )
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise SecretError(ref, f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise SecretError(ref, f"{path} is not UTF-8 text") from None
    # Editors add a final newline; a secret almost never ends with one.
    for ending in ("\r\n", "\n"):
        if text.endswith(ending):
            text = text[: -len(ending)]
            break
    if not text:
        raise SecretError(ref, f"{path} is empty")
    return text
