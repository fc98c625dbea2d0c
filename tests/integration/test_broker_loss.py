"""Drills: the broker goes away under a steady load and comes back.

Redis is stopped for a while and started again (a Redis of the test's own, saving what it
holds when stopped), and the embedded broker's file is held locked by another process for
as long. Each drill asserts that no worker process exits, that every job the gateway
accepted succeeds within a bound, that none is done twice (each job's history is queued,
running, succeeded, also after the broker delivered again the tasks whose acknowledgement
the outage swallowed), and that the gateway refused, rather than lost, what it could not
queue.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
import redis
from geopin.jobs import JobStatus, JobStore
from geopin.settings import Settings
from geopin.wiring import job_store

from tests.support.factories import write_reference_set
from tests.support.geopin_up import run_geopin
from tests.support.load import Submitted, in_background, submit_steadily
from tests.support.stack import (
    SHORT_DELIVERY_LIMITS,
    RedisServer,
    Service,
    start_embedder,
    start_gateway,
    start_searcher,
    wait_until,
    write_locked,
)

JOBS = 80
INTERVAL_S = 0.2  # 16 s of load
FAULT_AFTER = 25  # jobs submitted before the broker goes away
OUTAGE_S = 8
ENDED_WITHIN_S = 120  # after the outage: generous, the machine is shared
VISIBILITY_TIMEOUT_S = int(SHORT_DELIVERY_LIMITS["GEOPIN_CELERY__VISIBILITY_TIMEOUT_S"])
DRILL_ENV = {
    **SHORT_DELIVERY_LIMITS,  # tasks whose acknowledgement was lost come back within the test
    "GEOPIN_LIMITS__SUBMIT": "1000/second",
    "GEOPIN_MODEL__INTRA_OP_THREADS": "1",
}
# kombu offers overdue unacknowledged Redis tasks again when a worker connects, then every
# 100 s; with the visibility timeout, that bounds when the last of them comes back.
REDELIVERED_WITHIN_S = VISIBILITY_TIMEOUT_S + 100 + 60


def _drill(
    url: str,
    store: JobStore,
    outage: Callable[[], AbstractContextManager[None]],
    workers: list[Service],
    broker_holds: Callable[[], int],
) -> None:
    ended_outage: list[float] = []

    def blip(submitted: int) -> None:
        def hold() -> None:
            with outage():
                time.sleep(OUTAGE_S)
            ended_outage.append(time.monotonic())

        if submitted == FAULT_AFTER:
            in_background(hold)

    load = submit_steadily(url, JOBS, INTERVAL_S, blip)
    wait_until(lambda: bool(ended_outage), 60, "the broker to come back")
    assert load.unanswered == 0, load
    assert set(load.refused) <= {503}, load  # refused during the outage, never failed
    assert len(load.accepted) > FAULT_AFTER + 10, load  # accepted again after it

    wait_until(lambda: _all_ended(store, load), ENDED_WITHIN_S, "every accepted job to end")
    _assert_each_succeeded_once(store, load)
    wait_until(lambda: broker_holds() == 0, REDELIVERED_WITHIN_S, "the broker to empty")
    _assert_each_succeeded_once(store, load)  # the second deliveries did nothing
    for worker in workers:
        assert worker.process.poll() is None, f"{worker.name} exited:\n{worker.log_tail()}"


def _all_ended(store: JobStore, load: Submitted) -> bool:
    return all((job := store.get(i)) is not None and job.status.is_terminal for i in load.accepted)


def _assert_each_succeeded_once(store: JobStore, load: Submitted) -> None:
    for job_id in load.accepted:
        job = store.get(job_id)
        assert job is not None, job_id
        assert job.status is JobStatus.SUCCEEDED, (job_id, job)
        assert [h.status for h in job.history] == [
            JobStatus.QUEUED,
            JobStatus.RUNNING,
            JobStatus.SUCCEEDED,
        ]


# Load, outage, the jobs' ends, then up to REDELIVERED_WITHIN_S for the swallowed acks.
@pytest.mark.timeout(600)
def test_a_redis_restart_under_load_loses_no_job_and_stops_no_worker(
    base_env: dict[str, str], reference_manifest: Path, tmp_path: Path
) -> None:
    server = RedisServer(tmp_path / "redis")
    server.start()
    env = {**base_env, **DRILL_ENV, "GEOPIN_REDIS__URL": server.url}
    workers = [start_embedder(env, tmp_path), start_searcher(env, tmp_path)]
    gateway, url = start_gateway(env, tmp_path)
    client = redis.Redis.from_url(server.url)

    def held_by_redis() -> int:
        # Waiting tasks, and delivered ones not yet acknowledged (kombu's "unacked" hash).
        return int(client.llen("embed") + client.llen("search") + client.hlen("unacked"))

    try:
        store = job_store(Settings(redis={"url": server.url}))
        _drill(url, store, server.down, workers, held_by_redis)
    finally:
        for service in (gateway, *workers):
            service.stop()
        server.kill()


def test_a_locked_embedded_queue_under_load_loses_no_job_and_stops_no_worker(
    model_path: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    env = {
        **DRILL_ENV,
        "GEOPIN_MODE": "embedded",
        "GEOPIN_DATA_DIR": str(data),
        "GEOPIN_MODEL__PATH": str(model_path),
    }
    _index_references(env, tmp_path)
    workers = [start_embedder(env, tmp_path), start_searcher(env, tmp_path)]
    gateway, url = start_gateway(env, tmp_path)

    def locked() -> AbstractContextManager[None]:
        return write_locked(data / "queue.db")

    try:
        store = job_store(Settings(mode="embedded", data_dir=data))
        _drill(url, store, locked, workers, lambda: _messages(data))
    finally:
        for service in (gateway, *workers):
            service.stop()


def _index_references(env: dict[str, str], tmp_path: Path) -> None:
    manifest = write_reference_set(tmp_path / "references", 8)
    report = str(tmp_path / "ingest-report.jsonl")
    added = run_geopin({**os.environ, **env}, "index", "add", str(manifest), "--report", report)
    assert added.returncode == 0, added.stderr


def _messages(data: Path) -> int:
    """Messages waiting, or taken and not yet acknowledged (the embedded transport's table)."""
    with sqlite3.connect(data / "queue.db") as conn:
        return int(conn.execute("SELECT count(*) FROM messages").fetchone()[0])
