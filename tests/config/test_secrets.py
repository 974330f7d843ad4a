"""Secret references resolve at the moment of use, and never leak into messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from filebridge.config import SecretError, resolve_secret


def test_env_reference() -> None:
    assert resolve_secret("${env:SFTP_PW}", {"SFTP_PW": "s3cret"}) == "s3cret"


def test_unset_env_variable_is_named() -> None:
    with pytest.raises(SecretError) as caught:
        resolve_secret("${env:SFTP_PW}", {})
    assert str(caught.value) == "secret ${env:SFTP_PW}: environment variable SFTP_PW is not set"
    assert caught.value.fields() == {
        "reference": "${env:SFTP_PW}",
        "reason": "environment variable SFTP_PW is not set",
    }


def test_file_reference_strips_one_trailing_newline(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n\n")
    secret.chmod(0o600)
    assert resolve_secret(f"file:{secret}") == "s3cret\n"


def test_file_readable_by_others_is_refused_without_reading_it(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret")
    secret.chmod(0o644)
    with pytest.raises(SecretError) as caught:
        resolve_secret(f"file:{secret}")
    assert str(caught.value) == (
        f"secret file:{secret}: {secret} is readable by group or others (mode 0644); "
        f"run: chmod 600 {secret}"
    )


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SecretError, match="file not found"):
        resolve_secret(f"file:{tmp_path / 'nope'}")


def test_a_literal_is_never_repeated() -> None:
    with pytest.raises(SecretError) as caught:
        resolve_secret("hunter2")
    assert "hunter2" not in str(caught.value)
    assert "hunter2" not in repr(caught.value)
    assert "hunter2" not in repr(caught.value.fields())
