"""Drill: an embedding worker SIGKILLed mid-batch. Its jobs run again on a live worker soon
after, each ending succeeded exactly once, on Redis and on the embedded SQLite backends.

The visibility timeout stays at its production value (10 minutes): recovery comes from the
dead worker's liveness record expiring (geopin.liveness), not from the broker's timeout.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from geopin.jobs import JobStatus, JobStore
from geopin.liveness import ORPHANS_REQUEUED, REDELIVERIES
from geopin.queue import enqueue_locate, make_celery
from geopin.settings import Settings
from geopin.wiring import job_store, liveness, presence

from tests.support.factories import encode, place_photo
from tests.support.stack import REPO, Started, start_embedder, start_searcher, wait_until

# What the issue asks for is 60 s from death to finished; the assertion leaves room for a
# loaded machine. bench/redelivery.py measures the figure itself.
RECOVERY_BOUND_S = 150
GEOPIN_INDEX_ADD = [sys.executable, "-m", "geopin.cli", "index", "add"]
BATCH = 4
CRASH_ENV = {
    # A large photo at native size keeps the worker busy long enough to be killed mid-job.
    "GEOPIN_IMAGES__RESIZE": "native",
    "GEOPIN_IMAGES__MAX_SIDE": "1024",
    "GEOPIN_MODEL__MAX_BATCH": str(BATCH),
    "GEOPIN_MODEL__MAX_WAIT_MS": "200",
}


@pytest.fixture(params=["redis", "embedded"])
def env(request: pytest.FixtureRequest, base_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """Every process's environment, on Redis and Elasticsearch or on the embedded backends
    (the embedded index then gets the reference photos of its own)."""
    if request.param == "redis":
        return {**base_env, **CRASH_ENV, "GEOPIN_REDIS__URL": request.getfixturevalue("redis_db")}
    manifest: Path = request.getfixturevalue("reference_manifest")
    embedded = {k: v for k, v in base_env.items() if not k.startswith("GEOPIN_ELASTICSEARCH")}
    embedded |= {**CRASH_ENV, "GEOPIN_MODE": "embedded", "GEOPIN_DATA_DIR": str(tmp_path)}
    indexed = subprocess.run(
        [*GEOPIN_INDEX_ADD, str(manifest), "--report", str(tmp_path / "ingest-report.jsonl")],
        cwd=REPO,
        env={**os.environ, **embedded},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert indexed.returncode == 0, indexed.stderr
    return embedded


def settings_of(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings()


def test_jobs_held_by_a_killed_embedder_finish_once_within_the_bound(
    env: dict[str, str],
    reference_manifest: Path,
    started: Started,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = settings_of(env, monkeypatch)
    store: JobStore = job_store(settings)
    started.start(start_searcher, env)
    first = started.start(start_embedder, env)
    wait_until(lambda: presence(settings).loaded_models(), 90, "model loaded", first)

    celery = make_celery(settings)
    jobs = [
        store.create(encode(place_photo(seed, (1024, 768)), quality=95), top_k=3)
        for seed in range(BATCH)
    ]
    for job in jobs:
        enqueue_locate(celery, job.job_id)

    def all_running() -> bool:
        return all(store.get(j.job_id).status is JobStatus.RUNNING for j in jobs)  # type: ignore[union-attr]

    wait_until(all_running, 60, "the whole batch running", first)
    first.kill()  # SIGKILL to the whole worker: no warm shutdown, no acknowledgement
    killed = time.monotonic()
    assert all(store.load_vector(j.job_id) is None for j in jobs), "finished before the kill"

    second = started.start(start_embedder, env)

    def all_ended() -> bool:
        return all(store.get(j.job_id).status.is_terminal for j in jobs)  # type: ignore[union-attr]

    wait_until(all_ended, RECOVERY_BOUND_S, "the dead worker's jobs to end", second)
    recovered_s = time.monotonic() - killed
    assert recovered_s < RECOVERY_BOUND_S
    for job in jobs:
        finished = store.get(job.job_id)
        assert finished is not None
        assert finished.status is JobStatus.SUCCEEDED, finished.error
        assert [h.status for h in finished.history] == [
            JobStatus.QUEUED,
            JobStatus.RUNNING,
            JobStatus.SUCCEEDED,
        ]  # ended once: a second end would have been refused, a second start too
        assert len(finished.result["matches"]) == 3  # type: ignore[index]
        assert store.load_upload(job.job_id) is None  # the photo is gone once used
    faults = liveness(settings).counts()
    assert faults[ORPHANS_REQUEUED] == BATCH  # exactly what the dead worker held, put back once
    assert faults[REDELIVERIES] >= BATCH
    assert store.oldest_running() is None
    assert second.process.poll() is None, "the replacement died"
