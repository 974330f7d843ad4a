"""docs/configuration.md is generated from the schemas and must not drift from them."""

from __future__ import annotations

from pathlib import Path

from filebridge.config.reference import render_reference

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_configuration_reference_is_up_to_date() -> None:
    assert DOC.read_text(encoding="utf-8") == render_reference(), (
        "docs/configuration.md is out of date; run "
        "`python -m filebridge.config.reference > docs/configuration.md`"
    )


def test_reference_names_every_key() -> None:
    text = render_reference()
    for key in (
        "`state_dir`",
        "`fields.<name>.map_default`",
        "`tasks[].timezone`",
        "`connections.<name>.policies.leavers`",
        "`fields.custom.<name>`",
    ):
        assert key in text
