"""Write a frame as XML: one record element per row, one child element per column.

Values are escaped as text, never markup, and characters XML 1.0 cannot hold
(most C0 controls, lone surrogates) are refused with ``CannotEncode`` rather than
silently dropped. Characters the declared encoding lacks become character
references, which every XML reader understands. The file is replaced atomically.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from xml.sax.saxutils import escape, quoteattr

import pandas as pd

from filebridge.durable import fsync_folder
from filebridge.formats.errors import CannotEncode

#: Element names we write: a safe subset of XML names (no colon, so no namespace games).
XML_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9._-]*$")
_NOT_XML: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


@dataclass(frozen=True)
class XmlWriteLayout:
    """Element layout of a written file: ``<root><record><Column>…</Column></record></root>``."""

    root: str = "Records"
    record: str = "Record"
    namespace: str | None = None
    indent: str = "  "

    def __post_init__(self) -> None:
        for name in (self.root, self.record):
            if not XML_NAME.match(name):
                raise ValueError(f"{name!r} is not a usable XML element name")


def write_xml(path: Path, frame: pd.DataFrame, layout: XmlWriteLayout, *,
              encoding: str = "utf-8", line_terminator: str = "\n") -> None:
    """Write ``frame`` to ``path`` atomically; column names are the child element names."""
    names = [str(c) for c in frame.columns]
    for name in names:
        if not XML_NAME.match(name):
            raise ValueError(f"column {name!r} is not a usable XML element name")
    text = frame.astype("string").fillna("")
    _check_characters(path, text)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with open(fd, "wb") as fh:
            for piece in _document(text, names, layout, encoding, line_terminator):
                fh.write(piece.encode(encoding, "xmlcharrefreplace"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_folder(path.parent)


def _document(text: pd.DataFrame, names: list[str], layout: XmlWriteLayout, encoding: str,
              nl: str) -> Iterator[str]:
    # The declaration names the encoding actually used, so readers decode what we wrote.
    yield f'<?xml version="1.0" encoding={quoteattr(encoding.upper())}?>{nl}'
    xmlns = f" xmlns={quoteattr(layout.namespace)}" if layout.namespace else ""
    yield f"<{layout.root}{xmlns}>{nl}"
    one, two = layout.indent, layout.indent * 2
    for row in text.itertuples(index=False, name=None):
        cells = "".join(f"{two}<{n}>{escape(v)}</{n}>{nl}" if v else f"{two}<{n}/>{nl}"
                        for n, v in zip(names, row, strict=True))
        yield f"{one}<{layout.record}>{nl}{cells}{one}</{layout.record}>{nl}"
    yield f"</{layout.root}>{nl}"


def _check_characters(path: Path, text: pd.DataFrame) -> None:
    for i, name in enumerate(text.columns):
        # Python's re, not the Arrow kernel: RE2 cannot even hold a lone surrogate in a pattern.
        bad = text.iloc[:, i].map(lambda v: _NOT_XML.search(v) is not None).astype(bool)
        if bad.any():
            row = int(bad.to_numpy().argmax())
            value = str(text.iloc[row, i])
            char = _NOT_XML.search(value)
            raise CannotEncode(path.name, "XML 1.0", str(name), row + 1,
                               char.group(0) if char else "?")
