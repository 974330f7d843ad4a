"""PGP-encrypted drops and exports, through python-gnupg over the system's GnuPG.

python-gnupg drives Debian's ``gpg`` binary, the implementation HR systems test against
and that security teams already patch; it needs no compiler and no Rust toolchain (unlike
pysequoia), and gpg's own keyring format is what operators inspect with ``gpg --homedir``.
Each connection has its own keyring (``STATE/gnupg/CONNECTION``, mode 0700), filled at
use from the configured key files, so one HR system's key never decrypts another's drop.
Keys and passphrases come from files or the environment (resolved by the caller), never
from YAML, and never appear in a message.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import gnupg

from filebridge.errors import Terminal
from filebridge.formats.errors import FileRejected, rejected

_ARMOR: Final = b"-----BEGIN PGP MESSAGE-----"
# Packet tags a binary OpenPGP message starts with: public- or symmetric-key encrypted
# session key (1, 3), one-pass signature (4), compressed data (8).
_FIRST_TAGS: Final = frozenset({1, 3, 4, 8})


@dataclass(frozen=True)
class PgpKeys:
    """A connection's PGP setup: its keyring folder and the armored keys to put in it.

    ``private_key`` decrypts drops (``passphrase`` unlocks it); ``signer_key`` is the HR
    side's public key, and when given every drop must carry its valid signature;
    ``encrypt_to`` is the HR side's public key that exports are encrypted to.
    """

    home: Path
    private_key: str | None = None
    passphrase: str | None = field(default=None, repr=False)
    require_encryption: bool = False
    signer_key: str | None = None
    encrypt_to: str | None = None
    #: Why the configured keys could not be loaded (a missing file or variable): every
    #: file of the connection is then refused with this reason, and the run recorded.
    unusable: str | None = None


def is_pgp(head: bytes) -> bool:
    """Whether ``head`` (a file's first bytes) starts an armored or binary PGP message."""
    if head.lstrip().startswith(_ARMOR):
        return True
    if not head or not head[0] & 0x80:
        return False
    first = head[0]
    tag = first & 0x3F if first & 0x40 else (first >> 2) & 0x0F
    return tag in _FIRST_TAGS


#: gpg's agent listens on sockets inside its home ("S.gpg-agent.browser"), and a Unix
#: socket path holds at most 107 bytes: a home deeper than this is reached by a short link.
_LONGEST_HOME: Final = 80


def _short_home(home: Path) -> Path:
    """``home``, or a short link to it when gpg's sockets would not fit under it.

    The link lives in a folder of the temporary directory that only this user owns and
    can enter; a folder owned by someone else, or open to others, is refused.
    """
    if len(str(home)) <= _LONGEST_HOME:
        return home
    links = Path(tempfile.gettempdir()) / f"filebridge-gpg-{os.getuid()}"
    links.mkdir(mode=0o700, exist_ok=True)
    info = links.lstat()
    if links.is_symlink() or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise PgpSetupError(f"{links} is not a private folder of this user; gpg's sockets "
                            f"for {home} cannot be placed safely (remove it, or use a "
                            f"shorter state_dir)")
    link = links / hashlib.sha256(str(home).encode()).hexdigest()[:16]
    if not (link.is_symlink() and os.readlink(link) == str(home)):
        link.unlink(missing_ok=True)
        link.symlink_to(home)
    return link


def _gpg(keys: PgpKeys) -> gnupg.GPG:
    keys.home.mkdir(parents=True, exist_ok=True)
    os.chmod(keys.home, 0o700)  # gpg refuses, and others could read, a group-readable home
    return gnupg.GPG(gnupghome=str(_short_home(keys.home)))


def _import(gpg: gnupg.GPG, armored: str, what: str, file: str) -> list[str]:
    result = gpg.import_keys(armored)
    if not result.fingerprints:
        raise rejected(file, "pgp-bad-key", f"the connection's {what} could not be imported "
                       f"into its keyring ({result.summary() or 'no key found'}); check pgp "
                       f"in settings.yaml")
    return list(result.fingerprints)


def unwrap(raw: bytes, keys: PgpKeys, file: str) -> bytes:
    """The plaintext of the PGP drop ``raw``; a plaintext drop passes unless encryption is
    required. With a signer key, the drop must be signed by it with a valid signature."""
    if keys.unusable:
        raise rejected(file, "pgp-key-unreadable", f"the connection's PGP keys cannot be "
                       f"loaded: {keys.unusable}; nothing was read")
    if not is_pgp(raw[:64]):
        if keys.require_encryption:
            raise rejected(file, "pgp-required",
                           "the file is not PGP-encrypted but the connection requires it "
                           "(pgp.require_encryption); nothing was read")
        return raw
    if keys.private_key is None:
        raise rejected(file, "pgp-no-key", "the file is PGP-encrypted but the connection has "
                       "no private key to decrypt it (pgp.private_key)")
    gpg = _gpg(keys)
    _import(gpg, keys.private_key, "private key (pgp.private_key)", file)
    signers = _import(gpg, keys.signer_key, "signer key (pgp.signer_key)", file) \
        if keys.signer_key else []
    result = gpg.decrypt(raw, passphrase=keys.passphrase)
    if not result.ok:
        raise rejected(file, "pgp-undecryptable", f"the file cannot be decrypted with the "
                       f"connection's private key: {_status(result)}")
    if signers:
        _check_signature(gpg, result, signers, file)
    return bytes(result.data)


def _check_signature(gpg: gnupg.GPG, result: gnupg.Crypt, signers: list[str], file: str
                     ) -> None:
    signed_by = {result.fingerprint, result.pubkey_fingerprint} - {None}
    subkeys = {sub for key in gpg.list_keys() if key["fingerprint"] in signers
               for sub in key.get("subkeys_fingerprints", []) or []}
    if not result.valid or not signed_by & (set(signers) | subkeys):
        found = "no signature" if not result.signature_id and not result.fingerprint else (
            f"a signature that is not valid from the signer key ({_status(result)})")
        raise rejected(file, "pgp-bad-signature",
                       f"the file carries {found}; the connection requires a valid signature "
                       f"by its signer key (pgp.signer_key); nothing was read")


def _status(result: gnupg.Crypt) -> str:
    text = (result.status or "").strip() or "unknown error"
    return re.sub(r"\s+", " ", text)[:200]


def encrypt_for_delivery(data: bytes, keys: PgpKeys, file: str) -> bytes:
    """``data`` encrypted (binary OpenPGP) to the HR side's public key ``keys.encrypt_to``."""
    if keys.encrypt_to is None:
        return data
    if keys.unusable:
        raise EncryptionFailed(file, keys.unusable)
    gpg = _gpg(keys)
    try:
        recipients = _import(gpg, keys.encrypt_to, "export key (pgp.encrypt_to)", file)
    except FileRejected as exc:
        raise EncryptionFailed(file, exc.problems[0].message) from None
    result = gpg.encrypt(data, recipients[0], always_trust=True, armor=False)
    if not result.ok:
        raise EncryptionFailed(file, _status(result))
    return bytes(result.data)


class PgpSetupError(Terminal):
    """gpg's home for a connection cannot be used safely."""

    code = "pgp-setup"


class EncryptionFailed(Terminal):
    """An export could not be encrypted to the HR side's key (``pgp.encrypt_to``)."""

    code = "pgp-encrypt-failed"

    def __init__(self, file: str, reason: str) -> None:
        super().__init__(file, reason)
        self.file = file
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.file}: cannot be encrypted to pgp.encrypt_to: {self.reason}"
