"""One way in for every file: size check, archive unpacking, then the declared reader.

``read_source`` is what an import calls. The file's bytes are checked against the size
limit before reading, a zip or gzip drop is unpacked (``filebridge.formats.archive``),
and the reader the layout names turns the data into a ``Table``. The table keeps a way to
get the same bytes again, for the reject file.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from filebridge.formats.archive import GZIP_MAGIC, check_zip_sizes, is_archive, unpack
from filebridge.formats.csv_reader import read_csv_bytes
from filebridge.formats.decoding import check_size, read_bounded
from filebridge.formats.dialect import CsvDialect
from filebridge.formats.errors import rejected
from filebridge.formats.json_reader import JsonLayout, read_json_bytes
from filebridge.formats.pgp import PgpKeys, unwrap
from filebridge.formats.table import DEFAULT_LIMITS, ReadLimits, Table
from filebridge.formats.xlsx_reader import SheetLayout, read_xlsx_bytes
from filebridge.formats.xml_reader import XmlLayout, read_xml_stream

Kind = Literal["csv", "xml", "json", "xlsx"]


@dataclass(frozen=True)
class SourceLayout:
    """Which reader, and its layout: a CSV dialect, an XML or JSON layout, or a sheet."""

    kind: Kind = "csv"
    dialect: CsvDialect = CsvDialect()
    xml: XmlLayout | None = None
    json: JsonLayout | None = None
    sheet: SheetLayout = SheetLayout()


def file_bytes(path: Path, limits: ReadLimits, name: str, *, zip_is_data: bool = False,
               pgp: PgpKeys | None = None) -> tuple[bytes, str]:
    """The data's bytes (decrypted, unpacked from a zip or gzip drop) and the name problems
    use. ``zip_is_data``: a zip is the data itself (an xlsx workbook is), only gzip unpacks.
    """
    raw = read_bounded(path, limits.max_file_bytes, name)
    if pgp is not None:
        raw = unwrap(raw, pgp, name)
    elif raw[:64].lstrip().startswith(b"-----BEGIN PGP MESSAGE-----"):
        raise rejected(name, "pgp-not-configured", "the file is a PGP message but the "
                       "connection has no pgp settings to decrypt it (pgp.private_key)")
    if zip_is_data and not raw.startswith(GZIP_MAGIC):
        return raw, name
    if is_archive(raw[:4]):
        inner = unpack(raw, limits.max_file_bytes, name)
        return inner.data, inner.name
    return raw, name


def _starts_archive(path: Path, limits: ReadLimits, name: str) -> bool:
    check_size(path, limits.max_file_bytes, name)
    with open(path, "rb") as f:
        return is_archive(f.read(4))


def read_source(path: Path, layout: SourceLayout, limits: ReadLimits = DEFAULT_LIMITS, *,
                name: str | None = None, pgp: PgpKeys | None = None) -> Table:
    """Read the file at ``path`` with the layout's reader; ``name`` is the file in problems;
    ``pgp``: the connection's keys, when its drops may be (or must be) encrypted."""
    display = name or path.name
    if layout.kind == "xml" and pgp is None and not _starts_archive(path, limits, display):
        assert layout.xml is not None, "an XML source needs its XmlLayout"
        with open(path, "rb") as stream:  # streamed: memory bounded by one record
            return read_xml_stream(stream, layout.xml, limits, display)
    raw, file = file_bytes(path, limits, display, zip_is_data=layout.kind == "xlsx", pgp=pgp)
    if layout.kind == "xml":
        assert layout.xml is not None, "an XML source needs its XmlLayout"
        table = read_xml_stream(io.BytesIO(raw), layout.xml, limits, file)
    elif layout.kind == "json":
        assert layout.json is not None, "a JSON source needs its JsonLayout"
        table = read_json_bytes(raw, layout.json, limits, file)
    elif layout.kind == "xlsx":
        check_zip_sizes(raw, limits.max_file_bytes, file)
        table = read_xlsx_bytes(raw, layout.sheet, limits, file)
    else:
        table = read_csv_bytes(raw, layout.dialect, limits, file)
        table.source = lambda: file_bytes(path, limits, display, pgp=pgp)[0]
    return table
