"""The search task: a job's embedding in, its nearest references recorded as the result."""

from __future__ import annotations

import redis
from celery import Celery
from geopin.index import IndexUnavailable
from geopin.pipeline import search_step
from geopin.queue import SEARCH_TASK, JobTask
from geopin.settings import Settings
from geopin.task_metrics import counting_ends
from geopin.wiring import job_store, notifier, vector_index


def register_tasks(app: Celery, settings: Settings) -> None:
    # A job that ends here (either way) starts its webhook's delivery: see RedisJobStore.
    store = job_store(settings, on_end=counting_ends(notifier(settings, app).start))
    index = vector_index(settings)

    @app.task(
        name=SEARCH_TASK,
        bind=True,
        base=JobTask,
        store=store,
        autoretry_for=(IndexUnavailable, redis.ConnectionError, redis.TimeoutError),
        retry_backoff=True,
        max_retries=settings.celery.max_retries,
    )
    def search(self: JobTask, job_id: str) -> None:
        search_step(job_id, store, index, settings.location)
