"""Workspaces with connection policies and thresholds for the lifecycle tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from filebridge.pipeline.context import Context, open_context
from tests.pipeline.conftest import write_workspace


@contextmanager
def workspace(root: Path, block: str = "",
              mapping: Callable[[str], str] | None = None) -> Iterator[Context]:
    """An open context whose acme connection has ``block`` (YAML lines, 4-space indented)
    and whose acme mapping text is passed through ``mapping``."""
    settings = write_workspace(root, thresholds=block)
    if mapping is not None:
        path = root / "mappings" / "acme.yaml"
        path.write_text(mapping(path.read_text(encoding="utf-8")), encoding="utf-8")
    ctx = open_context(settings)
    try:
        yield ctx
    finally:
        ctx.close()
