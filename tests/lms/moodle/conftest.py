"""Moodle targets for the tests, on the session's real Moodle; each test starts with no
accounts but the admin and a new state database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from filebridge.lms.moodle import MoodleLms, target_from_config
from filebridge.sql import open_engine
from tests.moodlesite import TOKEN_ENV, MoodleSite

MakeLms = Callable[..., MoodleLms]


def block(site: MoodleSite, **extra: Any) -> dict[str, Any]:
    """A connection's ``lms`` settings for the test Moodle."""
    return {"type": "moodle", "url": site.url, "token": f"${{env:{TOKEN_ENV}}}",
            "profile_fields": {"manager_id": "manager_id",
                               "cost_center": "custom.cost_center"},
            **extra}


@pytest.fixture
def moodle(moodle_site: MoodleSite, monkeypatch: pytest.MonkeyPatch) -> MoodleSite:
    """The session's Moodle, emptied of accounts; its token in the environment."""
    moodle_site.reset()
    monkeypatch.setenv(TOKEN_ENV, moodle_site.token)
    return moodle_site


@pytest.fixture
def make_lms(moodle: MoodleSite, tmp_path: Path) -> Iterator[MakeLms]:
    """Build a prepared ``MoodleLms`` for ``acme`` and ``globex`` on one state database."""
    engine = open_engine(f"sqlite:///{tmp_path / 'state.db'}")
    made: list[MoodleLms] = []

    def make(**extra: Any) -> MoodleLms:
        target = target_from_config(block(moodle, **extra))
        lms = MoodleLms({"acme": target, "globex": target}, engine)
        lms.prepare()
        made.append(lms)
        return lms

    yield make
    for lms in made:
        lms.close()
    engine.dispose()
