"""Group rules feeding a real SCIM server end to end through the command line: the same
groups as the built-in store, ``filebridge groups`` and ``verify`` on SCIM, a server
without Groups, and SIGKILL of ``filebridge apply`` followed by plain reruns."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from filebridge.cli.main import main
from tests import scimserver
from tests.cli.test_json_contract import GROUP_RULES
from tests.lms.scim.test_e2e import cli_json, scim_workspace
from tests.pipeline.conftest import NIGHT1, NIGHT2, write_workspace
from tests.scimserver import ScimServer, canonical, canonical_groups


def with_rules(settings: Path) -> Path:
    """``settings`` with the group rules added to the acme mapping."""
    mapping = settings.parent / "mappings" / "acme.yaml"
    mapping.write_text(mapping.read_text(encoding="utf-8") + GROUP_RULES, encoding="utf-8")
    return settings


def listed_groups(settings: Path, capsys: Any) -> dict[str, tuple[str, ...]]:
    """``filebridge groups acme``: each group and its members made by the rules."""
    code, listed = cli_json(settings, "groups", "acme", capsys=capsys)
    assert code == 0
    out = {}
    for group in listed["groups"]:
        _, members = cli_json(settings, "groups", "acme", group["group"], capsys=capsys)
        out[group["group"]] = tuple(sorted(m["employee_id"] for m in members["members"]
                                           if m["by_rule"]))
    return out


def scim_groups(server: ScimServer, url: str) -> dict[str, tuple[str, ...]]:
    return {name: members for name, key, members in canonical_groups(server, url)
            if key.startswith("filebridge:acme:")}


def test_scim_groups_equal_the_built_in_store_s_through_two_nights(
        tmp_path: Path, scim_server: ScimServer, capsys: Any) -> None:
    builtin = with_rules(write_workspace(tmp_path / "builtin"))
    url = scim_server.tenant()
    settings = with_rules(scim_workspace(tmp_path / "scim", url))
    for night in (NIGHT1, NIGHT2):
        main(["apply", "acme", str(night), "--settings", str(builtin), "--force"])
        capsys.readouterr()
        code, report = cli_json(settings, "apply", "acme", str(night), "--force",
                                capsys=capsys)
        assert report["state"] == "applied", report
        assert "groups-unsupported" not in {w["code"] for w in report["warnings"]}
        assert scim_groups(scim_server, url) == listed_groups(builtin, capsys)
        assert listed_groups(settings, capsys) == listed_groups(builtin, capsys)
    assert report["counts"]["group_add"] + report["counts"]["group_remove"] > 0
    assert {k for _, k, _ in canonical_groups(scim_server, url)} == {
        f"filebridge:acme:{g}" for g in listed_groups(builtin, capsys)}
    code, again = cli_json(settings, "plan", "acme", str(NIGHT2), capsys=capsys)
    assert again["plan"]["groups"] == []
    code, verified = cli_json(settings, "verify", "acme", capsys=capsys)
    assert (code, verified["groups_deleted"], verified["members_removed"]) == (0, [], [])


@pytest.fixture(scope="module")
def server_without_groups(tmp_path_factory: pytest.TempPathFactory
                          ) -> Iterator[ScimServer]:
    """A scim2-server whose /ResourceTypes has User only."""
    yield from scimserver.start(tmp_path_factory.mktemp("scim-nogroups-e2e"), groups=False)


def test_a_server_without_groups_warns_and_changes_no_group(
        tmp_path: Path, server_without_groups: ScimServer, capsys: Any) -> None:
    url = server_without_groups.tenant()
    settings = with_rules(scim_workspace(tmp_path / "ws", url))
    code, report = cli_json(settings, "apply", "acme", str(NIGHT1), capsys=capsys)
    assert report["state"] == "applied" and report["counts"]["create"] == 194
    assert "groups-unsupported" in {w["code"] for w in report["warnings"]}
    assert report["counts"].get("group_add", 0) == 0


def _apply(settings: Path, path: Path, failpoint: str = "") -> subprocess.Popen[bytes]:
    env = {**os.environ}
    env.pop("FILEBRIDGE_FAILPOINT", None)
    if failpoint:
        env["FILEBRIDGE_FAILPOINT"] = failpoint
    return subprocess.Popen([sys.executable, "-m", "filebridge.cli.main", "apply", "acme",
                             str(path), "--settings", str(settings)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)


def _finish(proc: subprocess.Popen[bytes]) -> int:
    _, err = proc.communicate(timeout=180)
    assert proc.returncode in (0, 1), err.decode()
    return proc.returncode


def _groups_total(server: ScimServer, url: str) -> int:
    with server.client(url) as http:
        return int(http.get("Groups", params={"count": 0}).json()["totalResults"])


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory: pytest.TempPathFactory, scim_server: ScimServer
              ) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """Users and groups after two clean nights with the group rules."""
    url = scim_server.tenant()
    settings = with_rules(scim_workspace(tmp_path_factory.mktemp("clean-groups"), url))
    _finish(_apply(settings, NIGHT1))
    _finish(_apply(settings, NIGHT2))
    return canonical(scim_server.users(url)), canonical_groups(scim_server, url)


@pytest.mark.slow
@pytest.mark.parametrize("bulk", [False, True])
def test_sigkill_during_group_changes_then_reruns_equal_a_clean_run(
        tmp_path: Path, scim_server: ScimServer, bulk: bool,
        clean_run: tuple[list[tuple[object, ...]], list[tuple[object, ...]]]) -> None:
    seed = int(os.environ.get("FILEBRIDGE_CRASH_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    # Killed right after a group request reached the server (its answer never written
    # down), and killed at a random moment once the first group exists.
    for round_, point in enumerate(("group-sent:kill", "")):
        url = scim_server.tenant()
        settings = with_rules(scim_workspace(tmp_path / f"r{round_}", url, bulk))
        proc = _apply(settings, NIGHT1, point)
        if not point:
            started = time.monotonic()
            while _groups_total(scim_server, url) == 0 and proc.poll() is None \
                    and time.monotonic() - started < 120:
                time.sleep(0.01)
            time.sleep(rng.uniform(0, 0.3))
            proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=180)
        assert proc.returncode == -signal.SIGKILL or not point, proc.returncode
        assert _groups_total(scim_server, url) > 0
        _finish(_apply(settings, NIGHT1))
        _finish(_apply(settings, NIGHT2))
        users, groups = clean_run
        assert canonical(scim_server.users(url)) == users, f"round {round_}, seed {seed}"
        assert canonical_groups(scim_server, url) == groups, f"round {round_}, seed {seed}"
