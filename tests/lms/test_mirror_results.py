"""Results loaded for the people of an external target's mirror: recorded once,
corrected with a new revision, exported only while the person is mirrored, and kept
with the person when the mirror re-keys them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from filebridge.lms import SqlStore
from filebridge.lms.completions import AssignmentInput, CompletionInput
from filebridge.lms.mirror import COMPONENT, MIGRATIONS, Entry, Mirror
from filebridge.lms.mirror_results import results_for_export
from filebridge.sql import migrate

NOW = datetime(2026, 11, 27, 5, 0, tzinfo=UTC)
DONE = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


def test_results_follow_the_mirror(tmp_path: Path) -> None:
    store = SqlStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    store.prepare()
    migrate(store.engine, COMPONENT, MIGRATIONS)
    mirror = Mirror(store.engine)
    mirror.adopt("acme", [Entry("7", "scim-7", 1, True, {"email": "a@x.example",
                                                         "last_name": "Berg"}),
                          Entry("8", "scim-8", 2, False, {"email": "b@x.example"})], NOW)

    def load(score: float) -> dict[str, int]:
        def build(people: dict[str, list[int | tuple[str, str]]]
                  ) -> tuple[list[CompletionInput], list[AssignmentInput]]:
            assert people == {"7": [("acme", "7")], "8": [("acme", "8")]}
            return [CompletionInput(people[e][0], "SEC-101", "Security", "passed", DONE,
                                    score) for e in ("7", "8")], []
        return store.record_learning("acme", ["7", "8"], build, NOW)

    assert load(90.0) == {"inserted": 2, "corrected": 0, "unchanged": 0, "assigned": 0,
                          "updated": 0}
    assert load(90.0)["unchanged"] == 2
    first = results_for_export(store.engine, "acme", after_revision=0)
    # A leaver (inactive in the mirror) is still exported; another connection sees none.
    assert first[["employee_id", "email", "last_name", "score"]].values.tolist() == [
        ["7", "a@x.example", "Berg", 90.0], ["8", "b@x.example", "", 90.0]]
    assert results_for_export(store.engine, "globex", after_revision=0).empty
    top = int(first["revision"].max())
    assert load(95.0)["corrected"] == 2
    assert results_for_export(store.engine, "acme", after_revision=top)["score"].tolist() \
        == [95.0, 95.0]
    mirror.rename("acme", "7", "7b")
    mirror.forget("acme", ["8"])
    # Re-keyed: the result stays the person's; forgotten: never exported again.
    assert results_for_export(store.engine, "acme", after_revision=0)[
        "employee_id"].tolist() == ["7b"]
    store.close()
