"""How a CSV file is spelled: delimiter, quoting, encoding, line and record terminators."""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from typing import Final, Literal

#: The delimiters HR systems actually use; anything else is almost surely a configuration typo.
DELIMITERS: Final[tuple[str, ...]] = (",", ";", "|", "\t")

#: minimal: a value may be quoted (RFC 4180); none: the quote character is ordinary text.
Quoting = Literal["minimal", "none"]
QUOTINGS: Final[tuple[Quoting, ...]] = ("minimal", "none")


@dataclass(frozen=True)
class CsvDialect:
    """The declared spelling of a CSV file.

    ``encoding`` is the declared encoding (any Python codec name: utf-8, utf-8-sig, cp1252,
    latin-1, utf-16 ...); when reading, a byte-order mark in the file wins over it.
    ``line_terminator`` is only used for writing; the reader accepts CRLF, LF and CR.
    ``quoting`` ``none`` reads every character literally (pipe exports that never quote:
    ``"Senior" Analyst`` stays as it is). ``record_terminator`` (only with ``quoting``
    ``none``) is text that ends every record just before its line break, for exports
    that mark record ends: a line break without it is part of a value.
    """

    delimiter: str = ","
    quotechar: str = '"'
    encoding: str = "utf-8"
    line_terminator: str = "\r\n"
    quoting: Quoting = "minimal"
    record_terminator: str = ""

    def __post_init__(self) -> None:
        if self.delimiter not in DELIMITERS:
            raise ValueError(f"delimiter must be one of {DELIMITERS!r}, not {self.delimiter!r}")
        if len(self.quotechar) != 1 or self.quotechar in (self.delimiter, "\r", "\n"):
            raise ValueError(f"quotechar must be one character other than the delimiter and "
                             f"line ends, not {self.quotechar!r}")
        if self.line_terminator not in ("\r\n", "\n", "\r"):
            raise ValueError(f"line_terminator must be CRLF, LF or CR, "
                             f"not {self.line_terminator!r}")
        if self.quoting not in QUOTINGS:
            raise ValueError(f"quoting must be one of {QUOTINGS!r}, not {self.quoting!r}")
        if self.record_terminator:
            if self.quoting != "none":
                raise ValueError("record_terminator needs quoting 'none'")
            if any(ch in self.record_terminator for ch in (self.delimiter, "\r", "\n")):
                raise ValueError(f"record_terminator must not contain the delimiter or a line "
                                 f"break, not {self.record_terminator!r}")
        codecs.lookup(self.encoding)  # LookupError now beats a confusing failure mid-run

    @property
    def codec(self) -> str:
        """The canonical Python codec name of the declared encoding (``utf-8``, ``cp1252`` ...)."""
        return codecs.lookup(self.encoding).name
