"""gpg's agent sockets live in its home, and a Unix socket path holds at most 107 bytes:
a connection's keyring deep in a long state folder is reached through a short private link."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from filebridge.formats import pgp


def test_a_short_home_is_used_as_it_is(tmp_path: Path) -> None:
    assert pgp._short_home(Path("/srv/fb/gnupg/acme")) == Path("/srv/fb/gnupg/acme")


def test_a_long_home_is_reached_by_a_short_private_link(tmp_path: Path) -> None:
    home = tmp_path / ("deep" * 30) / "gnupg" / "acme"
    home.mkdir(parents=True)
    link = pgp._short_home(home)
    assert len(str(link)) + len("/S.gpg-agent.browser") < 107
    assert link.resolve() == home.resolve()
    assert (link.parent.stat().st_mode & 0o777) == 0o700
    assert pgp._short_home(home) == link  # the same link next time
    link.unlink()


def test_a_link_folder_open_to_others_is_refused(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    shared = tmp_path / f"filebridge-gpg-{os.getuid()}"
    shared.mkdir(mode=0o777)
    os.chmod(shared, 0o777)
    with pytest.raises(pgp.PgpSetupError, match="not a private folder"):
        pgp._short_home(tmp_path / ("deep" * 30))
