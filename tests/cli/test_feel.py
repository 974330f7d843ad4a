"""The CLI next to the ops tools people like: a live progress line on a terminal, "did you
mean" for a mistyped command, examples in every --help, colour only on a terminal and
never with NO_COLOR."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

from filebridge.cli.main import COMMAND_NAMES, build_parser, main
from tests.pipeline.conftest import write_workspace

HEADER = ("Employee ID,Work Email,First Name,Last Name,Job Title,Department,Dept Code,"
          "Location,Country,Phone,Type,Manager ID,Hire Date,Termination Date,Status,"
          "Cost Center\n")


def in_terminal(*args: str, **env: str) -> tuple[int, str]:
    """Run ``filebridge ARGS`` with stdin, stdout and stderr on a 120x40 pseudo-terminal."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "filebridge.cli.main", *args],
                            stdin=slave, stdout=slave, stderr=slave,
                            env={**os.environ, "TERM": "xterm", **env})
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.wait(60), b"".join(chunks).decode("utf-8", errors="replace")


def piped(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "filebridge.cli.main", *args],
                          capture_output=True, text=True, env={**os.environ, **env},
                          stdin=subprocess.DEVNULL, timeout=120)


def test_a_mistyped_command_gets_a_suggestion(capsys):
    assert main(["aply", "acme", "x.csv"]) == 2
    err = capsys.readouterr().err
    assert "unknown command 'aply' (did you mean 'apply'" in err and "--help" in err
    assert main(["statsu"]) == 2
    assert "did you mean 'status'?" in capsys.readouterr().err


def test_every_command_help_ends_with_examples():
    for name in COMMAND_NAMES:
        text = build_parser(name)._subparsers._group_actions[0].choices[name].format_help()
        assert "\nexamples:\n  filebridge " + name in text, name
    assert "examples:\n  filebridge check" in build_parser().format_help()


def test_colour_only_on_a_terminal_and_never_with_no_color(tmp_path: Path):
    ws = str(write_workspace(tmp_path / "ws"))
    code, text = in_terminal("plan", "nope", str(tmp_path / "x.csv"), "--settings", ws)
    assert code == 2 and "\x1b[31merror\x1b[0m: " in text
    code, text = in_terminal("plan", "nope", str(tmp_path / "x.csv"), "--settings", ws,
                             NO_COLOR="1")
    assert code == 2 and "\x1b[" not in text and "error: " in text
    done = piped("plan", "nope", str(tmp_path / "x.csv"), "--settings", ws)
    assert done.returncode == 2 and "\x1b[" not in done.stderr
    assert done.stderr.startswith("error: ") and "no such file" in done.stderr


def test_a_long_run_shows_live_progress_on_a_terminal_only(tmp_path: Path):
    ws = str(write_workspace(tmp_path / "ws"))
    rows = 30_000
    big = tmp_path / "acme_employees_2026-12-01.csv"
    big.write_text(HEADER + "".join(
        f"{i:06d},p{i}@acme.example,Pat,Doe,Clerk,Ops,ops,Berlin,DE,,FT,,01/01/2020,,A,CC\n"
        for i in range(rows)), encoding="utf-8")
    code, text = in_terminal("apply", "acme", str(big), "--settings", ws)
    assert code == 0, text[-2000:]
    assert f"{rows:,} rows" in text and "rows/s" in text  # stage, rows and rate, live
    assert {"map", "plan", "apply"} <= {s for s in ("map", "plan", "apply") if s in text}
    assert f"created {rows}" in text
    big2 = tmp_path / "acme_employees_2026-12-02.csv"
    big2.write_text(big.read_text(encoding="utf-8").replace("Clerk", "Typist"),
                    encoding="utf-8")
    done = piped("apply", "acme", str(big2), "--settings", ws)
    assert done.returncode == 0 and done.stderr == ""  # no progress into a pipe
    assert "rows/s" not in done.stdout
