"""Configuration problems (values) and the one exception that carries them.

A ``ConfigProblem`` is one thing wrong in one configuration file, located by
file, 1-based line and dotted key path, so people can jump straight to it.
``ConfigError`` carries *every* problem found, never just the first: fixing a
configuration one error per run is the experience we want to avoid.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from filebridge.errors import Terminal


@dataclass(frozen=True)
class ConfigProblem:
    """One problem in a configuration file.

    ``file`` is shown as given (relative to the settings folder when possible);
    ``line`` is None when the file could not be read at all; ``key`` is the
    dotted key path (``fields.email.transform[1]``), empty for the whole file.
    """

    file: str
    line: int | None
    key: str
    message: str

    def render(self) -> str:
        """One line for people: ``file:line: key: message``."""
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        key = f" {self.key}:" if self.key else ""
        return f"{where}:{key} {self.message}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with stable keys."""
        return asdict(self)


class ConfigError(Terminal):
    """The configuration is unusable; ``problems`` lists everything wrong with it."""

    code = "config-error"

    def __init__(self, problems: Iterable[ConfigProblem]) -> None:
        self.problems: list[ConfigProblem] = list(problems)
        super().__init__(self.render())

    def render(self) -> str:
        """All problems, one per line."""
        return "\n".join(p.render() for p in self.problems)


class SecretError(Terminal):
    """A secret reference could not be resolved.

    ``reference`` is the reference as written (``${env:NAME}`` or ``file:/path``),
    which is safe to show; the secret value itself is never stored here.
    """

    code = "secret-unavailable"

    def __init__(self, reference: str, reason: str) -> None:
        self.reference = reference
        self.reason = reason
        super().__init__(f"secret {reference}: {reason}")
