"""GeoPin's Celery app, its one configuration, and how jobs and webhooks are enqueued.

``app`` is the Celery app of every worker: its tasks are declared at module level in the
services' task modules (``geopin_embedder.tasks`` and its siblings), so Celery's own command
line finds them (``celery -A geopin_embedder.tasks worker``). Importing this module does no
I/O: the app reads this process's settings (:data:`geopin.per_process.process_settings`) the
first time Celery needs its configuration. A process that holds settings of its own (the
gateway's ``create_app(settings)``, the CLI, tests) gets an app for them from
:func:`make_celery`; both apply :func:`celery_config`, the one definition.

A job must survive the death of the worker running it, so a task is acknowledged only after
it ran (``task_acks_late``), a task whose worker process died is put back on its queue
(``task_reject_on_worker_lost``), and a worker reserves one task at a time
(``worker_prefetch_multiplier=1``), so a slow embedding never holds others back. Redis keeps
a delivered, unacknowledged task and delivers it again once it is older than the transport's
``visibility_timeout``, which therefore exceeds the hard time limit: no task is delivered
twice while it still runs. Celery documents these settings at
https://docs.celeryq.dev/en/stable/userguide/configuration.html and the Redis transport's
visibility timeout at
https://docs.celeryq.dev/en/stable/getting-started/backends-and-brokers/redis.html.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from celery import Celery, chain
from celery.signals import worker_init
from kombu.exceptions import OperationalError

from geopin.backends import uses_redis
from geopin.outages import OutageTranslation
from geopin.per_process import process_settings
from geopin.queue import sqlite as embedded_broker
from geopin.queue.broker_loss import WORKER_OPTIONS, refuse_unworkable_pool
from geopin.queue.names import (
    EMBED_QUEUE,
    EMBED_TASK,
    INGEST_TASK,
    SEARCH_QUEUE,
    SEARCH_TASK,
    WEBHOOK_QUEUE,
    WEBHOOK_TASK,
)
from geopin.settings import Settings
from geopin.webhooks.due import DueAttempt

__all__ = [
    "EMBED_QUEUE",
    "EMBED_TASK",
    "SEARCH_QUEUE",
    "SEARCH_TASK",
    "WEBHOOK_QUEUE",
    "WEBHOOK_TASK",
    "QueueUnavailable",
    "app",
    "celery_config",
    "enqueue_locate",
    "enqueue_webhook",
    "make_celery",
    "requeue",
]


class QueueUnavailable(Exception):
    """The broker did not take the message; worth retrying."""

    code = "queue-unavailable"


# kombu raises its own error once it gave up on Redis; the embedded transport's SQLite errors
# reach us as they are (kombu does not count them as connection errors).
_broker_outage = OutageTranslation(
    (OperationalError, sqlite3.OperationalError), QueueUnavailable, "broker"
)


def celery_config(settings: Settings) -> dict[str, Any]:
    """Every Celery setting GeoPin uses, from its settings (the module docstring says why)."""
    return {
        **_broker(settings),
        "broker_connection_retry_on_startup": True,
        # Job state lives in the job store; Celery's own result backend would be a second copy.
        "task_ignore_result": True,
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "worker_cancel_long_running_tasks_on_connection_loss": (
            settings.celery.cancel_tasks_on_connection_loss
        ),
        "task_soft_time_limit": settings.celery.soft_time_limit_s,
        "task_time_limit": settings.celery.hard_time_limit_s,
        # Set on each task when the app binds it, so declaring a task reads no settings. A
        # job's own tasks are bounded by the outage window instead (geopin.queue.job_task).
        "task_annotations": {
            name: {"max_retries": settings.celery.max_retries}
            for name in (INGEST_TASK, WEBHOOK_TASK)
        },
        # Plain queue names (no key prefix): KEDA and the gateway's backpressure read the
        # lists ``embed`` and ``search`` directly. Separate deployments use separate Redis DBs.
        "task_routes": {
            EMBED_TASK: {"queue": EMBED_QUEUE},
            SEARCH_TASK: {"queue": SEARCH_QUEUE},
            WEBHOOK_TASK: {"queue": WEBHOOK_QUEUE},
        },
        "task_default_queue": EMBED_QUEUE,
        "worker_hijack_root_logger": False,
        "worker_send_task_events": False,
    }


def _broker(settings: Settings) -> dict[str, Any]:
    """Redis, or the SQLite transport in the data folder (geopin.queue.sqlite)."""
    options: dict[str, Any] = {"visibility_timeout": settings.celery.visibility_timeout_s}
    if uses_redis(settings):
        return {
            "broker_url": settings.celery.broker_url or settings.redis.url,
            "broker_transport_options": options,
        }
    embedded_broker.register()
    options["database"] = str(settings.data_folder() / "queue.db")
    return {
        "broker_url": f"{embedded_broker.SCHEME}://",
        "broker_transport_options": options,
        # Celery's remote control (inspect, control, ping) broadcasts on a fanout exchange,
        # which this transport does not offer (docs/embedded.md).
        "worker_enable_remote_control": False,
    }


def make_celery(settings: Settings, name: str = "geopin") -> Celery:
    """A Celery app configured for ``settings``, for a process that was given its settings;
    Celery's current app stays the workers' ``app``."""
    configured = Celery(name, set_as_current=False)
    configured.conf.update(celery_config(settings))
    return configured


# The workers' app. Celery calls a callable given to add_defaults only when it first needs
# its configuration, so importing this module reads no settings and opens no connection.
# Workers wait out a broker outage where other processes answer at once (broker_loss).
app = Celery("geopin")
app.add_defaults(lambda: {**celery_config(process_settings()), **WORKER_OPTIONS})
worker_init.connect(refuse_unworkable_pool, weak=False)


@_broker_outage
def enqueue_locate(app: Celery, job_id: str) -> None:
    """Send the job down the pipeline: embed on the ``embed`` queue, then search."""
    chain(
        app.signature(EMBED_TASK, args=(job_id,), immutable=True, queue=EMBED_QUEUE),
        app.signature(SEARCH_TASK, args=(job_id,), immutable=True, queue=SEARCH_QUEUE),
    ).apply_async()


@_broker_outage
def requeue(app: Celery, tags: list[str]) -> None:
    """Put the messages a dead worker held back at the head of their queues, flagged as
    redelivered: the broker's own restore, as a warm shutdown uses it (geopin.liveness)."""
    with app.connection_for_write() as connection:
        qos = connection.default_channel.qos
        for tag in tags:
            qos.restore_by_tag(tag)


@_broker_outage
def enqueue_webhook(app: Celery, due: DueAttempt) -> None:
    """Ask the notifier for one delivery attempt of a job's webhook."""
    app.send_task(WEBHOOK_TASK, args=(due.job_id, due.round, due.attempt), queue=WEBHOOK_QUEUE)
