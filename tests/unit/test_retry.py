"""How long a job's task waits for a backend, and how often it tries meanwhile."""

from __future__ import annotations

from geopin.index import IndexUnavailable
from geopin.jobs import StoreUnavailable
from geopin.queue import QueueUnavailable
from geopin.queue.retry import LONGEST_DELAY_S, OutageWindow, backend_of

WINDOW = OutageWindow(window_s=180)


def test_tries_come_at_doubling_intervals_then_at_the_longest_one() -> None:
    delays = [WINDOW.delay_s(since=0, now=0, retries=n) for n in range(7)]
    assert delays == [1, 2, 4, 8, LONGEST_DELAY_S, LONGEST_DELAY_S, LONGEST_DELAY_S]


def test_the_last_try_lands_at_the_end_of_the_window() -> None:
    assert WINDOW.delay_s(since=0, now=177, retries=12) == 3


def test_the_window_is_counted_from_the_first_failure_and_then_spent() -> None:
    assert WINDOW.delay_s(since=100, now=279, retries=30) == 1
    assert WINDOW.delay_s(since=100, now=280, retries=30) is None
    assert WINDOW.delay_s(since=100, now=1000, retries=0) is None


def test_a_window_of_zero_fails_at_the_first_outage() -> None:
    assert OutageWindow(window_s=0).delay_s(since=5, now=5, retries=0) is None


def test_each_outage_names_its_backend() -> None:
    assert backend_of(IndexUnavailable("x")) == "the reference index"
    assert backend_of(StoreUnavailable("x")) == "the job store"
    assert backend_of(QueueUnavailable("x")) == "the job queue"
