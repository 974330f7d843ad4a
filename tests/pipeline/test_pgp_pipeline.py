"""PGP end to end with real gpg: a signed, encrypted night is applied; a plaintext or
wrongly signed one is refused and recorded; completions leave encrypted to HR's key."""

from __future__ import annotations

from pathlib import Path

import pytest

from filebridge.cli.main import main
from filebridge.pipeline.context import Context, open_context
from filebridge.pipeline.exporter import export_connection
from tests.gpg_keys import PASSPHRASE, GpgKeys, stop_agent
from tests.pipeline.conftest import NIGHT1
from tests.pipeline.export_fixtures import NOW, export_workspace, load_people, record
from tests.pipeline.files import apply


def pgp_workspace(root: Path, keys: GpgKeys, monkeypatch: pytest.MonkeyPatch,
                  extra: str = "") -> Path:
    settings = export_workspace(root)
    monkeypatch.setenv("ACME_PGP_PASSPHRASE", PASSPHRASE)
    text = settings.read_text(encoding="utf-8").replace(
        "    export_mapping: mappings/export.yaml\n",
        "    export_mapping: mappings/export.yaml\n"
        "    pgp:\n"
        f"      private_key: file:{keys.lms_private}\n"
        "      passphrase: ${env:ACME_PGP_PASSPHRASE}\n"
        f"      signer_key: {keys.hr_public}\n"
        f"      encrypt_to: {keys.hr_public}\n" + extra)
    settings.write_text(text, encoding="utf-8")
    return settings


@pytest.fixture
def pgp_ctx(tmp_path: Path, gpg_keys: GpgKeys, monkeypatch: pytest.MonkeyPatch):
    settings = pgp_workspace(tmp_path / "ws", gpg_keys, monkeypatch,
                             "      require_encryption: true\n")
    ctx: Context = open_context(settings)
    yield ctx
    ctx.close()
    stop_agent(ctx.settings.state_dir / "gnupg" / "acme")


def test_signed_encrypted_night_applies_and_bad_ones_are_refused(pgp_ctx: Context,
                                                                 gpg_keys: GpgKeys,
                                                                 tmp_path: Path, capsys):
    good = tmp_path / "acme_employees_2026-11-24.csv.pgp"
    good.write_bytes(gpg_keys.encrypt(NIGHT1.read_bytes(), sign_with=gpg_keys.hr_fpr))
    report = apply(pgp_ctx, good)
    assert report.state == "applied" and report.counts["create"] == 194
    rejects = Path(report.reject_file).read_bytes()
    assert rejects.startswith(b"\xef\xbb\xbfEmployee ID,")  # decrypted, as the HR file was
    plain = tmp_path / "acme_employees_2026-11-25.csv"
    plain.write_bytes(NIGHT1.read_bytes().replace(b"Emma,Berg", b"Emma,Bergson"))
    refused = apply(pgp_ctx, plain)
    assert refused.state == "rejected" and refused.problems[0].code == "pgp-required"
    forged = tmp_path / "acme_employees_2026-11-26.csv.pgp"
    forged.write_bytes(gpg_keys.encrypt(plain.read_bytes(), sign_with=gpg_keys.stranger_fpr))
    assert apply(pgp_ctx, forged).problems[0].code == "pgp-bad-signature"
    settings = str(pgp_ctx.settings.path)
    assert main(["validate", "acme", str(forged), "--settings", settings]) == 2
    assert "signer key" in capsys.readouterr().out


def test_completions_are_delivered_encrypted_to_hr(tmp_path: Path, gpg_keys: GpgKeys,
                                                   monkeypatch: pytest.MonkeyPatch):
    ctx = open_context(pgp_workspace(tmp_path / "ws", gpg_keys, monkeypatch))
    try:
        load_people(ctx)  # plaintext drops pass when encryption is not required
        record(ctx, [("001001", "SEC-101", "Security Awareness", "passed",
                      "2026-11-20T09:30:00+00:00", 92.5)])
        report = export_connection(ctx, "acme", now=NOW)
    finally:
        ctx.close()
        stop_agent(tmp_path / "ws" / "state" / "gnupg" / "acme")
    delivered = Path(report.files[0].delivered_to).read_bytes()
    assert b"SEC-101" not in delivered
    assert b"SEC-101" in gpg_keys.decrypt_as_hr(delivered)


def test_a_missing_key_file_refuses_each_file_with_the_reason(tmp_path: Path,
                                                              gpg_keys: GpgKeys,
                                                              monkeypatch: pytest.MonkeyPatch):
    settings = pgp_workspace(tmp_path / "ws", gpg_keys, monkeypatch)
    settings.write_text(settings.read_text(encoding="utf-8").replace(
        f"file:{gpg_keys.lms_private}", "file:/nonexistent/key.asc"), encoding="utf-8")
    ctx = open_context(settings)
    try:
        report = apply(ctx, NIGHT1)
        assert report.state == "rejected"
        assert report.problems[0].code == "pgp-key-unreadable"
        assert "file not found" in report.problems[0].message
    finally:
        ctx.close()
