"""A throwaway filebridge workspace: settings, the acme mapping and a state folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from filebridge.pipeline.context import Context, open_context

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "sample_files"
NIGHT1 = SAMPLES / "acme_employees_2026-11-24.csv"
NIGHT2 = SAMPLES / "acme_employees_2026-11-25.csv"
DELTA = SAMPLES / "acme_delta_2026-11-26.csv"
XML1 = SAMPLES / "acme_employees_2026-11-24.xml"


ACME_TRANSPORT = '{type: local, inbox: drop/acme, pattern: "acme_*.csv"}'


def write_workspace(root: Path, thresholds: str = "", transport: str = ACME_TRANSPORT) -> Path:
    """settings.yaml + mappings/ under ``root``; returns the settings path.

    ``transport`` replaces the acme connection's transport block (one line of flow YAML).
    """
    (root / "mappings").mkdir(parents=True, exist_ok=True)
    for name in ("acme.yaml", "acme-xml.yaml"):
        shutil.copy(REPO / "mappings" / name, root / "mappings" / name)
    settings = root / "settings.yaml"
    settings.write_text(f"""state_dir: state
lms:
  url: sqlite:///{{state_dir}}/lms.sqlite
connections:
  acme:
    import_mapping: mappings/acme.yaml
    transport: {transport}
{thresholds}
  acme-xml:
    import_mapping: mappings/acme-xml.yaml
    transport: {{type: local, inbox: drop/xml, pattern: "*.xml"}}
""", encoding="utf-8")
    return settings


@pytest.fixture
def settings_path(tmp_path: Path) -> Path:
    """A fresh workspace's settings file."""
    return write_workspace(tmp_path / "ws")


@pytest.fixture
def ctx(settings_path: Path):
    """An open context on the fresh workspace."""
    context: Context = open_context(settings_path)
    yield context
    context.close()
