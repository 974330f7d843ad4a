"""Files as HR systems really send them, end to end: Excel CSV, joined exports, encoding
drift, and a reject file fixed by HR and dropped again."""

from __future__ import annotations

from pathlib import Path

from filebridge.cli.main import main
from filebridge.pipeline.context import Context
from tests.pipeline.conftest import NIGHT1, NIGHT2
from tests.pipeline.files import apply, person, read_rows

HEADER = list(read_rows(NIGHT1)[0])


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
    assert [w["code"] for w in first.warnings if w["code"] == "empty-header"] == []
    assert [p["code"] for p in first.problems].count("empty-header") == 3
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
    assert [(p["code"], p["line"]) for p in report.problems] == [("repeated-header", 102)]
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
    assert problem["code"] == "encoding-mismatch" and "the file is UTF-8" in problem["message"]
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
