"""The transport schema documents every key and agrees with the code and settings.yaml."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from filebridge.transports import open_transport
from filebridge.transports.errors import TransportConfigError
from filebridge.transports.settings import READY_MODES, WATCH_MODES

SCHEMA = json.loads(
    resources.files("filebridge").joinpath("schemas/transport.schema.json").read_text()
)


def _properties(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    for name, sub in schema.get("properties", {}).items():
        yield f"{path}{name}", sub
        yield from _properties(sub, f"{path}{name}.")


def test_schema_is_valid_2020_12_with_its_id() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$id"] == "transport.schema.json"


@pytest.mark.parametrize("key,sub", list(_properties(SCHEMA)))
def test_every_property_has_description_and_examples(key: str, sub: dict[str, Any]) -> None:
    assert sub.get("description"), key
    assert sub.get("examples"), key


def test_closed_vocabularies_match_the_code() -> None:
    props = SCHEMA["properties"]
    assert props["type"]["enum"] == ["local", "sftp"]
    assert tuple(props["ready"]["properties"]["mode"]["enum"]) == READY_MODES
    assert tuple(props["watch_mode"]["enum"]) == WATCH_MODES


def test_secrets_only_as_references() -> None:
    v = Draft202012Validator(SCHEMA)
    base = {
        "type": "sftp",
        "inbox": "/in",
        "pattern": "*.csv",
        "host": "h",
        "username": "u",
        "known_hosts": "/kh",
    }
    assert not list(v.iter_errors({**base, "password": "${env:SFTP_PASSWORD}"}))
    assert not list(v.iter_errors({**base, "password": "file:/run/secrets/pw"}))
    assert list(v.iter_errors({**base, "password": "hunter2"}))


def test_sftp_requires_a_pinned_host_key(tmp_path: Path) -> None:
    v = Draft202012Validator(SCHEMA)
    config = {
        "type": "sftp",
        "inbox": "/in",
        "pattern": "*.csv",
        "host": "h",
        "username": "u",
        "password": "${env:P}",
    }
    assert list(v.iter_errors(config))
    with pytest.raises(TransportConfigError, match="known_hosts"):
        open_transport(config, base_dir=tmp_path, spool_dir=tmp_path / "spool")


def test_examples_and_settings_yaml_validate_and_open(tmp_path: Path) -> None:
    v = Draft202012Validator(SCHEMA)
    settings = Path(__file__).parents[2] / "settings.yaml"
    blocks = [c["transport"] for c in yaml.safe_load(settings.read_text())["connections"].values()]
    for config in SCHEMA["examples"] + blocks:
        assert not list(v.iter_errors(config)), config
        open_transport(config, base_dir=tmp_path, spool_dir=tmp_path / "spool").close()


def test_unknown_type_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(TransportConfigError, match="type"):
        open_transport(
            {"type": "ftp", "inbox": "x", "pattern": "*"},
            base_dir=tmp_path,
            spool_dir=tmp_path / "spool",
        )
