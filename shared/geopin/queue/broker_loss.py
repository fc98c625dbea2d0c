"""How a worker lives through losing its broker: a Redis restart, a queue file locked too long.

Celery's defaults turn such a blip into a dead worker or a failed job, so the workers change
three of them (:data:`WORKER_OPTIONS`; the gateway and the CLI keep the defaults, so they
answer "unavailable" at once):

- **Tasks in flight run on.** With ``worker_cancel_long_running_tasks_on_connection_loss``
  Celery stops them, which a thread pool cannot do: the worker exits (``NotImplementedError:
  ... does not implement kill_job``). GeoPin lets them finish instead. Their acknowledgement
  is lost with the connection, so the broker delivers them again after the visibility
  timeout, and the second delivery finds its job ended and does nothing (the pipeline is
  idempotent by job ID). Operators who run a pool that can stop a task may turn cancelling
  on (``GEOPIN_CELERY__CANCEL_TASKS_ON_CONNECTION_LOSS``); with one that cannot, the worker
  refuses to start (:func:`refuse_unworkable_pool`).
- **Publishing waits for the broker.** A task's retry and the next step of a chain are
  published from the worker; Celery gives up after half a second, then drops the task it
  was retrying or fails the job in hand. Workers keep trying for about five minutes.
- **No pooled producer connections.** After a broker restart kombu 5.6 can hand the next
  publisher a pooled producer whose channel was closed ("'NoneType' object has no attribute
  'client'"), an error no retry policy catches. A connection per publish costs a local
  connect and a PING, next to an embedding's hundreds of milliseconds.

Celery documents these settings at
https://docs.celeryq.dev/en/stable/userguide/configuration.html.
"""

from __future__ import annotations

import sys
from typing import Any

from celery.concurrency import get_implementation
from celery.concurrency.base import BasePool
from kombu.exceptions import OperationalError

# Every 2 s at most, 150 times: about five minutes. kombu raises its own OperationalError when
# a connection cannot be made within its connect timeout and retries it only when told to.
WORKER_PUBLISH_RETRY: dict[str, Any] = {
    "max_retries": 150,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 2,
    "retry_errors": (OperationalError,),
}

WORKER_OPTIONS: dict[str, Any] = {
    "task_publish_retry_policy": WORKER_PUBLISH_RETRY,
    "broker_pool_limit": 0,
    # A worker waits out a broker outage of any length rather than exit after 100 tries.
    "broker_connection_max_retries": None,
}


# Their terminate_job is BasePool's, which raises; prefork sets its own when it starts.
_CANNOT_STOP_A_TASK = ("threads", "solo")


def can_stop_a_task(pool: str | type[BasePool]) -> bool:
    """Whether Celery can stop one running task of this pool (prefork, gevent, eventlet)."""
    return get_implementation(pool) not in {get_implementation(p) for p in _CANNOT_STOP_A_TASK}


def refuse_unworkable_pool(sender: Any, **_: object) -> None:
    """Celery's ``worker_init``: stop, with one line, a worker whose configuration needs what
    its pool cannot do, before it loads a model or takes a task."""
    conf = sender.app.conf
    if conf.worker_cancel_long_running_tasks_on_connection_loss and not can_stop_a_task(
        sender.pool_cls
    ):
        sys.exit(
            "geopin worker: GEOPIN_CELERY__CANCEL_TASKS_ON_CONNECTION_LOSS=true needs a pool "
            "that can stop a running task (prefork, gevent, eventlet), not threads or solo"
        )
