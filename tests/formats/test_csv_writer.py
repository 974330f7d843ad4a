"""write_csv: golden output, formula neutralisation, encodings, atomic replacement."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from filebridge.errors import Terminal
from filebridge.formats import CannotEncode, CsvDialect, neutralize_formula, read_csv, write_csv

DATA = Path(__file__).parent.parent / "data" / "formats"


def small_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "employee_id": ["000123", "000124", "000125"],
        "name": ["Smith, Anna", "Zoë", '=HYPERLINK("x")'],
        "note": ['He said "hi"', "two\nlines", ""],
        "amount": ["-12.5", "", None],
    })


@pytest.mark.parametrize(("terminator", "golden"), [("\r\n", "writer_crlf.csv"),
                                                    ("\n", "writer_lf.csv")])
def test_golden_output(tmp_path: Path, terminator: str, golden: str) -> None:
    out = tmp_path / "out.csv"
    write_csv(out, small_frame(), CsvDialect(line_terminator=terminator),
              neutralize_formulas=("name", "note"))
    assert out.read_bytes() == (DATA / golden).read_bytes()


@pytest.mark.parametrize(("value", "expected"), [
    ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
    ("+1", "'+1"),
    ("-1", "'-1"),
    ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
    ("\t=1+2", "'\t=1+2"),
    ("\r=1+2", "'\r=1+2"),
    ("a=b", "a=b"),
    ("", ""),
    ("'=already", "'=already"),
])
def test_neutralize_formula(value: str, expected: str) -> None:
    assert neutralize_formula(value) == expected


def test_formula_cells_are_neutralised_in_every_column_by_default(tmp_path: Path) -> None:
    evil = ["=cmd|' /C calc'!A0", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", "plain"]
    out = tmp_path / "out.csv"
    write_csv(out, pd.DataFrame({"a": evil, "b": evil}), CsvDialect())
    back = read_csv(out, CsvDialect())
    expected = [neutralize_formula(v) for v in evil]
    assert back.frame["a"].tolist() == expected and back.frame["b"].tolist() == expected
    assert expected[:6] == ["'" + v for v in evil[:6]]


def test_a_column_left_out_of_neutralisation_keeps_negative_numbers(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    frame = pd.DataFrame({"name": ["=x", "-y"], "amount": ["-12.5", "+3"]})
    write_csv(out, frame, CsvDialect(), neutralize_formulas=["name"])
    back = read_csv(out, CsvDialect()).frame
    assert back["amount"].tolist() == ["-12.5", "+3"]
    assert back["name"].tolist() == ["'=x", "'-y"]


def test_neutralising_an_unknown_column_is_a_programming_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'nmae'"):
        write_csv(tmp_path / "o.csv", small_frame(), CsvDialect(), neutralize_formulas=["nmae"])
    assert list(tmp_path.iterdir()) == []


def test_neutralisation_off(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    write_csv(out, pd.DataFrame({"a": ["=1"]}), CsvDialect(), neutralize_formulas=False)
    assert out.read_bytes() == b"a\r\n=1\r\n"


def test_non_text_values_and_missing_values(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    frame = pd.DataFrame({"n": [1, 2], "f": [1.5, None], "o": ["x", None]})
    write_csv(out, frame, CsvDialect(line_terminator="\n"), neutralize_formulas=False)
    assert out.read_bytes() == b"n,f,o\n1,1.5,x\n2,,\n"


def test_single_column_empty_value_survives(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    write_csv(out, pd.DataFrame({"only": ["a", "", "b"]}), CsvDialect(line_terminator="\n"))
    assert out.read_bytes() == b'only\na\n""\nb\n'
    assert read_csv(out, CsvDialect()).frame["only"].tolist() == ["a", "", "b"]


def test_lone_cr_is_quoted_even_with_lf_terminator(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    write_csv(out, pd.DataFrame({"a": ["x\ry"], "b": ["z"]}), CsvDialect(line_terminator="\n"))
    assert out.read_bytes() == b'a,b\n"x\ry",z\n'


@pytest.mark.parametrize("encoding", ["utf-16", "cp1252", "utf-8-sig"])
def test_declared_encodings_round_trip(tmp_path: Path, encoding: str) -> None:
    out = tmp_path / "out.csv"
    dialect = CsvDialect(";", encoding=encoding)
    write_csv(out, pd.DataFrame({"name": ["Zoë", "José"], "city": ["Köln", "€"]}), dialect)
    back = read_csv(out, dialect)
    assert back.frame.to_dict("list") == {"name": ["Zoë", "José"], "city": ["Köln", "€"]}


def test_atomic_write_replaces_and_leaves_no_temp_file(tmp_path: Path) -> None:
    out = tmp_path / "export.csv"
    out.write_bytes(b"old content\n")
    write_csv(out, small_frame(), CsvDialect())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export.csv"]
    assert out.read_bytes().startswith(b"employee_id,name,note,amount\r\n")


def test_unencodable_value_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    out = tmp_path / "export.csv"
    out.write_bytes(b"old content\n")
    with pytest.raises(CannotEncode) as info:
        write_csv(out, pd.DataFrame({"id": ["1", "2"], "name": ["Zoë", "李"]}),
                  CsvDialect(encoding="cp1252"))
    assert isinstance(info.value, Terminal)
    assert (info.value.column, info.value.row, info.value.character) == ("name", 2, "李")
    assert out.read_bytes() == b"old content\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export.csv"]


def test_many_rows_are_written_in_chunks_in_order(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    n = 250_001  # crosses the writer's chunk size twice
    frame = pd.DataFrame({"id": [f"{i:06d}" for i in range(n)], "v": ["x"] * n})
    write_csv(out, frame, CsvDialect())
    back = read_csv(out, CsvDialect())
    assert back.frame["id"].tolist() == frame["id"].tolist()
    assert back.lines[-1] == n + 1


def test_quoting_and_formula_guard_are_the_same_on_both_sides_of_a_chunk(
        tmp_path: Path) -> None:
    # Each chunk of rows is quoted and guarded on its own: a chunk with nothing to quote
    # or guard next to one with both must write every record as a single chunk would.
    n = 200_003
    names = ["plain"] * n
    names[99_999], names[100_000], names[-1] = "=SUM(A1)", 'say "hi"', "a,b"
    frame = pd.DataFrame({"id": [str(i) for i in range(n)], "name": names})
    out = tmp_path / "out.csv"
    write_csv(out, frame, CsvDialect(), neutralize_formulas=("name",))
    lines = out.read_bytes().decode("utf-8").split("\r\n")
    assert lines[0] == "id,name"
    assert lines[100_000] == "99999,'=SUM(A1)"
    assert lines[100_001] == '100000,"say ""hi"""'
    assert lines[n] == f'{n - 1},"a,b"'
    assert lines[2] == "1,plain" and lines[-1] == ""
    assert len(lines) == n + 2


def test_a_frame_without_columns_writes_an_empty_header_line(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    write_csv(out, pd.DataFrame(index=range(3)), CsvDialect())
    assert out.read_bytes() == b"\r\n"
