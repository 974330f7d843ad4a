"""Files as HR systems really send them, end to end: Excel CSV, joined exports, encoding
drift, and a reject file fixed by HR and dropped again."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from filebridge.cli.main import main
from filebridge.pipeline.context import Context
from tests.pipeline.conftest import NIGHT1, NIGHT2
from tests.pipeline.files import apply, by_id, person, read_rows

HEADER = list(read_rows(NIGHT1)[0])
DATA = Path(__file__).resolve().parents[1] / "data" / "formats"


def excel_saved(source: Path, target: Path) -> Path:
    """``source`` as Excel saves a sheet whose used range is wider: ``,,,`` everywhere."""
    lines = source.read_bytes().split(b"\r\n")
    out = [lines[0] + b",,,"]
    for i, line in enumerate(lines[1:]):
        if line:
            out.append(line + b",,,")
        if i % 40 == 0:
            out.append(b"," * (len(HEADER) + 2))
    target.write_bytes(b"\r\n".join(out) + b"\r\n")
    return target


def test_excel_saved_nights_apply_and_a_clean_night_is_not_held(ctx: Context, tmp_path: Path):
    first = apply(ctx, excel_saved(NIGHT1, tmp_path / "acme_employees_2026-11-24.csv"))
    plain = NIGHT1.read_bytes().count(b"\r\n") - 1
    assert first.state == "applied" and first.rows == plain
    assert first.rejected_rows == 6  # the sample's own bad rows, no blank row among them
    assert [w.code for w in first.warnings if w.code == "empty-header"] == []
    assert [p.code for p in first.problems].count("empty-header") == 3
    second = apply(ctx, excel_saved(NIGHT2, tmp_path / "acme_employees_2026-11-25.csv"))
    assert second.state == "applied" and not second.holds


def test_joined_export_with_swapped_columns_is_unusable(ctx: Context, tmp_path: Path, capsys):
    apply(ctx, NIGHT1)
    before = ctx.store.users("acme")
    night = NIGHT2.read_bytes().split(b"\r\n")
    swapped = [b"First Name,Employee ID" + night[0].partition(b"Employee ID")[2]]
    joined = tmp_path / "acme_employees_2026-11-25.csv"
    joined.write_bytes(b"\r\n".join([*night[:101], *swapped, *night[101:]]))
    report = apply(ctx, joined)
    assert report.state == "rejected"
    assert [(p.code, p.line) for p in report.problems] == [("repeated-header", 102)]
    assert ctx.store.users("acme").equals(before)
    settings = str(ctx.settings.path)
    assert main(["plan", "acme", str(joined), "--settings", settings]) == 2
    assert "line 102 repeats the header" in capsys.readouterr().out


def test_utf8_night_under_a_cp1252_mapping_is_refused_not_mojibake(ctx: Context,
                                                                   tmp_path: Path, capsys):
    apply(ctx, NIGHT1)
    mapping = Path(ctx.settings.path).parent / "mappings" / "acme.yaml"
    mapping.write_text(mapping.read_text(encoding="utf-8").replace(
        "encoding: utf-8 ", "encoding: cp1252"), encoding="utf-8")
    night = tmp_path / "acme_employees_2026-11-25.csv"
    night.write_bytes(NIGHT2.read_bytes().removeprefix(b"\xef\xbb\xbf"))
    report = apply(ctx, night)
    assert report.state == "rejected"
    [problem] = report.problems
    assert problem.code == "encoding-mismatch" and "the file is UTF-8" in problem.message
    assert person(ctx, "001028")["first_name"] == "José"
    settings = str(ctx.settings.path)
    assert main(["plan", "acme", str(night), "--settings", settings]) == 2
    assert "the file is UTF-8" in capsys.readouterr().out


def test_a_fixed_reject_file_dropped_again_is_a_delta(ctx: Context, tmp_path: Path):
    first = apply(ctx, NIGHT1)
    rejects = Path(first.reject_file).read_bytes()
    active = len(ctx.store.users("acme", active=True))
    fixed = rejects.replace(b"001040,,Eva", b"001040,eva.dubois40@acme.example,Eva")
    again = tmp_path / "acme_employees_2026-11-24-fixed.csv"
    again.write_bytes(fixed)
    report = apply(ctx, again)
    assert report.state == "applied"
    assert report.counts["create"] == 1 and report.counts["deactivate"] == 0
    assert len(ctx.store.users("acme", active=True)) == active + 1
    eva = person(ctx, "001040")
    assert eva["email"] == "eva.dubois40@acme.example"
    assert eva["phone"] == "+469208606"  # as the source spelled it, without a "'" prefix


def _remap(ctx: Context, old: str, new: str, columns_to_paths: bool = False) -> None:
    mapping = Path(ctx.settings.path).parent / "mappings" / "acme.yaml"
    text = mapping.read_text(encoding="utf-8")
    assert old in text
    text = text.replace(old, new)
    if columns_to_paths:
        text = text.replace("column: ", "path: ")
    mapping.write_text(text, encoding="utf-8")


def test_a_zip_drop_applies_like_the_file_inside(ctx: Context, tmp_path: Path):
    import zipfile

    drop = tmp_path / "acme_employees_2026-11-24.zip"
    with zipfile.ZipFile(drop, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(NIGHT1, NIGHT1.name)
    report = apply(ctx, drop)
    assert report.state == "applied" and report.counts["create"] == 194
    assert report.problems[0].file == f"{drop.name}!{NIGHT1.name}"
    assert Path(report.reject_file).read_bytes().startswith(b"\xef\xbb\xbfEmployee ID,")


def test_an_xlsx_night_with_date_cells_serials_and_text_dates(ctx: Context, tmp_path: Path):
    _remap(ctx, "  type: csv ", "  type: xlsx\n  sheet: Employees\n ")
    _remap(ctx, '    date_format: "%d/%m/%Y"   #',
           '    date_format: ["%Y-%m-%d", excel, "%d/%m/%Y"] #')
    drop = tmp_path / "acme_employees_2026-11-24.xlsx"
    drop.write_bytes((DATA / "acme_employees.xlsx").read_bytes())
    report = apply(ctx, drop)
    assert report.state == "applied" and report.counts["create"] == 194
    rows = read_rows(NIGHT1)
    # 001000 is a date cell, 001001 a serial day number, 001002 text as in the CSV.
    for employee in ("001000", "001001", "001002"):
        text = by_id(rows, employee)["Hire Date"]
        expected = datetime.strptime(text, "%d/%m/%Y").date().isoformat()
        assert str(person(ctx, employee)["hire_date"]) == expected


def test_a_json_night_applies_like_the_csv(ctx: Context, tmp_path: Path):
    import json

    _remap(ctx, "  type: csv ", "  type: json\n  record_path: data.employees\n ",
           columns_to_paths=True)
    drop = tmp_path / "acme_employees_2026-11-24.json"
    drop.write_text(json.dumps({"data": {"employees": read_rows(NIGHT1)}}, indent=1,
                               ensure_ascii=False), encoding="utf-8")
    report = apply(ctx, drop)
    assert report.state == "applied" and report.counts["create"] == 194
    assert person(ctx, "001028")["first_name"] == "José"
