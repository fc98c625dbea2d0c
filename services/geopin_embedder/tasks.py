"""The embed task: a job's photo in, its embedding stored for the search task."""

from __future__ import annotations

import time
from typing import Any

import redis
from celery import Celery
from celery.exceptions import Ignore
from celery.signals import worker_init
from geopin.index import IndexUnavailable
from geopin.ingest.distributed import INGEST_TASK, Ledger, ingest_share
from geopin.metrics import BATCH_SIZE, MODEL_LOAD
from geopin.model.embedder import Embedder
from geopin.pipeline import embed_step
from geopin.presence import keep_announcing
from geopin.queue import EMBED_TASK
from geopin.queue.job_task import JobTask
from geopin.settings import Settings
from geopin.wiring import (
    index_versions,
    job_store,
    notifier,
    presence,
    redis_client,
    thumbnail_store,
)


def register_tasks(app: Celery, settings: Settings) -> Embedder:
    """Register ``geopin.embed``; the worker runs it in threads that share one batcher."""
    store = job_store(settings)
    deliveries = notifier(settings, app)
    embedder = Embedder(
        settings.model,
        settings.images,
        on_batch=BATCH_SIZE.observe,
        # Celery's time limits do not apply to the thread pool; this bound does.
        timeout_s=settings.celery.soft_time_limit_s,
    )
    announcements = presence(settings)

    @worker_init.connect(weak=False)
    def load_model(**_: object) -> None:
        # Load before the first job arrives, so readiness means "can embed now".
        started = time.perf_counter()
        info = embedder.info
        MODEL_LOAD.set(time.perf_counter() - started)
        keep_announcing(announcements, info)

    @app.task(
        name=EMBED_TASK,
        bind=True,
        base=JobTask,
        store=store,
        notifier=deliveries,
        autoretry_for=(redis.ConnectionError, redis.TimeoutError),
        retry_backoff=True,
        max_retries=settings.celery.max_retries,
    )
    def embed(self: JobTask, job_id: str) -> None:
        if not embed_step(job_id, store, embedder, deliveries):
            raise Ignore()  # the job ended here (rejected photo, expired): skip the search

    ledger_client = redis_client(settings)
    versions = index_versions(settings)
    thumbnails = thumbnail_store(settings)

    @app.task(
        name=INGEST_TASK,
        autoretry_for=(redis.ConnectionError, redis.TimeoutError, IndexUnavailable),
        retry_backoff=True,
        max_retries=settings.celery.max_retries,
    )
    def ingest(
        run_id: str, target: str, photos: list[dict[str, Any]], options: dict[str, bool]
    ) -> None:
        ledger = Ledger(ledger_client, settings.redis.key_prefix, run_id)
        index = versions.open(target)
        ingest_share(ledger, photos, options, settings, embedder, embedder.info, index, thumbnails)

    return embedder
