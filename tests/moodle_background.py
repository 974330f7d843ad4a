"""The run's Moodle, installed in the background from the moment the run starts.

Installing Moodle is a minute or more of PHP and PostgreSQL work, and the Moodle tests
all run on one worker, one after another. When the command line selects the Moodle tests
(a path at or above ``tests/lms/moodle``, no ``-k``, ``-m`` or ``--collect-only``), the
process that schedules the run (pytest-xdist's controller, or pytest itself without
workers) starts the install at once, while the workers start and collect; the
``moodle_site`` fixture then waits for it (``BACKGROUND_ENV`` names its folder) instead
of installing its own. That process stops and removes the site when the run ends.
Otherwise the fixture installs a site itself, as before.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import moodlesite

MOODLE_TESTS = moodlesite.REPO / "tests" / "lms" / "moodle"


@dataclass
class _Install:
    workdir: Path
    process: subprocess.Popen[bytes]
    waiter: threading.Thread


_started: list[_Install] = []  # in the scheduling process: the install it started


def begin(config: pytest.Config) -> None:
    """Start the install when this process schedules a run that selects the Moodle tests."""
    if hasattr(config, "workerinput") or not _selects_moodle(config):
        return
    if os.environ.get(moodlesite.REUSE_ENV) or moodlesite.missing() is not None:
        return  # the fixture uses the given site, or says what is missing
    workdir = moodlesite.new_workdir()
    log = (workdir / moodlesite.LOG_FILE).open("wb")
    # Its own process group: when the run ends early, the whole install is stopped.
    process = subprocess.Popen(moodlesite.setup_command(workdir), stdout=log,
                               stderr=subprocess.STDOUT, env=moodlesite.setup_env(),
                               start_new_session=True)
    log.close()

    def wait() -> None:
        code = process.wait()
        (workdir / moodlesite.EXIT_FILE).write_text(f"{code}\n", encoding="utf-8")

    waiter = threading.Thread(target=wait, name="moodle-install", daemon=True)
    waiter.start()
    _started.append(_Install(workdir, process, waiter))
    os.environ[moodlesite.BACKGROUND_ENV] = str(workdir)  # the workers inherit it


def end() -> None:
    """Stop the install this process started (if it is still running), then the site."""
    while _started:
        install = _started.pop()
        if install.process.poll() is None:
            os.killpg(install.process.pid, signal.SIGTERM)
            try:
                install.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(install.process.pid, signal.SIGKILL)
                install.process.wait()
        install.waiter.join(10)
        moodlesite.remove(install.workdir)
        os.environ.pop(moodlesite.BACKGROUND_ENV, None)


def _selects_moodle(config: pytest.Config) -> bool:
    """True when the arguments name the Moodle tests and nothing filters them out."""
    option = config.option
    if option.collectonly or option.keyword or option.markexpr:
        return False
    if option.deselect or option.ignore or option.ignore_glob or getattr(option, "lf", False):
        return False
    from_testpaths = config.args_source == pytest.Config.ArgsSource.TESTPATHS
    root = config.rootpath if from_testpaths else Path(config.invocation_params.dir)
    for arg in config.args:
        path = (root / arg.split("::")[0]).resolve()
        if path == MOODLE_TESTS or MOODLE_TESTS in path.parents or path in MOODLE_TESTS.parents:
            return True
    return False
