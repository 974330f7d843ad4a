"""How a mapping's ``format`` block and a connection's ``pgp`` settings become what the
formats box reads with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from filebridge.config.errors import SecretError
from filebridge.config.secrets import resolve_secret
from filebridge.formats.dialect import CsvDialect
from filebridge.formats.json_reader import JsonLayout
from filebridge.formats.pgp import PgpKeys
from filebridge.formats.source import SourceLayout
from filebridge.formats.xlsx_reader import SheetLayout
from filebridge.formats.xml_reader import XmlLayout
from filebridge.mapping import Mapping
from filebridge.pipeline.context import Context


def source_layout(mapping: Mapping) -> SourceLayout:
    """The reader and layout for files of ``mapping``."""
    fmt = mapping.format
    if fmt.type == "xml":
        return SourceLayout("xml", xml=XmlLayout(fmt.record_path, mapping.sources,
                                                 dict(fmt.namespaces)))
    if fmt.type == "json":
        return SourceLayout("json", json=JsonLayout(fmt.record_path, mapping.sources,
                                                    fmt.json_lines))
    if fmt.type == "xlsx":
        return SourceLayout("xlsx", sheet=SheetLayout(fmt.sheet))
    return SourceLayout("csv", CsvDialect(fmt.delimiter, fmt.quotechar, fmt.encoding,
                                          quoting=fmt.quoting,
                                          record_terminator=fmt.record_terminator))


def connection_pgp(ctx: Context, connection: str) -> PgpKeys | None:
    """The connection's PGP keys for reading and writing its files (None: no pgp)."""
    return pgp_keys(ctx.settings.state_dir, connection, ctx.connection(connection).pgp)


def pgp_keys(state_dir: Path, connection: str, pgp: dict[str, Any]) -> PgpKeys | None:
    """The connection's PGP keys (secrets resolved now), or None without ``pgp`` settings.

    A key that cannot be loaded never raises here: the keys say why, and each file of
    the connection is then refused with that reason and recorded like any bad file.
    """
    if not pgp:
        return None
    home = state_dir / "gnupg" / connection
    try:
        texts = {k: _key_text(k, pgp[k]) for k in ("private_key", "passphrase", "signer_key",
                                                   "encrypt_to") if pgp.get(k)}
    except (SecretError, OSError) as exc:
        return PgpKeys(home, require_encryption=bool(pgp.get("require_encryption")),
                       unusable=str(exc))
    return PgpKeys(home, texts.get("private_key"), texts.get("passphrase"),
                   bool(pgp.get("require_encryption")), texts.get("signer_key"),
                   texts.get("encrypt_to"))


def _key_text(key: str, value: str) -> str:
    if key in ("private_key", "passphrase"):
        return resolve_secret(value)
    try:
        return Path(value).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise OSError(f"pgp.{key}: cannot read {value}: "
                      f"{getattr(exc, 'strerror', None) or exc}") from None
