"""The README's shell examples run as written, so they cannot drift from the tool.

Every ``sh`` block that calls ``.venv/bin/filebridge`` runs in a copy of the repository's
settings, mappings, schedules and sample files (``.venv/bin/filebridge`` there is this
interpreter's filebridge). Installing (venv, pip), the test suite itself and benchmarks
are left out. On each command line, ``exit N`` in its comment is the expected exit code
(0 when none is given), and the ``#   `` lines right after it are output it must print.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SKIPPED = ("python3 -m venv", "pip install", "-m pytest", "benchmarks/")


@dataclass
class Step:
    """One command of a README block, what it must exit with and print."""

    line: int
    command: str
    exit_code: int = 0
    output: list[str] = field(default_factory=list)


def readme_steps(text: str) -> list[list[Step]]:
    """The runnable steps of each sh block that uses filebridge."""
    blocks = []
    for match in re.finditer(r"```sh\n(.*?)```", text, re.S):
        if ".venv/bin/filebridge" not in match.group(1):
            continue
        first = text[:match.start()].count("\n") + 2
        steps: list[Step] = []
        for n, raw in enumerate(match.group(1).splitlines()):
            if raw.startswith("#   ") and steps:
                steps[-1].output.append(raw[4:].strip())
                continue
            command, _, comment = raw.partition("  #")
            parts = [p.strip() for p in command.split("&&")]
            parts = [p for p in parts if p and not any(s in p for s in SKIPPED)]
            if not parts:
                continue
            code = re.search(r"exit (\d+)", comment)
            steps.append(Step(first + n, " && ".join(parts), int(code[1]) if code else 0))
        blocks.append(steps)
    return blocks


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    for folder in ("mappings", "schedules", "sample_files"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    shutil.copy(REPO / "settings.yaml", tmp_path / "settings.yaml")
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    wrapper = bin_dir / "filebridge"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m filebridge.cli.main "$@"\n')
    wrapper.chmod(0o755)
    (bin_dir / "python").symlink_to(sys.executable)
    return tmp_path


def test_readme_shell_examples_run_as_written(sandbox: Path):
    blocks = readme_steps((REPO / "README.md").read_text(encoding="utf-8"))
    assert blocks, "the README has no runnable filebridge examples"
    env = {k: v for k, v in os.environ.items() if k not in ("FILEBRIDGE_SETTINGS", "NO_COLOR")}
    for steps in blocks:
        for step in steps:
            done = subprocess.run(["bash", "-c", step.command], cwd=sandbox, env=env,
                                  capture_output=True, text=True, timeout=300)
            said = " ".join((done.stdout + done.stderr).split())
            where = f"README.md:{step.line}: {step.command}"
            assert done.returncode == step.exit_code, \
                f"{where}: exit {done.returncode}, README says {step.exit_code}\n{said[-1500:]}"
            if step.output:
                expected = " ".join(" ".join(step.output).split())
                assert expected in said, f"{where}: README quotes\n  {expected}\nthe tool " \
                                         f"printed\n  {said[-1500:]}"


def test_readme_says_how_long_the_test_suite_takes():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    quick = text[text.index("## Quick start"):text.index("## Everyday commands")]
    assert re.search(r"takes about \d+ minutes", quick), "say how long the suite takes"


def test_ci_runs_exactly_the_readme_test_command() -> None:
    """`.ci/run` ends in the README's quick-start test command, character for character."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    commands = [line for block in re.findall(r"```sh\n(.*?)```", readme, re.S)
                for line in block.splitlines() if "-m pytest" in line]
    assert len(commands) == 1, commands
    ci_lines = [line for line in (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
    assert ci_lines[-1] == commands[0]
