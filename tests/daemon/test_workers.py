"""The run queue: a bounded number of workers, the longest-waiting task first, never
two tasks of one connection at once, merged duplicates, delayed retries."""

from __future__ import annotations

import threading
import time

from filebridge.daemon.workers import RunQueue
from filebridge.repeats import Repeats


def test_bounded_fair_and_one_task_per_connection() -> None:
    queue = RunQueue(2)
    running: dict[str, int] = {}
    most = {"all": 0}
    order: list[str] = []
    guard = threading.Lock()

    def task(connection: str, n: int) -> None:
        with guard:
            running[connection] = running.get(connection, 0) + 1
            assert running[connection] == 1  # never two of one connection
            most["all"] = max(most["all"], sum(running.values()))
            order.append(f"{connection}{n}")
        time.sleep(0.02)
        with guard:
            running[connection] -= 1

    # "a" floods the queue first; "b" and "c" come later and must not wait for all of a.
    for n in range(5):
        queue.submit("a", ("a", str(n)), lambda n=n: task("a", n))
    queue.submit("b", ("b", "0"), lambda: task("b", 0))
    queue.submit("c", ("c", "0"), lambda: task("c", 0))
    assert not queue.submit("c", ("c", "0"), lambda: task("c", 9))  # merged
    assert queue.wait_idle(10)
    queue.close()
    assert most["all"] <= 2 and len(order) == 7
    # a1 waited longer than b0 and c0, but a runs one at a time: b0 and c0 ran beside it.
    assert order.index("b0") < order.index("a2") and order.index("c0") < order.index("a3")


def test_a_delayed_task_keeps_its_place_and_waits_its_delay() -> None:
    queue = RunQueue(1)
    ran: list[tuple[str, float]] = []
    start = time.monotonic()
    queue.submit("a", ("a",), lambda: ran.append(("a", time.monotonic() - start)), delay=0.3)
    queue.submit("b", ("b",), lambda: ran.append(("b", time.monotonic() - start)))
    assert queue.wait_idle(10)
    queue.close()
    assert [n for n, _ in ran] == ["b", "a"] and ran[1][1] >= 0.3


def test_repeats_are_said_once_per_change_then_as_reminders() -> None:
    now = [0.0]
    repeats = Repeats(remind_every=60, clock=lambda: now[0])
    assert repeats.news("inbox", "not a folder") == (True, 0)
    assert repeats.news("inbox", "not a folder") == (False, 1)
    now[0] = 61
    assert repeats.news("inbox", "not a folder") == (True, 1)
    assert repeats.news("inbox", "gone") == (True, 0)  # changed: said at once
    assert repeats.cleared("inbox") and not repeats.cleared("inbox")
