"""Every code filebridge reports has words in filebridge/advice.py, and docs/errors.md
is generated from them.

Codes come from three places: the ``code`` of every exception class deriving from
``FilebridgeError`` (found by importing the whole package), the closed vocabularies
``ProblemCode`` and ``HoldCode`` that producers must use (mypy rejects any other literal),
and code literals written into reports and the ledger (found by reading the source).
"""

from __future__ import annotations

import ast
import importlib
import io
import pkgutil
from pathlib import Path

import pytest

import filebridge
from filebridge import advice
from filebridge.cli.errors import handle_error
from filebridge.cli.main import main
from filebridge.errors import FilebridgeError, Transient
from filebridge.formats.errors import rejected
from filebridge.pipeline.context import open_context
from filebridge.pipeline.errors import ExportTargetDiffers, NotHeld
from filebridge.pipeline.history import RunRow, run_rows
from filebridge.plan.guard import HOLD_CODES
from filebridge.problems import PROBLEM_CODES
from filebridge.transports.errors import TransportUnavailable
from tests.pipeline.conftest import NIGHT1, write_workspace
from tests.pipeline.files import variant

PACKAGE = Path(filebridge.__file__).parent
DOC = PACKAGE.parent / "docs" / "errors.md"


def error_classes() -> list[type[FilebridgeError]]:
    """Every exception class of the package (all modules imported first)."""
    for info in pkgutil.walk_packages([str(PACKAGE)], "filebridge."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)
    found, todo = [], [FilebridgeError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo += cls.__subclasses__()
    return [c for c in found if c.__module__.startswith("filebridge.")]


_ERROR_KEYS = {"code", "message", "retry", "transient"}


def literal_codes() -> set[str]:
    """Codes written as ``{"code": "<literal>", ...}`` or ``code="<literal>"`` in the source."""
    codes: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            keys = {k.value for k in node.keys if isinstance(k, ast.Constant)} \
                if isinstance(node, ast.Dict) else set()
            if isinstance(node, ast.Dict) and keys <= _ERROR_KEYS:  # an error as a dict
                for k, v in zip(node.keys, node.values, strict=True):
                    if (isinstance(k, ast.Constant) and k.value == "code"
                            and isinstance(v, ast.Constant) and isinstance(v.value, str)):
                        codes.add(v.value)
            elif isinstance(node, ast.keyword) and node.arg == "code" \
                    and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                codes.add(node.value.value)
    return codes


def test_every_error_class_has_an_entry_and_every_entry_a_producer() -> None:
    classes = error_classes()
    assert len(classes) > 30
    class_codes = {c.code for c in classes}
    missing = sorted(class_codes - set(advice.ERRORS))
    assert not missing, f"error codes without an entry in filebridge/advice.py: {missing}"
    written = literal_codes() - PROBLEM_CODES - HOLD_CODES - class_codes
    assert not sorted(written - set(advice.ERRORS)), "codes written in reports lack an entry"
    stale = sorted(set(advice.ERRORS) - class_codes - written)
    assert not stale, f"entries for codes nothing produces: {stale}"


# Refusals that leave a run held, as a hold does: exit 1 like any held run.
HELD_REFUSALS = {"stale-approval"}


def test_the_exit_code_of_each_entry_agrees_with_the_retry_marker() -> None:
    for cls in error_classes():
        if cls.__module__ == "filebridge.errors":
            continue  # the root and the two markers
        entry = advice.ERRORS[cls.code]
        expected = 1 if cls.code in HELD_REFUSALS else 3 if issubclass(cls, Transient) else 2
        assert entry.exit_code == expected, cls.__name__


def test_every_problem_and_hold_code_has_an_entry_and_no_more() -> None:
    assert set(advice.PROBLEMS) == PROBLEM_CODES
    assert set(advice.HOLDS) == HOLD_CODES
    assert len(PROBLEM_CODES) > 30


def test_every_entry_says_what_it_means_and_what_to_do() -> None:
    for table in (advice.ERRORS, advice.PROBLEMS, advice.HOLDS):
        for code, entry in table.items():
            assert entry.meaning and entry.advice, code
            assert entry.exit_code in (1, 2, 3), code
            advice.advise(entry.advice)  # every template formats


def test_advice_is_filled_from_the_errors_fields() -> None:
    exc = ExportTargetDiffers(connection="acme", name="c_0001.csv", run_id=7)
    text = advice.error_advice(exc)
    assert "`filebridge export acme --abandon-pending`" in text and "run 7's rows" in text
    assert "abandon-pending" not in str(exc)  # the message states facts; advice lives here
    assert "`filebridge export CONNECTION --abandon-pending`" in advice.render_reference()


def _stderr(exc: BaseException) -> tuple[int, str]:
    err = io.StringIO()
    return handle_error(exc, debug=False, err=err), err.getvalue()


def test_the_cli_prints_message_advice_and_the_exit_code() -> None:
    code, text = _stderr(NotHeld(run_id=4, state="applied"))
    assert code == 2
    assert text == ("error: run 4 is applied, not held\n"
                    "next: `filebridge history` shows which runs are held\n")
    code, text = _stderr(TransportUnavailable("sftp.example", 22, "banner", "timed out"))
    assert code == 3 and "next: nothing to fix" in text
    code, text = _stderr(rejected("a.csv", "truncated-file", "cut off", line=9))
    assert code == 2 and text.startswith("error: a.csv:9: cut off\nnext: ask the HR side")


def test_an_unknown_exception_gets_one_line_and_the_debug_hint() -> None:
    code, text = _stderr(ZeroDivisionError("division by zero"))
    assert code == 2
    assert text == ("unexpected error: ZeroDivisionError: division by zero\n"
                    "run with --debug for the traceback\n")


def _non_docstring_strings(tree: ast.AST) -> list[ast.Constant]:
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef)
                  and n.body and isinstance(n.body[0], ast.Expr)}
    return [n for n in ast.walk(tree) if isinstance(n, ast.Constant)
            and isinstance(n.value, str) and id(n) not in docstrings]


