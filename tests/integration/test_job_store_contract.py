"""What every job store must do, run against Redis and the embedded SQLite store."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import numpy as np
import pytest
from geopin.jobs import Job, JobStatus, JobStore, QueryVector, StoreUnavailable
from geopin.settings import JobSettings

from tests.support.stack import RedisServer, write_locked

BACKENDS = ["redis", "sqlite"]


StoreFactory = Callable[[JobSettings], JobStore]
Outage = Callable[[], AbstractContextManager[None]]


@pytest.fixture(params=BACKENDS)
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    if request.param == "sqlite":
        from geopin.jobs.sqlite import SqliteJobStore

        return lambda settings: SqliteJobStore(tmp_path / "jobs.db", settings)
    import redis
    from geopin.jobs.redis import RedisJobStore

    client = redis.Redis.from_url(request.getfixturevalue("redis_db"))
    return lambda settings: RedisJobStore(client, settings, "geopin-test")


@pytest.fixture
def store(make_store: StoreFactory) -> JobStore:
    return make_store(JobSettings(result_ttl_s=60, upload_ttl_s=60))


def test_a_created_job_is_queued_with_its_upload(store: JobStore) -> None:
    job = store.create(b"photo", 5, owner="k1", geo_filter={"type": "bbox"})
    read = store.get(job.job_id)
    assert read is not None
    assert (read.status, read.top_k, read.owner, read.geo_filter) == (
        JobStatus.QUEUED,
        5,
        "k1",
        {"type": "bbox"},
    )
    assert store.load_upload(job.job_id) == b"photo"
    assert store.get("no-such-job") is None


def test_the_first_result_wins_and_only_its_call_gets_the_ended_job(store: JobStore) -> None:
    job = store.create(b"photo", 5)
    assert store.mark_running(job.job_id) is not None
    assert store.mark_running(job.job_id).status is JobStatus.RUNNING  # type: ignore[union-attr]
    ended = store.succeed(job.job_id, {"matches": [1]})
    assert ended is not None
    assert (ended.job_id, ended.status, ended.result) == (
        job.job_id,
        JobStatus.SUCCEEDED,
        {"matches": [1]},
    )
    assert store.succeed(job.job_id, {"matches": [2]}) is None
    assert store.fail(job.job_id, "timeout", "late") is None
    read = store.get(job.job_id)
    assert read is not None
    assert read.result == {"matches": [1]}
    assert [s.status for s in read.history] == [
        JobStatus.QUEUED,
        JobStatus.RUNNING,
        JobStatus.SUCCEEDED,
    ]


def test_concurrent_terminal_transitions_let_exactly_one_through(store: JobStore) -> None:
    job = store.create(b"photo", 5)
    wins: list[Job | None] = []
    threads = [
        threading.Thread(target=lambda i=i: wins.append(store.succeed(job.job_id, {"n": i})))
        for i in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [won.job_id for won in wins if won is not None] == [job.job_id]
    assert wins.count(None) == 7


def test_vectors_round_trip_and_discard_forgets_everything(store: JobStore) -> None:
    job = store.create(b"photo", 5)
    vector = np.arange(4, dtype=np.float32)
    store.save_vector(job.job_id, QueryVector("m" * 64, vector, embed_s=0.25))
    loaded = store.load_vector(job.job_id)
    assert loaded is not None
    assert (loaded.model_id, loaded.embed_s) == ("m" * 64, 0.25)
    np.testing.assert_array_equal(loaded.vector, vector)
    store.delete_upload(job.job_id)
    assert store.load_upload(job.job_id) is None
    store.discard(job.job_id)
    assert (store.get(job.job_id), store.load_vector(job.job_id)) == (None, None)


def test_a_job_and_its_upload_expire_after_their_ttl(make_store: StoreFactory) -> None:
    store = make_store(JobSettings(result_ttl_s=1, upload_ttl_s=1))
    job = store.create(b"photo", 5)
    time.sleep(1.2)
    assert (store.get(job.job_id), store.load_upload(job.job_id)) == (None, None)
    assert store.mark_running(job.job_id) is None


def test_running_jobs_are_tracked_until_they_end_and_the_oldest_is_known(
    store: JobStore,
) -> None:
    assert store.oldest_running() is None
    first, second, queued = (store.create(b"photo", 5) for _ in range(3))
    before = time.time()
    store.mark_running(first.job_id)
    time.sleep(0.05)
    store.mark_running(second.job_id)
    store.mark_running(second.job_id)  # a redelivery: still started once
    oldest = store.oldest_running()
    assert oldest is not None
    assert before - 1 <= oldest <= before + 0.05 + 1
    store.succeed(first.job_id, {"matches": []})
    later = store.oldest_running()
    assert later is not None
    assert later > oldest
    store.fail(second.job_id, "timeout", "too slow")
    store.fail(queued.job_id, "upload-expired", "gone")  # never ran
    assert store.oldest_running() is None


def test_failures_are_counted_by_code_once_per_job(store: JobStore) -> None:
    assert store.failures() == {}
    jobs = [store.create(b"photo", 5) for _ in range(3)]
    for job in jobs[:2]:
        store.fail(job.job_id, "index-unavailable", "down")
        store.fail(job.job_id, "internal-error", "a late duplicate: refused, not counted")
    store.succeed(jobs[2].job_id, {"matches": []})
    assert store.failures() == {"index-unavailable": 2}


def test_a_job_that_expires_while_running_is_no_longer_counted_as_running(
    make_store: StoreFactory,
) -> None:
    store = make_store(JobSettings(result_ttl_s=1, upload_ttl_s=1))
    job = store.create(b"photo", 5)
    store.mark_running(job.job_id)
    assert store.oldest_running() is not None
    time.sleep(1.2)
    assert store.oldest_running() is None


def test_a_stored_vector_expires_after_the_result_ttl(make_store: StoreFactory) -> None:
    # A job whose search never ran (searcher down for a day) must not keep its embedding.
    store = make_store(JobSettings(result_ttl_s=1, upload_ttl_s=60))
    job = store.create(b"photo", 5)
    store.save_vector(job.job_id, QueryVector("m" * 64, np.ones(4, dtype=np.float32)))
    assert store.load_vector(job.job_id) is not None
    time.sleep(1.5)
    assert store.load_vector(job.job_id) is None


@pytest.fixture(params=BACKENDS)
def store_and_outage(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[JobStore, Outage]]:
    """A store, and how its backend stops taking writes: Redis stopped, or SQLite locked."""
    settings = JobSettings(result_ttl_s=60, upload_ttl_s=60)
    if request.param == "sqlite":
        from geopin.jobs.sqlite import SqliteJobStore

        path = tmp_path / "jobs.db"
        yield SqliteJobStore(path, settings), lambda: write_locked(path)
        return
    import redis
    from geopin.jobs.redis import RedisJobStore

    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield RedisJobStore(redis.Redis.from_url(server.url), settings, "geopin-test"), server.down
    finally:
        server.kill()


def test_a_store_that_cannot_take_writes_raises_store_unavailable_then_recovers(
    store_and_outage: tuple[JobStore, Outage],
) -> None:
    store, outage = store_and_outage
    job = store.create(b"photo", 5)
    with outage():
        with pytest.raises(StoreUnavailable):
            store.create(b"another photo", 5)
        with pytest.raises(StoreUnavailable):
            store.mark_running(job.job_id)
    running = store.mark_running(job.job_id)
    assert running is not None
    assert running.status is JobStatus.RUNNING
