"""Every command, run on broken mappings and broken files, ends with a named error.

"unexpected error" means a bug: an input nobody thought of reached a traceback. This
corpus is what a new user sends on the first day.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from filebridge.cli.main import COMMANDS, main
from tests.pipeline.conftest import NIGHT1, REPO, write_workspace

DATA = REPO / "tests" / "data" / "formats"

# Each broken mapping: a change to mappings/acme.yaml (old text → new text).
BROKEN_MAPPINGS: dict[str, tuple[str, str]] = {
    "no-email": ("  email:\n    column: Work Email\n    transform: [trim, lower]\n"
                 "    required: true\n", ""),
    "unknown-encoding": ("encoding: utf-8 ", "encoding: utf-9 "),
    "terminator-without-quoting-none": ('quotechar: \'"\'', "record_terminator: \"~\""),
    "terminator-with-delimiter": ('quotechar: \'"\'', "quoting: none\n  record_terminator: \",\""),
    "xml-for-a-csv": ("type: csv ", "type: xml\n  record_path: /Employees/Employee\n "),
    "xlsx-for-a-csv": ("type: csv ", "type: xlsx\n  sheet: Staff\n "),
    "json-for-a-csv": ("type: csv ", "type: json\n  record_path: data.rows\n "),
    "missing-column": ("column: Work Email", "column: E-mail Address"),
    "bad-regex": ('pattern: "[ ()-]"', 'pattern: "[ ()-"'),
    "not-yaml": ("version: 1", "version: [1"),
}


def _files(folder: Path) -> dict[str, Path]:
    """Broken files, each named so the acme transport would pick it up."""
    night = NIGHT1.read_bytes()
    made = {
        "empty": b"",
        "header-only": night.split(b"\r\n")[0] + b"\r\n",
        "blank-rows-only": night.split(b"\r\n")[0] + b"\r\n" + b",,,,,,,,,,,,,,,\r\n" * 3,
        "binary": bytes(range(256)) * 40,
        "utf16-without-bom": night.decode("utf-8-sig").encode("utf-16-le"),
        "nul-bytes": night.replace(b"Anna", b"An\x00na"),
        "truncated": night[: len(night) // 2 + 7],
        "joined": night + night.removeprefix(b"\xef\xbb\xbf"),
        "huge-field": night.split(b"\r\n")[0] + b"\r\n1," + b"x" * 300_000 + b"\r\n",
        "xml": (REPO / "sample_files" / "acme_employees_2026-11-24.xml").read_bytes(),
        "pgp-armored": b"-----BEGIN PGP MESSAGE-----\n\nhQEMA1234\n-----END PGP MESSAGE-----\n",
        "json": b'[{"Employee ID": "1"}]',
    }
    paths = {name: folder / f"acme_{name}.csv" for name in made}
    for name, data in made.items():
        paths[name].write_bytes(data)
    for name in ("hdl_worker.dat", "marked_records.txt", "excel_trailing.csv",
                 "joined_swapped.csv", "billion_laughs.xml", "bomb.zip", "traversal.zip",
                 "nested.csv.gz", "employees.xlsx", "utf8_declared_cp1252.csv"):
        paths[name] = folder / f"acme_{name}"
        shutil.copy(DATA / name, paths[name])
    return paths


def _commands(ws: str, file: Path) -> list[list[str]]:
    """One invocation of every command (and of each ``lms`` subcommand)."""
    s = ["--settings", ws]
    names = {m.NAME for m in COMMANDS}
    calls = [["check", *s], ["validate", "acme", str(file), *s], ["plan", "acme", str(file), *s],
             ["apply", "acme", str(file), *s], ["replay", "1", "--yes", *s],
             ["history", "acme", *s], ["show", "1", *s], ["users", "acme", *s],
             ["users", "acme", "--json", *s], ["sync", "acme", *s],
             ["deliver", "acme", str(file), *s], ["trust", "acme", "--yes", *s],
             ["export", "acme", *s], ["lms", "--help"], ["approve", "1", "--yes", *s],
             ["discard", "1", *s], ["undo", "1", "--yes", *s],
             ["link", "acme", str(file), "--yes", *s], ["run", "--once", *s], ["status", *s],
             ["unlock", "acme", *s],
             ["verify", "acme", *s],
             ["person", "acme", "001002", *s], ["person", "acme", "nobody@x", "--json", *s],
             ["demo", "--samples", str(file.parent / "nowhere"), *s], ["web", "users", *s]]
    assert {c[0] for c in calls} == names, "a new command needs a line here"
    return calls


def _run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse: --help, or a usage error
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out + err


@pytest.fixture
def workspace(tmp_path: Path) -> Callable[[], tuple[str, Path]]:
    counter = iter(range(1000))

    def make() -> tuple[str, Path]:
        root = tmp_path / f"ws{next(counter)}"
        settings = write_workspace(root)
        (root / "drop" / "acme").mkdir(parents=True)
        return str(settings), root

    return make


@pytest.mark.parametrize("broken", sorted(BROKEN_MAPPINGS))
def test_every_command_on_a_broken_mapping(broken: str, workspace, capsys) -> None:
    ws, root = workspace()
    mapping = root / "mappings" / "acme.yaml"
    old, new = BROKEN_MAPPINGS[broken]
    text = mapping.read_text(encoding="utf-8")
    assert old in text, f"{broken}: the sample mapping changed"
    mapping.write_text(text.replace(old, new, 1), encoding="utf-8")
    for argv in _commands(ws, NIGHT1):
        code, output = _run(capsys, argv)
        assert "unexpected error" not in output, (argv, output)
        assert code in (0, 1, 2, 3), (argv, code, output)


def test_every_file_command_on_broken_files(workspace, capsys, tmp_path: Path) -> None:
    ws, root = workspace()
    files = _files(tmp_path)
    for name, path in files.items():
        for argv in _commands(ws, path):
            if argv[0] in ("validate", "plan", "apply", "link", "deliver", "replay", "show",
                           "approve", "undo", "discard"):
                code, output = _run(capsys, argv)
                assert "unexpected error" not in output, (name, argv, output)
                assert code in (0, 1, 2, 3), (name, argv, code, output)
    for argv in _commands(ws, NIGHT1):  # and everything else on the state left behind
        code, output = _run(capsys, argv)
        assert "unexpected error" not in output, (argv, output)
