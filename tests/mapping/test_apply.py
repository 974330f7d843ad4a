"""Mapping: transforms, maps, dates, emails, templates, required fields, header drift."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from filebridge.mapping import MissingColumns, apply_mapping, check_columns, mapping_from_dict


def mapping(fields: dict, **top) -> object:
    return mapping_from_dict(Path("m.yaml"), {"version": 1, "fields": fields, **top})


def frame(rows: list[dict[str, str]]) -> tuple[pd.DataFrame, np.ndarray]:
    df = pd.DataFrame(rows).astype("str")
    return df, np.arange(2, len(rows) + 2)


BASE = {"employee_id": {"column": "id"}, "email": {"column": "mail", "required": True}}


def run(fields: dict, rows: list[dict[str, str]], **top):
    m = mapping({**BASE, **fields}, **top)
    df, lines = frame(rows)
    return apply_mapping(m, df, lines, "f.csv")


def test_transforms_run_in_order_and_keep_leading_zeros():
    r = run({"first_name": {"column": "fn", "transform": ["trim", "collapse_spaces", "upper"]},
             "phone": {"column": "ph", "transform": [
                 {"regex_replace": {"pattern": "[ ()-]", "replacement": ""}}]}},
            [{"id": "000123", "mail": "a@x.io", "fn": "  jo   ann ", "ph": "+44 (0)20 7946-0958"}])
    row = r.frame.iloc[0]
    assert (row["employee_id"], row["first_name"], row["phone"]) == ("000123", "JO ANN",
                                                                     "+4402079460958")
    assert not r.rejected.any()


def test_value_map_default_and_unmapped_code_is_a_row_error():
    fields = {"status": {"column": "st", "map": {"A": "active", "T": "inactive"}, "default": "A"}}
    r = run(fields, [{"id": "1", "mail": "a@x.io", "st": "T"},
                     {"id": "2", "mail": "b@x.io", "st": ""},
                     {"id": "3", "mail": "c@x.io", "st": "Q"}])
    assert r.frame["status"].tolist()[:2] == ["inactive", "active"]
    assert r.rejected.tolist() == [False, False, True]
    assert r.problems.flatten(["line", "column", "code", "value"]) == [
        [4, "st", "unmapped-value", "Q"]]


def test_map_default_catches_unknown_codes():
    fields = {"employee_type": {"column": "t", "map": {"FT": "full-time"}, "map_default": "other"}}
    r = run(fields, [{"id": "1", "mail": "a@x.io", "t": "ZZ"}])
    assert r.frame["employee_type"].tolist() == ["other"] and not r.rejected.any()


def test_dates_parse_only_with_declared_format():
    fields = {"hire_date": {"column": "d", "date_format": "%d/%m/%Y"}}
    r = run(fields, [{"id": "1", "mail": "a@x.io", "d": "01/02/2026"},
                     {"id": "2", "mail": "b@x.io", "d": "2026-02-01"},
                     {"id": "3", "mail": "c@x.io", "d": ""}])
    assert r.frame["hire_date"].tolist() == ["2026-02-01", "", ""]
    assert r.problems.flatten(["line", "code", "value"]) == [[3, "invalid-date", "2026-02-01"]]


def test_several_date_formats_first_match_wins():
    fields = {"hire_date": {"column": "d", "date_format": ["%Y-%m-%d", "%d.%m.%Y"]}}
    r = run(fields, [{"id": "1", "mail": "a@x.io", "d": "2026-03-04"},
                     {"id": "2", "mail": "b@x.io", "d": "04.03.2026"}])
    assert r.frame["hire_date"].tolist() == ["2026-03-04", "2026-03-04"]


@pytest.mark.parametrize("raw, expected", [
    ("Anna@Corp.COM ", "anna@corp.com"),
    (" bob.o'neil+lms@sub.corp.io", "bob.o'neil+lms@sub.corp.io"),
])
def test_emails_are_canonicalised(raw, expected):
    r = run({}, [{"id": "1", "mail": raw}])
    assert r.frame["email"].tolist() == [expected] and not r.rejected.any()


@pytest.mark.parametrize("raw", ["аnna@corp.com",  # Cyrillic а
                                 "anna＠corp.com", "anna@corp", "anna", "a b@corp.com",
                                 "zoë@corp.com"])
def test_lookalike_and_invalid_emails_are_rejected(raw):
    r = run({}, [{"id": "1", "mail": raw}])
    assert r.problems.flatten(["code"]) == [["invalid-email"]]


def test_required_blank_email_and_key_get_their_own_codes():
    r = run({}, [{"id": "", "mail": "a@x.io"}, {"id": "2", "mail": "  "}])
    assert r.problems.flatten(["line", "code"]) == [[2, "missing-key"], [3, "missing-email"]]
    assert r.rejected_keys() == {"2"}


def test_template_constant_and_custom_fields():
    r = run({"first_name": {"column": "fn"}, "last_name": {"column": "ln"},
             "custom.display_name": {"template": "{first_name} {last_name}"},
             "language": {"value": "en"}, "custom.cost_center": {"column": "cc"}},
            [{"id": "1", "mail": "a@x.io", "fn": "Zoë", "ln": "Smith, Jr.", "cc": "=1+2"}])
    row = r.frame.iloc[0]
    assert row["custom.display_name"] == "Zoë Smith, Jr."
    assert row["language"] == "en" and row["custom.cost_center"] == "=1+2"


def test_allowed_values():
    r = run({"country": {"column": "c", "transform": ["upper"], "allowed": ["DE", "FR"]}},
            [{"id": "1", "mail": "a@x.io", "c": "de"}, {"id": "2", "mail": "b@x.io", "c": "xx"}])
    assert r.problems.flatten(["line", "column", "code"]) == [[3, "c", "not-allowed"]]


def test_header_drift_names_missing_and_found_columns():
    m = mapping(BASE)
    with pytest.raises(MissingColumns) as exc:
        check_columns(m, ["id", "e-mail"], "f.csv")
    assert exc.value.missing == ["mail"]
    assert "'e-mail'" in str(exc.value) and "'mail'" in str(exc.value)


@pytest.mark.parametrize("policy, expected", [("ignore", []), ("warn", ["warning"]),
                                              ("reject", ["error"])])
def test_unknown_columns_policy(policy, expected):
    m = mapping(BASE, unknown_columns=policy)
    found = check_columns(m, ["id", "mail", "extra"], "f.csv")
    assert [p.severity for p in found] == expected


def test_error_cap_counts_the_rest():
    m = mapping(BASE, limits={"max_errors": 3})
    df, lines = frame([{"id": str(i), "mail": "bad"} for i in range(10)])
    r = apply_mapping(m, df, lines, "f.csv")
    assert len(r.problems.items) == 3 and r.problems.dropped == 7 and r.rejected.all()


text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)


@given(st.lists(st.tuples(text, text), min_size=1, max_size=30))
def test_mapping_never_loses_or_reorders_rows(rows):
    """Property: one output row per input row, same order and lines; rejected ⇔ a problem."""
    df = pd.DataFrame({"id": [r[0] for r in rows], "mail": [r[1] for r in rows]}).astype("str")
    lines = np.arange(2, len(rows) + 2) * 3  # any increasing line numbers
    r = apply_mapping(mapping(BASE), df, lines, "f.csv")
    assert r.frame["line"].tolist() == lines.tolist()
    assert r.frame["employee_id"].tolist() == [v for v, _ in rows]
    problem_lines = {p.line for p in r.problems.items}
    assert {int(n) for n, bad in zip(lines, r.rejected, strict=True) if bad} == problem_lines


def test_distinct_value_path_equals_the_row_path(monkeypatch):
    """Big files map each distinct value once; results and problems must not change."""
    import filebridge.mapping.apply as apply_module
    fields = {**BASE,
              "status": {"column": "st", "map": {"A": "active", "T": "inactive"}},
              "hire_date": {"column": "d", "date_format": "%d/%m/%Y"},
              "country": {"column": "c", "transform": ["trim", "upper"], "allowed": ["DE", "FR"]},
              "department": {"column": "dep", "transform": ["collapse_spaces"]}}
    pools = {"st": ["A", "T", "Q", ""], "d": ["01/02/2026", "31/12/2025", "2026-01-01", ""],
             "c": [" de", "fr ", "xx", ""], "dep": ["R  D", "Sales", " Ops "]}
    rows = [{"id": f"{i:05d}", "mail": f"p{i}@x.io" if i % 97 else "bad",
             **{k: v[i % len(v)] for k, v in pools.items()}} for i in range(5000)]
    m = mapping(fields)
    df, lines = frame(rows)
    fast = apply_mapping(m, df, lines, "f.csv")
    monkeypatch.setattr(apply_module, "DISTINCT_MIN_ROWS", 10**9)
    slow = apply_mapping(m, df, lines, "f.csv")
    pd.testing.assert_frame_equal(fast.frame, slow.frame)
    assert fast.rejected.tolist() == slow.rejected.tolist()
    key = ["line", "column", "code", "value", "message"]
    assert sorted(fast.problems.flatten(key)) == sorted(slow.problems.flatten(key))
    assert fast.problems.items  # the pools do contain bad values


def test_a_column_no_transform_changes_shares_the_source_memory():
    """A clean column (already trimmed, already lower-case) is not copied by mapping."""
    import pyarrow as pa
    rows = [{"id": f"{i:05d}", "mail": f"p{i}@x.io", "dep": ("Sales", "R&D")[i % 2]}
            for i in range(3000)]
    df, lines = frame(rows)
    fields = {**BASE, "department": {"column": "dep", "transform": ["trim"]}}
    r = apply_mapping(mapping(fields), df, lines, "f.csv")
    # Mostly distinct columns (mapped row by row) and repetitive ones (mapped per value).
    for field, column in (("employee_id", "id"), ("email", "mail"), ("department", "dep")):
        mapped, source = pa.array(r.frame[field]), pa.array(df[column])
        assert mapped.buffers()[2].address == source.buffers()[2].address
    dirty = [{"id": f" {i:05d}", "mail": f"P{i}@x.io"} for i in range(3000)]
    df, lines = frame(dirty)
    r = apply_mapping(mapping(BASE), df, lines, "f.csv")
    assert r.frame["email"].tolist()[:2] == ["p0@x.io", "p1@x.io"]  # changed: a new column


def test_trim_and_collapse_spaces_treat_no_break_spaces_as_spaces() -> None:
    from filebridge.mapping.columns import apply_transforms
    from filebridge.mapping.spec import Transform

    values = pd.Series(["\u00a0Anna\u00a0 \u00a0Berg\u00a0"], dtype="str")
    assert apply_transforms(values, (Transform("trim"),)).tolist() == ["Anna\u00a0 \u00a0Berg"]
    assert apply_transforms(values, (Transform("collapse_spaces"),)).tolist() == ["Anna Berg"]


def test_excel_serial_day_numbers_and_text_dates_in_one_column() -> None:
    from filebridge.mapping.columns import parse_dates

    values = pd.Series(["45000", "45001.5", "01/03/2020", "0", "x", ""], dtype="str")
    parsed, bad = parse_dates(values, ("excel", "%d/%m/%Y"))
    assert parsed.tolist() == ["2023-03-15", "2023-03-16", "2020-03-01", "", "", ""]
    assert bad.tolist() == [False, False, False, True, True, False]


def test_a_field_without_steps_is_its_source_column_whatever_it_holds() -> None:
    """Nothing can change or reject a plain copied cell: blanks, spaces and odd text stay,
    no row is rejected and the column is the source's own memory."""
    import pyarrow as pa
    pool = ["Berlin", " Paris ", "", "=1+2", "ÖRE"]
    rows = [{"id": f"{i:05d}", "mail": f"p{i}@x.io", "loc": pool[i % len(pool)]}
            for i in range(3000)]
    df, lines = frame(rows)
    r = apply_mapping(mapping({**BASE, "location": {"column": "loc"}}), df, lines, "f.csv")
    assert r.frame["location"].tolist() == df["loc"].tolist() and not r.rejected.any()
    mapped, source = pa.array(r.frame["location"]), pa.array(df["loc"])
    assert mapped.buffers()[2].address == source.buffers()[2].address
