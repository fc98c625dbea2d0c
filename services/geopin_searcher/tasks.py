"""The search task: a job's embedding in, its nearest references recorded as the result."""

from __future__ import annotations

import redis
from celery import Celery
from geopin.index import IndexUnavailable
from geopin.pipeline import search_step
from geopin.queue import SEARCH_TASK
from geopin.queue.job_task import JobTask
from geopin.settings import Settings
from geopin.wiring import job_store, notifier, vector_index


def register_tasks(app: Celery, settings: Settings) -> None:
    store = job_store(settings)
    deliveries = notifier(settings, app)
    index = vector_index(settings)

    @app.task(
        name=SEARCH_TASK,
        bind=True,
        base=JobTask,
        store=store,
        notifier=deliveries,
        autoretry_for=(IndexUnavailable, redis.ConnectionError, redis.TimeoutError),
        retry_backoff=True,
        max_retries=settings.celery.max_retries,
    )
    def search(self: JobTask, job_id: str) -> None:
        search_step(job_id, store, index, settings.location, deliveries)
