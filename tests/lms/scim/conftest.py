"""Fixtures for the SCIM target: a target on a fresh tenant of the real scim2-server, its
mirror in a fresh state database, and a fault proxy in front of the server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from filebridge.lms.scim import ScimLms, ScimTarget
from filebridge.lms.scim.target import DEFAULT_ATTRIBUTES, Retry, Timeouts
from filebridge.sql import open_engine
from tests.faultproxy import FaultProxy
from tests.scimserver import CUSTOM, TOKEN_ENV, ScimServer

ATTRIBUTES = {**DEFAULT_ATTRIBUTES, "custom.cost_center": f"{CUSTOM}:costCenter"}


def make_target(url: str, **changes: object) -> ScimTarget:
    """A target for tests: quick retries, short deadlines, the custom attribute mapped."""
    target = ScimTarget(url=url, token=f"${{env:{TOKEN_ENV}}}",
                        timeouts=Timeouts(connect=5, read=10, run=120),
                        retry=Retry(attempts=4, backoff_seconds=0.05, max_wait_seconds=2),
                        attributes=ATTRIBUTES)
    return replace(target, **changes)  # type: ignore[arg-type]


@pytest.fixture
def state_engine(tmp_path: Path) -> Iterator[Engine]:
    """A fresh state database for the mirror and the journal."""
    engine = open_engine(f"sqlite:///{tmp_path / 'state.sqlite'}")
    yield engine
    engine.dispose()


MakeLms = Callable[..., ScimLms]


@pytest.fixture
def make_lms(scim_server: ScimServer, state_engine: Engine) -> Iterator[MakeLms]:
    """Build prepared ``ScimLms`` targets for acme, globex and initech on one fresh tenant."""
    made: list[ScimLms] = []
    url = scim_server.tenant()

    def build(base: str | None = None, **changes: object) -> ScimLms:
        target = make_target(base or url, **changes)
        lms = ScimLms({"acme": target, "globex": target, "initech": target}, state_engine)
        lms.prepare()
        made.append(lms)
        return lms

    build.url = url  # type: ignore[attr-defined]
    yield build
    for lms in made:
        lms.close()


@pytest.fixture
def proxy(scim_server: ScimServer) -> Iterator[FaultProxy]:
    """A fault proxy in front of the SCIM server."""
    p = FaultProxy(scim_server.port)
    yield p
    p.close()
