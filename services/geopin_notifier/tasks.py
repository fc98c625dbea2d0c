"""The webhook task: one delivery attempt of an ended job's callback, by IDs only."""

from __future__ import annotations

from functools import partial

import redis
from celery import Celery
from celery.signals import worker_ready, worker_shutdown
from geopin.queue import WEBHOOK_TASK, enqueue_webhook
from geopin.settings import Settings
from geopin.webhooks.due import DueMover, DueSet
from geopin.wiring import notifier, redis_client


def register_tasks(app: Celery, settings: Settings) -> None:
    client = redis_client(settings)
    deliveries = notifier(settings, app, client)
    mover = DueMover(
        DueSet(client, settings.redis.key_prefix),
        partial(enqueue_webhook, app),
        settings.webhooks.poll_interval_s,
    )

    @worker_ready.connect(weak=False)
    def start_mover(**_: object) -> None:
        mover.start()  # retries wait in Redis, not in Celery's ETA (see geopin.webhooks.due)

    @worker_shutdown.connect(weak=False)
    def stop_mover(**_: object) -> None:
        mover.stop()

    @app.task(
        name=WEBHOOK_TASK,
        bind=True,
        autoretry_for=(redis.ConnectionError, redis.TimeoutError),
        retry_backoff=True,
        max_retries=settings.celery.max_retries,
    )
    def deliver(self: object, job_id: str, round_: int, attempt: int) -> None:
        deliveries.attempt(job_id, round_, attempt)
