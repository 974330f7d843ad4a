"""The XML writer: escaping, characters XML cannot hold, encodings, atomic replacement."""

from __future__ import annotations

from pathlib import Path

import defusedxml.ElementTree as ET
import pandas as pd
import pytest

from filebridge.formats import CannotEncode, XmlWriteLayout, write_xml


def test_values_are_text_never_markup(tmp_path: Path) -> None:
    path = tmp_path / "out.xml"
    frame = pd.DataFrame({"Name": ["<b>&amp;</b>", "Zoë", None], "N": ["1", "", "3"]})
    write_xml(path, frame, XmlWriteLayout("Rows", "Row", "urn:x"), encoding="cp1252")
    root = ET.parse(path).getroot()
    rows = [[c.text or "" for c in r] for r in root]
    assert rows == [["<b>&amp;</b>", "1"], ["Zoë", ""], ["", "3"]]
    assert root.tag == "{urn:x}Rows"


def test_characters_outside_the_encoding_become_references(tmp_path: Path) -> None:
    path = tmp_path / "out.xml"
    write_xml(path, pd.DataFrame({"Name": ["李"]}), XmlWriteLayout(), encoding="latin-1")
    assert b"&#26446;" in path.read_bytes()
    assert ET.parse(path).getroot()[0][0].text == "李"


def test_control_characters_are_refused_and_nothing_is_written(tmp_path: Path) -> None:
    path = tmp_path / "out.xml"
    with pytest.raises(CannotEncode) as caught:
        write_xml(path, pd.DataFrame({"A": ["ok", "bad\x01"]}), XmlWriteLayout())
    assert (caught.value.column, caught.value.row) == ("A", 2)
    assert list(tmp_path.iterdir()) == []


def test_unusable_element_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        write_xml(tmp_path / "x.xml", pd.DataFrame({"Employee ID": ["1"]}), XmlWriteLayout())
