"""`filebridge users acme | head`: a reader that goes away ends the command quietly with
128 + SIGPIPE, like any Unix tool, never with "unexpected error: BrokenPipeError"."""

from __future__ import annotations

import signal
import subprocess
import sys

from filebridge.cli.main import main
from tests.pipeline.conftest import NIGHT1, write_workspace


def test_a_closed_pipe_ends_quietly(tmp_path, capsys):
    ws = write_workspace(tmp_path / "ws")
    main(["apply", "acme", str(NIGHT1), "--settings", str(ws)])
    capsys.readouterr()
    for args in (["users", "acme"], ["users", "acme", "--json"], ["history"]):
        proc = subprocess.Popen([sys.executable, "-m", "filebridge.cli.main", *args,
                                 "--settings", str(ws)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # the reader is gone before the first line is written
        err = proc.stderr.read()
        assert proc.wait(60) == 128 + signal.SIGPIPE, err
        assert err == "", err
