"""The embed task: a job's photo in, its embedding stored for the search task."""

from __future__ import annotations

import redis
from celery import Celery
from celery.exceptions import Ignore
from celery.signals import worker_process_init

from shared.backends import job_store, redis_client
from shared.celery_app import EMBED_TASK, JobTask
from shared.model.embedder import Embedder
from shared.model.presence import ModelPresence
from shared.pipeline import embed_step
from shared.settings import Settings


def register_tasks(app: Celery, settings: Settings) -> Embedder:
    store = job_store(settings)
    embedder = Embedder(settings.model, settings.images)
    presence = ModelPresence(redis_client(settings), settings.redis.key_prefix)

    @worker_process_init.connect(weak=False)
    def load_model(**_: object) -> None:
        # Load in each pool process after the fork, before the first job arrives.
        presence.keep_announcing(embedder.info)

    @app.task(
        name=EMBED_TASK,
        bind=True,
        base=JobTask,
        store=store,
        autoretry_for=(redis.ConnectionError, redis.TimeoutError),
        retry_backoff=True,
        max_retries=settings.celery.max_retries,
    )
    def embed(self: JobTask, job_id: str) -> None:
        if not embed_step(job_id, store, embedder):
            raise Ignore()  # the job ended here (rejected photo, expired): skip the search

    return embedder
