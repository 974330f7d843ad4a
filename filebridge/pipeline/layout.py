"""How a mapping's ``format`` block becomes the layout the formats box reads with."""

from __future__ import annotations

from filebridge.formats.dialect import CsvDialect
from filebridge.formats.json_reader import JsonLayout
from filebridge.formats.source import SourceLayout
from filebridge.formats.xlsx_reader import SheetLayout
from filebridge.formats.xml_reader import XmlLayout
from filebridge.mapping import Mapping


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
