"""Recognising files by their layout: reject files written here, and formats not read here.

A reject file is the source's own header and rejected records, in the source's spelling,
with one more column named ``REJECT_MARKER_COLUMN`` at the end. That last column is how a
fixed reject file dropped again is recognised, whatever it is named: it is read as a
delta (only the people it lists), never as a snapshot, and the column itself is ignored.

Oracle HCM Data Loader files (``.dat``: ``METADATA|Worker|…`` then ``MERGE|Worker|…``
lines) describe operations on business objects, not a table of people; they are refused
whole with a message that says what they are.
"""

from __future__ import annotations

import re
from typing import Final

from filebridge.formats.errors import rejected

#: The last column of every reject file: the reasons its row was rejected.
REJECT_MARKER_COLUMN: Final = "filebridge_error"

# A line starting METADATA|<object>| near the top (after COMMENT/SET lines, or a
# header some tools add): an HDL file, whatever its delimiter setting says.
_HDL: Final = re.compile(rb"(?m)^\s*METADATA\|([A-Za-z]\w*)\|")
_PEEK: Final = 64 << 10


def refuse_foreign_layout(body: bytes, file: str) -> None:
    """Refuse a file whose first lines show a layout filebridge does not read (HDL)."""
    hdl = _HDL.search(body[:_PEEK])
    if hdl:
        obj = hdl.group(1).decode("ascii")
        raise rejected(file, "hdl-file",
                       f"this is an Oracle HCM Data Loader file (METADATA|{obj} and MERGE "
                       f"lines), a list of operations rather than a table of people; it is "
                       f"refused as a whole. Export the workers as a delimited report "
                       f"(e.g. an HCM Extract or BI Publisher report) instead",
                       line=body[:hdl.start(1)].count(b"\n") + 1)
