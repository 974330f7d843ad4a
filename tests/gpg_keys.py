"""Real OpenPGP keys made by the system's gpg for the tests: ours, the HR side's, a stranger's.

Without gpg the PGP tests skip on a laptop but fail under ``CI=true`` (.ci/run installs
gnupg), so CI cannot silently stop testing decryption and signatures.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PASSPHRASE = "correct horse battery staple"


@dataclass(frozen=True)
class GpgKeys:
    """A keyring holding three keys, and their armored exports as files."""

    home: Path
    lms_fpr: str  # the connection's own key: decrypts drops (has PASSPHRASE)
    hr_fpr: str  # the HR side: signs drops, receives encrypted exports (no passphrase)
    stranger_fpr: str  # someone else: signs drops that must be refused
    lms_private: Path  # armored secret key, mode 600
    hr_public: Path
    stranger_public: Path

    def gpg(self, *args: str, data: bytes | None = None) -> bytes:
        """Run gpg on this keyring; the output (stdout)."""
        return subprocess.run(
            ["gpg", "--homedir", str(self.home), "--batch", "--yes", "--pinentry-mode",
             "loopback", "--passphrase", "", "--trust-model", "always", *args],
            input=data, capture_output=True, check=True).stdout

    def encrypt(self, data: bytes, *, sign_with: str | None = None, armor: bool = False
                ) -> bytes:
        """``data`` encrypted to the LMS key, signed by ``sign_with`` when given."""
        args = ["--encrypt", "-r", self.lms_fpr]
        if sign_with:
            args += ["--sign", "-u", sign_with]
        return self.gpg(*args, *(["--armor"] if armor else []), data=data)

    def decrypt_as_hr(self, data: bytes) -> bytes:
        """What the HR side reads from a file encrypted to its key."""
        return self.gpg("--decrypt", data=data)


def _new_key(home: Path, uid: str, passphrase: str) -> str:
    base = ["gpg", "--homedir", str(home), "--batch", "--pinentry-mode", "loopback",
            "--passphrase", passphrase]
    subprocess.run([*base, "--quick-gen-key", uid, "ed25519", "sign,cert", "never"],
                   check=True, capture_output=True)
    listing = subprocess.run(["gpg", "--homedir", str(home), "--with-colons", "--list-keys",
                              uid], check=True, capture_output=True, text=True).stdout
    fpr = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr"))
    subprocess.run([*base, "--quick-add-key", fpr, "cv25519", "encr", "never"], check=True,
                   capture_output=True)
    return fpr


@pytest.fixture(scope="session")
def gpg_keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GpgKeys]:
    """Three fresh key pairs in one throwaway keyring (session-scoped: key making is slow)."""
    if shutil.which("gpg") is None or shutil.which("gpgconf") is None:
        message = "gpg not installed (apt-get install gnupg)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    root = tmp_path_factory.mktemp("gpg")
    home = root / "h"  # short: gpg-agent's socket path must stay short
    home.mkdir(mode=0o700)
    lms = _new_key(home, "LMS <lms@filebridge.example>", PASSPHRASE)
    hr = _new_key(home, "HR <hr@acme.example>", "")
    stranger = _new_key(home, "Mallory <m@evil.example>", "")
    out = root / "keys"
    out.mkdir()
    private = out / "lms-private.asc"
    private.write_bytes(subprocess.run(
        ["gpg", "--homedir", str(home), "--batch", "--pinentry-mode", "loopback",
         "--passphrase", PASSPHRASE, "--armor", "--export-secret-keys", lms],
        check=True, capture_output=True).stdout)
    private.chmod(0o600)
    publics = {}
    for name, fpr in (("hr", hr), ("stranger", stranger)):
        publics[name] = out / f"{name}-public.asc"
        publics[name].write_bytes(subprocess.run(
            ["gpg", "--homedir", str(home), "--armor", "--export", fpr], check=True,
            capture_output=True).stdout)
    yield GpgKeys(home, lms, hr, stranger, private, publics["hr"], publics["stranger"])
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False,
                   capture_output=True)


def stop_agent(home: Path) -> None:
    """Stop the gpg-agent a test's connection keyring started."""
    if home.exists():
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False,
                       capture_output=True)
