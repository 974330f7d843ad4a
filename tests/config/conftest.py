"""Fixtures for configuration tests: real YAML files in a temporary folder."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from filebridge.config import ConfigError

Write = Callable[[str, str], Path]


@pytest.fixture
def write(tmp_path: Path) -> Write:
    """Write dedented ``text`` to ``tmp_path / name`` (folders created) and return the path."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return _write


def errors_of(load: Callable[..., object], *args: object) -> list[str]:
    """The rendered problems of the ConfigError that ``load(*args)`` must raise."""
    with pytest.raises(ConfigError) as caught:
        load(*args)
    return [p.render() for p in caught.value.problems]
