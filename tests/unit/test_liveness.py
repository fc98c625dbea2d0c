"""The watch each worker runs: renew its record, requeue what dead workers held, once."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from geopin.jobs import StoreUnavailable
from geopin.liveness import ORPHANS_REQUEUED, Watch, worker_name
from geopin.liveness.sqlite import SqliteLiveness

DEAD_AFTER_S = 0.2


@pytest.fixture
def records(tmp_path: Path) -> SqliteLiveness:
    return SqliteLiveness(tmp_path / "jobs.db", DEAD_AFTER_S)


def watch(records: SqliteLiveness, worker: str, requeued: list[list[str]]) -> Watch:
    return Watch(records, worker, requeued.append, interval_s=60, grace_s=0)


def test_a_dead_workers_held_tasks_are_requeued_once_and_counted(records: SqliteLiveness) -> None:
    records.beat("dead")
    for tag in ("t1", "t2", "t3"):
        records.hold("dead", tag)
    records.let_go("dead", "t2")  # ran to the end before the worker died
    requeued: list[list[str]] = []
    time.sleep(DEAD_AFTER_S + 0.05)
    watch(records, "alive", requeued).once()
    watch(records, "alive", requeued).once()
    assert requeued == [["t1", "t3"]]
    assert records.counts()[ORPHANS_REQUEUED] == 2
    assert records.dead() == []


def test_of_two_workers_sweeping_only_one_requeues_a_dead_workers_tasks(
    records: SqliteLiveness,
) -> None:
    records.beat("dead")
    records.hold("dead", "t1")
    time.sleep(DEAD_AFTER_S + 0.05)
    first, second = [records.bury(w) for w in records.dead() * 2]
    assert (first, second) == (["t1"], None)


def test_a_worker_renewing_its_record_is_never_buried(records: SqliteLiveness) -> None:
    requeued: list[list[str]] = []
    busy = watch(records, "busy", requeued)
    busy.once()
    records.hold("busy", "t1")
    for _ in range(4):
        time.sleep(DEAD_AFTER_S / 2)
        busy.once()
    assert requeued == []
    assert records.dead() == []


def test_a_worker_that_shut_down_cleanly_leaves_nothing_to_requeue(
    records: SqliteLiveness,
) -> None:
    records.beat("stopped")
    records.hold("stopped", "t1")
    records.leave("stopped")
    time.sleep(DEAD_AFTER_S + 0.05)
    assert records.dead() == []


def test_a_failing_requeue_is_logged_and_the_watch_goes_on(
    records: SqliteLiveness, caplog: pytest.LogCaptureFixture
) -> None:
    def broker_down(tags: list[str]) -> None:
        raise ConnectionError("broker down")

    records.beat("dead")
    records.hold("dead", "t1")
    time.sleep(DEAD_AFTER_S + 0.05)
    Watch(records, "alive", broker_down, interval_s=60, grace_s=0).once()
    assert "could not requeue the tasks of dead workers" in caplog.text
    assert records.counts()[ORPHANS_REQUEUED] == 0  # counted only once requeued


def test_worker_names_differ_even_in_one_process() -> None:
    assert worker_name() != worker_name()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Flaky(SqliteLiveness):
    """Records whose store can be taken down, as a Redis outage would."""

    down = False

    def beat(self, worker: str) -> None:
        if self.down:
            raise StoreUnavailable("Redis: connection refused")
        super().beat(worker)


def test_a_worker_back_from_an_outage_buries_nobody_until_others_could_renew(
    tmp_path: Path,
) -> None:
    records, clock, requeued = Flaky(tmp_path / "jobs.db", DEAD_AFTER_S), Clock(), []
    back_first = Watch(records, "a", requeued.append, interval_s=60, grace_s=10, clock=clock)
    back_first.once()
    clock.now = 20.0
    records.beat("b")
    records.hold("b", "t1")
    records.down = True
    back_first.once()  # the outage: every record expires meanwhile
    time.sleep(DEAD_AFTER_S + 0.05)
    records.down = False
    clock.now = 40.0
    back_first.once()
    assert requeued == []  # "b" looks dead, but "a" has only just got back in touch
    records.beat("b")  # "b" renews within the grace
    clock.now = 51.0
    back_first.once()
    assert requeued == []
    time.sleep(DEAD_AFTER_S + 0.05)  # now "b" really stops
    back_first.once()
    assert requeued == [["t1"]]
