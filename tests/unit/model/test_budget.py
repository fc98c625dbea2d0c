"""PixelBudget: decodes that together would pass the budget take turns."""

from __future__ import annotations

import threading

from geopin.model.budget import PixelBudget


def _hold(budget: PixelBudget, pixels: int, log: list[str], name: str, go: threading.Event) -> None:
    with budget.reserve(pixels):
        log.append(f"{name} in")
        go.wait(5)
        log.append(f"{name} out")


def _start(*args: object) -> threading.Thread:
    thread = threading.Thread(target=_hold, args=args)
    thread.start()
    return thread


def _wait_for(log: list[str], entry: str) -> None:
    for _ in range(500):
        if entry in log:
            return
        threading.Event().wait(0.01)
    raise AssertionError(f"{entry!r} never happened: {log}")


def test_reservations_that_fit_together_run_side_by_side() -> None:
    budget, log, go = PixelBudget(100), [], threading.Event()
    threads = [_start(budget, 50, log, name, go) for name in ("a", "b")]
    _wait_for(log, "a in")
    _wait_for(log, "b in")
    go.set()
    for thread in threads:
        thread.join(5)


def test_a_reservation_waits_until_enough_is_released() -> None:
    budget, log = PixelBudget(100), []
    first_go, second_go = threading.Event(), threading.Event()
    first = _start(budget, 80, log, "first", first_go)
    _wait_for(log, "first in")
    second = _start(budget, 40, log, "second", second_go)
    threading.Event().wait(0.2)
    assert "second in" not in log
    first_go.set()
    _wait_for(log, "second in")
    second_go.set()
    for thread in (first, second):
        thread.join(5)
    assert log.index("first out") < log.index("second in")


def test_a_reservation_larger_than_the_budget_runs_alone_instead_of_forever_waiting() -> None:
    budget, log, go = PixelBudget(100), [], threading.Event()
    go.set()
    thread = _start(budget, 1_000, log, "huge", go)
    thread.join(5)
    assert log == ["huge in", "huge out"]


def test_first_come_first_served_so_a_large_photo_is_not_starved_by_small_ones() -> None:
    budget, log = PixelBudget(100), []
    small_go, large_go, later_go = threading.Event(), threading.Event(), threading.Event()
    small = _start(budget, 30, log, "small", small_go)
    _wait_for(log, "small in")
    large = _start(budget, 90, log, "large", large_go)
    threading.Event().wait(0.2)
    later = _start(budget, 10, log, "later", later_go)  # would fit now, but arrived after
    threading.Event().wait(0.2)
    assert "later in" not in log
    small_go.set()
    _wait_for(log, "large in")
    large_go.set()
    later_go.set()
    for thread in (small, large, later):
        thread.join(5)
    assert log.index("large in") < log.index("later in")
