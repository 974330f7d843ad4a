"""Bytes to rows and back: CSV dialects and encodings, XML record paths, XLSX, JSON,
zip/gzip drops, reject files in the source's spelling, safe writing.

This box knows how files are spelled, never what their columns mean. Readers return a
``Table`` (text columns, source lines, row problems) or raise ``FileRejected``;
``read_source`` is the one way in for an import.
"""

from filebridge.formats.csv_reader import read_csv
from filebridge.formats.csv_writer import neutralize_formula, write_csv
from filebridge.formats.dialect import CsvDialect
from filebridge.formats.errors import CannotEncode, FileRejected
from filebridge.formats.table import ReadLimits, Table
from filebridge.formats.xml_reader import XmlLayout, read_xml
from filebridge.formats.xml_writer import XmlWriteLayout, write_xml

__all__ = [
    "CannotEncode",
    "CsvDialect",
    "FileRejected",
    "ReadLimits",
    "Table",
    "XmlLayout",
    "XmlWriteLayout",
    "neutralize_formula",
    "read_csv",
    "read_xml",
    "write_csv",
    "write_xml",
]