@pytest.mark.parametrize("path", sorted(
    p for p in PACKAGE.rglob("*.py")
    if not p.is_relative_to(PACKAGE / "cli") and not p.is_relative_to(PACKAGE / "daemon" / "notify")
    and p != PACKAGE / "config" / "reference.py"
    and p not in (PACKAGE / "advice.py", PACKAGE / "explain.py")),
    ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_command_advice_outside_the_cli(path: Path) -> None:
    """Messages below the CLI state facts; the next command to type is the CLI's to say
    (notifications and the generated configuration reference are words for people too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    advice_strings = [n.value for n in _non_docstring_strings(tree)
                      if "`filebridge " in n.value or "--debug" in n.value]
    assert not advice_strings, advice_strings


def test_docs_errors_md_is_up_to_date() -> None:
    assert DOC.read_text(encoding="utf-8") == advice.render_reference(), (
        "docs/errors.md is out of date; run "
        "`python -m filebridge.advice > docs/errors.md`")


def test_run_output_ends_problems_and_holds_with_what_to_do(capsys, tmp_path) -> None:
    ws = str(write_workspace(tmp_path / "ws"))
    assert main(["apply", "acme", str(NIGHT1), "--settings", ws]) == 1
    out = capsys.readouterr().out
    assert "next (missing-email): fix the row at the source" in out
    assert "next (duplicate-email): fix the e-mail addresses at the source" in out
    part = variant(NIGHT1, tmp_path / "acme_employees_sales.csv",
                   lambda rows: [r for r in rows if r["Department"] == "Sales"])
    assert main(["apply", "acme", str(part), "--settings", ws]) == 1
    out = capsys.readouterr().out
    run = max(r.run_id for r in _runs(ws))
    assert (f"held: nothing applied; see the plan with `filebridge show {run}`, then "
            f"`filebridge approve {run}`") in out
    assert main(["status", "--settings", ws]) == 0
    assert f"held: run {run} (acme_employees_sales.csv): see the plan" in capsys.readouterr().out


def _runs(settings: str) -> list[RunRow]:
    ctx = open_context(Path(settings))
    try:
        return run_rows(ctx, "acme", 10)
    finally:
        ctx.close()
