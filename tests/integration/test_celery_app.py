"""Celery's own command line runs and inspects GeoPin's workers, and jobs queued by the previous
release's gateway (task names and arguments on the wire) finish on the new workers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import redis
from celery import Celery, chain
from geopin.jobs import JobStatus
from geopin.settings import Settings
from geopin.wiring import job_store

from tests.support.stack import REPO, Service, start_embedder, start_searcher, wait_until

CELERY = [sys.executable, "-m", "celery", "-A", "geopin_embedder.tasks"]


def inspect_registered(env: dict[str, str], node: str) -> str:
    result = subprocess.run(
        [*CELERY, "inspect", "registered", "--destination", node, "--timeout", "5"],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return result.stdout if result.returncode == 0 else ""


def test_a_plain_celery_worker_runs_the_embed_task_and_lists_it(
    redis_db: str, base_env: dict[str, str], reference_manifest: Path, tmp_path: Path
) -> None:
    env = {**base_env, "GEOPIN_REDIS__URL": redis_db}
    node = f"plain@{socket.gethostname()}"
    worker = Service(
        "plain-celery",
        [
            *CELERY,
            "worker",
            "-Q",
            "embed",
            "--pool=threads",
            "--concurrency=2",
            f"--hostname={node}",
        ],
        env,
        tmp_path,
    )
    try:
        answers: list[str] = []

        def answered() -> bool:
            answers.append(inspect_registered(env, node))
            return bool(answers[-1])

        wait_until(answered, 90, f"{node} to answer `celery inspect registered`", worker)
        assert "* geopin.embed" in answers[-1]
        assert "* geopin.ingest" in answers[-1]

        store = job_store(Settings(redis={"url": redis_db}))
        job = store.create((reference_manifest.parent / "place-002.jpg").read_bytes(), 3)
        Celery("sender", broker=redis_db, set_as_current=False).send_task(
            "geopin.embed", args=(job.job_id,), queue="embed"
        )
        wait_until(lambda: store.load_vector(job.job_id) is not None, 60, "the embedding", worker)
    finally:
        worker.stop()


def test_a_job_queued_by_the_previous_gateway_finishes_on_the_new_workers(
    redis_db: str, base_env: dict[str, str], reference_manifest: Path, tmp_path: Path
) -> None:
    store = job_store(Settings(redis={"url": redis_db}))
    job = store.create((reference_manifest.parent / "place-005.jpg").read_bytes(), 3)
    # What the previous gateway sent, from a plain app that knows nothing of GeoPin's: the
    # message format and the task names are the contract between releases.
    previous = Celery("previous-gateway", broker=redis_db, set_as_current=False)
    chain(
        previous.signature("geopin.embed", args=(job.job_id,), immutable=True, queue="embed"),
        previous.signature("geopin.search", args=(job.job_id,), immutable=True, queue="search"),
    ).apply_async()
    assert redis.Redis.from_url(redis_db).llen("embed") == 1  # waiting out the upgrade

    env = {**base_env, "GEOPIN_REDIS__URL": redis_db}
    workers = [start_embedder(env, tmp_path), start_searcher(env, tmp_path)]
    try:
        wait_until(lambda: store.get(job.job_id).status.is_terminal, 120, "the job", workers[0])
        done = store.get(job.job_id)
        assert done.status is JobStatus.SUCCEEDED, done.error
        assert done.result["matches"][0]["id"] == "place-005"
    finally:
        for worker in workers:
            worker.stop()
