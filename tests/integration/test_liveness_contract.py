"""What every liveness store must do, run against Redis and the embedded SQLite store."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import redis
from geopin.liveness import FAULTS, ORPHANS_REQUEUED, REDELIVERIES, Liveness
from geopin.liveness.redis import RedisLiveness
from geopin.liveness.sqlite import SqliteLiveness

DEAD_AFTER_S = 0.3


@pytest.fixture(params=["redis", "sqlite"])
def records(request: pytest.FixtureRequest, tmp_path: Path) -> Liveness:
    if request.param == "sqlite":
        return SqliteLiveness(tmp_path / "jobs.db", DEAD_AFTER_S)
    client = redis.Redis.from_url(request.getfixturevalue("redis_db"))
    return RedisLiveness(client, "geopin-test", DEAD_AFTER_S)


def test_a_worker_is_dead_once_its_record_expires_and_alive_while_it_beats(
    records: Liveness,
) -> None:
    records.beat("a")
    records.beat("b")
    assert records.dead() == []
    time.sleep(DEAD_AFTER_S / 2)
    records.beat("b")
    time.sleep(DEAD_AFTER_S / 2 + 0.1)
    assert records.dead() == ["a"]


def test_burying_a_dead_worker_hands_over_what_it_still_held(records: Liveness) -> None:
    records.beat("a")
    for tag in ("t1", "t2", "t3"):
        records.hold("a", tag)
    records.let_go("a", "t2")
    time.sleep(DEAD_AFTER_S + 0.1)
    assert records.bury("a") == ["t1", "t3"]
    assert records.bury("a") is None  # buried already
    assert records.dead() == []


def test_a_live_worker_cannot_be_buried(records: Liveness) -> None:
    records.beat("a")
    records.hold("a", "t1")
    assert records.bury("a") is None
    time.sleep(DEAD_AFTER_S + 0.1)
    assert records.bury("a") == ["t1"]  # still held: nothing was lost by the refusal


def test_of_many_concurrent_buriers_exactly_one_gets_the_tasks(records: Liveness) -> None:
    records.beat("a")
    records.hold("a", "t1")
    time.sleep(DEAD_AFTER_S + 0.1)
    results: list[list[str] | None] = []
    go = threading.Barrier(8)

    def bury() -> None:
        go.wait()
        results.append(records.bury("a"))

    threads = [threading.Thread(target=bury) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results, key=str) == [None] * 7 + [["t1"]]


def test_a_worker_that_left_is_neither_dead_nor_holding(records: Liveness) -> None:
    records.beat("a")
    records.hold("a", "t1")
    records.leave("a")
    time.sleep(DEAD_AFTER_S + 0.1)
    assert records.dead() == []
    assert records.bury("a") is None


def test_fault_counts_add_up_across_callers_and_start_at_zero(records: Liveness) -> None:
    assert records.counts() == dict.fromkeys(FAULTS, 0)
    records.count(REDELIVERIES)
    records.count(REDELIVERIES, 3)
    records.count(ORPHANS_REQUEUED, 2)
    assert records.counts() == {REDELIVERIES: 4, ORPHANS_REQUEUED: 2}
