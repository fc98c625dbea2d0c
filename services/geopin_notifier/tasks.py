"""The notifier's task ``geopin.webhook``: one delivery attempt of an ended job's callback, by
IDs only; and the mover that sends due retries back to the queue while the worker runs.

``celery -A geopin_notifier.tasks worker -Q webhooks`` runs it; ``python -m geopin.worker
notify`` adds the production options (docs/deployment.md). What it works with is built per
process, on first use (:class:`~geopin.per_process.PerProcess`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from celery.signals import worker_ready, worker_shutdown
from geopin.per_process import PerProcess, process_settings
from geopin.queue import WEBHOOK_TASK, app, enqueue_webhook
from geopin.queue.retry import TRANSIENT_ERRORS
from geopin.webhooks.delivery import Notifier
from geopin.webhooks.due import DueMover, DueSet
from geopin.wiring import notifier, redis_client

__all__ = ["app", "deliver"]


@dataclass(frozen=True)
class NotifierParts:
    notifier: Notifier
    mover: DueMover


@PerProcess
def parts() -> NotifierParts:
    settings = process_settings()
    client = redis_client(settings)
    return NotifierParts(
        notifier(settings, app, client),
        DueMover(
            DueSet(client, settings.redis.key_prefix),
            partial(enqueue_webhook, app),
            settings.webhooks.poll_interval_s,
        ),
    )


@worker_ready.connect(weak=False)
def start_mover(**_: object) -> None:
    parts().mover.start()  # retries wait in Redis, not in Celery's ETA (see geopin.webhooks.due)


@worker_shutdown.connect(weak=False)
def stop_mover(**_: object) -> None:
    parts().mover.stop()


@app.task(name=WEBHOOK_TASK, autoretry_for=TRANSIENT_ERRORS, retry_backoff=True)
def deliver(job_id: str, round_: int, attempt: int) -> None:
    parts().notifier.attempt(job_id, round_, attempt)
