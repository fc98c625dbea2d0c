"""An embedding worker killed mid-batch loses no job and duplicates no result."""

from __future__ import annotations

import time
from pathlib import Path

import redis
from geopin.jobs import JobStatus
from geopin.queue import enqueue_locate, make_celery
from geopin.settings import Settings
from geopin.wiring import job_store

from tests.support.factories import encode, place_photo
from tests.support.stack import (
    SHORT_DELIVERY_LIMITS,
    start_embedder,
    start_searcher,
    wait_until,
)

# Short limits so redelivery happens within the test; their order is what production keeps.
VISIBILITY_TIMEOUT_S = int(SHORT_DELIVERY_LIMITS["GEOPIN_CELERY__VISIBILITY_TIMEOUT_S"])
CRASH_ENV = {
    **SHORT_DELIVERY_LIMITS,
    # A large photo at native size keeps the worker busy long enough to be killed mid-job.
    "GEOPIN_IMAGES__RESIZE": "native",
    "GEOPIN_IMAGES__MAX_SIDE": "1024",
    "GEOPIN_MODEL__MAX_BATCH": "4",
    "GEOPIN_MODEL__MAX_WAIT_MS": "200",
}
BATCH = 4


def test_jobs_complete_once_after_their_worker_is_killed_mid_batch(
    redis_db: str, base_env: dict[str, str], reference_manifest: Path, tmp_path: Path
) -> None:
    env = {**base_env, **CRASH_ENV, "GEOPIN_REDIS__URL": redis_db}
    settings = Settings(
        redis={"url": redis_db},
        celery={
            "soft_time_limit_s": 15,
            "hard_time_limit_s": 18,
            "visibility_timeout_s": VISIBILITY_TIMEOUT_S,
        },
    )
    store = job_store(settings)
    r = redis.Redis.from_url(redis_db)
    searcher = start_searcher(env, tmp_path)
    first = start_embedder(env, tmp_path)
    wait_until(lambda: r.hlen("geopin:embedders") > 0, 60, "model loaded", first)

    celery = make_celery(settings)
    jobs = [
        store.create(encode(place_photo(seed, (1024, 768)), quality=95), top_k=3)
        for seed in range(BATCH)
    ]
    for job in jobs:
        enqueue_locate(celery, job.job_id)

    def all_running() -> bool:
        return all(store.get(j.job_id).status is JobStatus.RUNNING for j in jobs)

    wait_until(all_running, 30, "the whole batch running", first)
    delivered = time.monotonic()
    first.kill()  # SIGKILL to the whole worker: no warm shutdown, no acknowledgement
    assert all(store.load_vector(j.job_id) is None for j in jobs), "finished before the kill"

    # kombu looks for overdue unacknowledged tasks 10 s after a worker starts, then only
    # every 100 s; starting once the tasks are overdue makes that first look find them.
    time.sleep(max(0.0, delivered + VISIBILITY_TIMEOUT_S - time.monotonic()))
    second = start_embedder(env, tmp_path)
    try:

        def all_ended() -> bool:
            return all(store.get(j.job_id).status.is_terminal for j in jobs)

        wait_until(all_ended, 120, "redelivery", second)
        for job in jobs:
            finished = store.get(job.job_id)
            assert finished.status is JobStatus.SUCCEEDED, finished.error
            assert [h.status for h in finished.history] == [
                JobStatus.QUEUED,
                JobStatus.RUNNING,
                JobStatus.SUCCEEDED,
            ]
            assert len(finished.result["matches"]) == 3
            assert store.load_upload(job.job_id) is None  # the photo is gone once used
    finally:
        second.stop()
        searcher.stop()
