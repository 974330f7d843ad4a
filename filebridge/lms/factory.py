"""Which LMS a connection feeds: the built-in store unless its settings name another."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

from filebridge.lms.interface import LearningRecords, Lms
from filebridge.lms.sqlstore import SqlStore


class _Located(Protocol):
    """A target read from settings: where it is."""

    @property
    def url(self) -> str: ...


_T = TypeVar("_T", bound=_Located)


def open_target(connection: Any, builtin: SqlStore,
                others: Mapping[str, Any] | None = None) -> Lms:
    """The LMS target of ``connection`` (a ``ConnectionConfig``), ready to plan and apply.

    ``connection.lms`` chooses by its ``type``: ``scim``, ``moodle``, or ``built-in``
    (the same as no block). The built-in store also keeps what every target shares:
    learning records for the export road, and the mirrors of external targets.
    ``others``: every connection by name; those feeding the same server (same type and
    URL) share their people for manager and e-mail lookups, as connections of one
    built-in store do.
    """
    block: dict[str, Any] = getattr(connection, "lms", None) or {}
    kind = block.get("type", "built-in")
    if kind == "built-in":
        return builtin
    siblings = {name: other.lms for name, other in (others or {}).items()
                if name != connection.name and getattr(other, "lms", None)
                and other.lms.get("type") == kind}
    target: Lms
    # Imported here: the HTTP, SCIM and Moodle code loads only for a connection using it.
    if kind == "moodle":
        from filebridge.lms.moodle import MoodleLms
        from filebridge.lms.moodle import target_from_config as moodle_target

        target = MoodleLms(_same_url(moodle_target, connection.name, block, siblings),
                           builtin.engine)
    else:
        from filebridge.lms.scim import ScimLms, target_from_config

        target = ScimLms(_same_url(target_from_config, connection.name, block, siblings),
                         builtin.engine)
    target.prepare()
    return target


def open_learning(connection: Any, builtin: SqlStore, target: Lms) -> LearningRecords:
    """Where ``connection``'s course results are read for the export.

    The built-in store for its own people; for a SCIM or Moodle connection, the results
    loaded from files for the people of its mirror, unless a Moodle connection reads
    them from Moodle itself (``lms.completions.source``: rest or database).
    """
    block: dict[str, Any] = getattr(connection, "lms", None) or {}
    if target is builtin or block.get("type", "built-in") == "built-in":
        return builtin
    from filebridge.lms.mirror_results import MirrorResults

    source = (block.get("completions") or {}).get("source", "file")
    if block.get("type") == "moodle" and source != "file":
        from filebridge.lms.moodle import MoodleLms
        from filebridge.lms.moodle.completions import MoodleCompletions

        assert isinstance(target, MoodleLms)
        name = connection.name
        return MoodleCompletions(name, target.target(name),
                                 target.client(name) if source == "rest" else None,
                                 target.mirror, target.check_service)
    return MirrorResults(builtin.engine)


def _same_url(read: Callable[[dict[str, Any]], _T], name: str, block: dict[str, Any],
              siblings: Mapping[str, dict[str, Any]]) -> dict[str, _T]:
    """``name``'s target read from ``block``, with every sibling's that names the same URL."""
    mine = read(block)
    targets = {name: mine}
    for other, other_block in siblings.items():
        candidate = read(other_block)
        if candidate.url == mine.url:
            targets[other] = candidate
    return targets
