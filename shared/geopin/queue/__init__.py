"""Celery, configured once for every GeoPin process (gateway, embedder, searcher, notifier).

The reliability settings follow REFERENCE.md section 4: a task is acknowledged
only after it ran (``acks_late``), a task whose worker died is delivered again
(``reject_on_worker_lost``; Redis redelivers unacknowledged tasks after the
visibility timeout), and a worker takes one task at a time so a slow embedding
never holds others hostage.
"""

from __future__ import annotations

import logging
import sqlite3
import sys
from collections.abc import Callable

from celery import Celery, chain
from kombu.exceptions import OperationalError

from geopin.logs import configure_logging
from geopin.outages import OutageTranslation
from geopin.queue.names import (
    EMBED_QUEUE,
    EMBED_TASK,
    SEARCH_QUEUE,
    SEARCH_TASK,
    WEBHOOK_QUEUE,
    WEBHOOK_TASK,
)
from geopin.settings import Settings
from geopin.webhooks.due import DueAttempt

log = logging.getLogger(__name__)

__all__ = [
    "EMBED_QUEUE",
    "EMBED_TASK",
    "SEARCH_QUEUE",
    "SEARCH_TASK",
    "WEBHOOK_QUEUE",
    "WEBHOOK_TASK",
    "QueueUnavailable",
    "enqueue_locate",
    "enqueue_webhook",
    "make_celery",
    "run_worker",
]


class QueueUnavailable(Exception):
    """The broker did not take the message; worth retrying."""

    code = "queue-unavailable"


# kombu raises its own error once it gave up on Redis; the embedded transport's SQLite errors
# reach us as they are (kombu does not count them as connection errors).
_broker_outage = OutageTranslation(
    (OperationalError, sqlite3.OperationalError), QueueUnavailable, "broker"
)


def make_celery(settings: Settings, name: str = "geopin") -> Celery:
    from geopin.wiring import celery_broker  # it builds on this module's queue names

    app = Celery(name)
    # Plain queue names (no key prefix): KEDA and the gateway's backpressure read the
    # lists ``embed`` and ``search`` directly. Separate deployments use separate Redis DBs.
    app.conf.update(
        **celery_broker(settings),
        broker_connection_retry_on_startup=True,
        # Job state lives in the job store; Celery's own result backend would be a second copy.
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        task_soft_time_limit=settings.celery.soft_time_limit_s,
        task_time_limit=settings.celery.hard_time_limit_s,
        task_routes={
            EMBED_TASK: {"queue": EMBED_QUEUE},
            SEARCH_TASK: {"queue": SEARCH_QUEUE},
            WEBHOOK_TASK: {"queue": WEBHOOK_QUEUE},
        },
        task_default_queue=EMBED_QUEUE,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )
    return app


@_broker_outage
def enqueue_locate(app: Celery, job_id: str) -> None:
    """Send the job down the pipeline: embed on the ``embed`` queue, then search."""
    chain(
        app.signature(EMBED_TASK, args=(job_id,), immutable=True, queue=EMBED_QUEUE),
        app.signature(SEARCH_TASK, args=(job_id,), immutable=True, queue=SEARCH_QUEUE),
    ).apply_async()


@_broker_outage
def enqueue_webhook(app: Celery, due: DueAttempt) -> None:
    """Ask the notifier for one delivery attempt of a job's webhook."""
    app.send_task(WEBHOOK_TASK, args=(due.job_id, due.round, due.attempt), queue=WEBHOOK_QUEUE)


def run_worker(
    create_app: Callable[[Settings], Celery], options: Callable[[Settings], list[str]]
) -> None:
    """Start a worker process: settings from the environment, then Celery's own CLI.

    ``options`` gives the service's defaults; command-line arguments come after them and win.
    """
    from geopin.metrics import start_worker_server
    from geopin.task_metrics import observe_tasks
    from geopin.wiring import log_choice

    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    app = create_app(settings)
    observe_tasks()
    start_worker_server(settings.metrics.port)
    log_choice(settings, app.main)
    argv = ["worker", f"--loglevel={settings.log_level}", *options(settings), *sys.argv[1:]]
    app.worker_main(argv)
