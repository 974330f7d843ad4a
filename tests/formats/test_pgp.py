"""PGP drops against real gpg: decrypt, require encryption, signatures, tampering, exports."""

from __future__ import annotations

from pathlib import Path

import pytest

from filebridge.formats import FileRejected
from filebridge.formats.pgp import EncryptionFailed, PgpKeys, encrypt_for_delivery, is_pgp
from filebridge.formats.source import SourceLayout, read_source
from tests.gpg_keys import PASSPHRASE, GpgKeys, stop_agent

CSV = b"Employee ID,Name\r\n000123,Zo\xc3\xab\r\n"


@pytest.fixture
def keys(gpg_keys: GpgKeys, tmp_path: Path):
    def make(**options: object) -> PgpKeys:
        base = {"home": tmp_path / "kr", "private_key": gpg_keys.lms_private.read_text(),
                "passphrase": PASSPHRASE}
        return PgpKeys(**{**base, **options})  # type: ignore[arg-type]

    yield make
    stop_agent(tmp_path / "kr")


def drop(tmp_path: Path, data: bytes, name: str = "hr.csv.pgp") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def refusal(path: Path, keys: PgpKeys) -> tuple[str, str]:
    with pytest.raises(FileRejected) as info:
        read_source(path, SourceLayout(), pgp=keys)
    [problem] = info.value.problems
    return problem.code, problem.message


@pytest.mark.parametrize("armor", [False, True])
def test_encrypted_drop_is_decrypted_with_the_connection_key(gpg_keys, keys, tmp_path, armor):
    data = gpg_keys.encrypt(CSV, armor=armor)
    assert is_pgp(data[:64])
    table = read_source(drop(tmp_path, data), SourceLayout(), pgp=keys())
    assert table.frame.to_dict("records") == [{"Employee ID": "000123", "Name": "Zoë"}]
    assert table.source is not None and table.source() == CSV  # the reject file's bytes


def test_encrypted_zip_is_decrypted_then_unpacked(gpg_keys, keys, tmp_path):
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("employees.csv", CSV)
    table = read_source(drop(tmp_path, gpg_keys.encrypt(buffer.getvalue())), SourceLayout(),
                        pgp=keys())
    assert table.file == "hr.csv.pgp!employees.csv" and len(table.frame) == 1


def test_plaintext_is_refused_when_encryption_is_required(keys, tmp_path):
    assert refusal(drop(tmp_path, CSV), keys(require_encryption=True))[0] == "pgp-required"
    assert len(read_source(drop(tmp_path, CSV), SourceLayout(), pgp=keys()).frame) == 1


def test_signature_by_the_signer_key_is_required_and_checked(gpg_keys, keys, tmp_path):
    signer = gpg_keys.hr_public.read_text()
    good = gpg_keys.encrypt(CSV, sign_with=gpg_keys.hr_fpr)
    table = read_source(drop(tmp_path, good), SourceLayout(), pgp=keys(signer_key=signer))
    assert len(table.frame) == 1
    by_stranger = gpg_keys.encrypt(CSV, sign_with=gpg_keys.stranger_fpr)
    code, message = refusal(drop(tmp_path, by_stranger), keys(signer_key=signer))
    assert code == "pgp-bad-signature" and "signer key" in message
    unsigned = gpg_keys.encrypt(CSV)
    code, message = refusal(drop(tmp_path, unsigned), keys(signer_key=signer))
    assert code == "pgp-bad-signature" and "no signature" in message


def test_tampered_wrong_key_and_wrong_passphrase_are_refused(gpg_keys, keys, tmp_path):
    data = bytearray(gpg_keys.encrypt(CSV))
    data[len(data) // 2] ^= 0xFF
    assert refusal(drop(tmp_path, bytes(data)), keys())[0] == "pgp-undecryptable"
    code, message = refusal(drop(tmp_path, gpg_keys.encrypt(CSV)),
                            keys(passphrase="wrong", home=tmp_path / "kr2"))
    stop_agent(tmp_path / "kr2")
    assert code == "pgp-undecryptable" and "wrong" not in message
    assert refusal(drop(tmp_path, gpg_keys.encrypt(CSV)),
                   keys(private_key=None))[0] == "pgp-no-key"
    assert refusal(drop(tmp_path, b"x"), keys(unusable="pgp.private_key: file not found")
                   )[0] == "pgp-key-unreadable"


def test_armored_drop_without_pgp_settings_is_refused(gpg_keys, tmp_path):
    with pytest.raises(FileRejected) as info:
        read_source(drop(tmp_path, gpg_keys.encrypt(CSV, armor=True)), SourceLayout())
    assert info.value.problems[0].code == "pgp-not-configured"


def test_exports_are_encrypted_to_the_hr_key(gpg_keys, keys):
    sealed = encrypt_for_delivery(CSV, keys(encrypt_to=gpg_keys.hr_public.read_text()), "x.csv")
    assert is_pgp(sealed[:64]) and CSV not in sealed
    assert gpg_keys.decrypt_as_hr(sealed) == CSV
    with pytest.raises(EncryptionFailed):
        encrypt_for_delivery(CSV, keys(encrypt_to="not a key", home=keys().home), "x.csv")
