"""YAML loading: positions, duplicate keys, syntax errors, unsafe tags, unreadable files."""

from __future__ import annotations

from pathlib import Path

from filebridge.config import load_yaml
from tests.config.conftest import Write, errors_of


def test_lines_of_keys_and_list_items(write: Write) -> None:
    path = write(
        "a.yaml",
        """
        top: 1
        nested:
          list:
            - x
            - {y: 2}
        """,
    )
    doc = load_yaml(path, "a.yaml")
    assert doc.data == {"top": 1, "nested": {"list": ["x", {"y": 2}]}}
    assert doc.line_of(("top",)) == 1
    assert doc.line_of(("nested", "list")) == 3
    assert doc.line_of(("nested", "list", 1)) == 5
    assert doc.line_of(("nested", "list", 1, "y")) == 5
    # A key that does not exist falls back to its deepest existing ancestor.
    assert doc.line_of(("nested", "list", 1, "missing", 0)) == 5


def test_keys_stay_text_even_when_yaml_would_read_a_boolean(write: Write) -> None:
    doc = load_yaml(write("a.yaml", "on: 1\nNO: 2\n"), "a.yaml")
    assert doc.data == {"on": 1, "NO": 2}


def test_duplicate_keys_are_errors(write: Write) -> None:
    path = write(
        "a.yaml",
        """
        fields:
          email:
            column: A
          email:
            column: B
        """,
    )
    assert errors_of(load_yaml, path, "a.yaml") == [
        "a.yaml:4: fields: duplicate key 'email' (first at line 2); "
        "YAML would silently keep only the last one"
    ]


def test_merge_keys_are_not_duplicates(write: Write) -> None:
    path = write("a.yaml", "base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  x: 3\n")
    assert load_yaml(path, "a.yaml").data["c"] == {"x": 3, "y": 2}


def test_syntax_error_has_the_line_of_the_marker(write: Write) -> None:
    path = write(
        "a.yaml",
        """
        version: 1
        format:
          type: csv
         delimiter: ";"
        """,
    )
    assert errors_of(load_yaml, path, "a.yaml") == [
        "a.yaml:4: YAML syntax error: expected <block end>, but found '<block mapping start>'"
        " (while parsing a block mapping at line 1)"
    ]


def test_unsafe_tags_are_refused(write: Write) -> None:
    path = write("a.yaml", "a: !!python/object/apply:os.system [echo hi]\n")
    assert errors_of(load_yaml, path, "a.yaml") == [
        "a.yaml:1: a: unsupported YAML tag 'tag:yaml.org,2002:python/object/apply:os.system'; "
        "write a plain list"
    ]


def test_missing_and_undecodable_files(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    assert errors_of(load_yaml, missing, "nope.yaml") == [f"nope.yaml: file not found: {missing}"]
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"a: 1\nb: caf\xe9\n")
    assert errors_of(load_yaml, latin, "latin.yaml") == [
        "latin.yaml:2: not UTF-8 text (byte 0xe9); save the file as UTF-8"
    ]


def test_alias_bombs_and_cycles_are_refused(write: Write) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 7)]
    bomb = write("bomb.yaml", "\n".join(lines) + "\n")
    (message,) = errors_of(load_yaml, bomb, "bomb.yaml")
    assert "too many values" in message
    cycle = write("cycle.yaml", "a: &x [*x]\n")
    assert errors_of(load_yaml, cycle, "cycle.yaml") == [
        "cycle.yaml:1: a[0]: an alias refers to the value it is part of"
    ]
