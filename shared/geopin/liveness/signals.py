"""Keep a worker's liveness record from Celery's signals: which tasks it holds, and its watch.

A task is held from the moment the worker receives it (prefetched ones included: they sit
unacknowledged in the broker too) until it has run, so a worker killed at any point between
leaves a record of every task the broker still counts as delivered to it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import Task
from celery.signals import task_postrun, task_received, worker_init, worker_shutdown
from celery.worker.request import Request

from geopin.jobs import StoreUnavailable
from geopin.liveness import REDELIVERIES, Liveness, Watch, worker_name
from geopin.settings import CelerySettings

log = logging.getLogger(__name__)


def watch_over_tasks(
    liveness: Liveness, requeue: Callable[[list[str]], None], settings: CelerySettings
) -> None:
    """Record this worker's tasks in ``liveness`` and run its :class:`Watch` while it runs."""
    worker = worker_name()
    watch = Watch(
        liveness, worker, requeue, settings.heartbeat_s, grace_s=settings.presumed_dead_after_s
    )

    def started(**_: object) -> None:
        watch.once()  # alive before the first task arrives, so it is never held unseen
        watch.start()

    def received(request: Request, **_: object) -> None:
        try:
            liveness.hold(worker, request.message.delivery_tag)
            if request.delivery_info.get("redelivered"):
                liveness.count(REDELIVERIES)
        except StoreUnavailable as exc:  # the task still runs; only its fast recovery is lost
            log.warning("could not record task %s as held: %s", request.id, exc)

    def finished(sender: Task, **_: Any) -> None:
        tag = (sender.request.properties or {}).get("delivery_tag")
        if tag is None:
            return  # run in-process (``apply``), not delivered by a broker
        try:
            liveness.let_go(worker, tag)
        except StoreUnavailable as exc:  # a stale entry only: requeuing it finds nothing
            log.warning("could not record task %s as done: %s", sender.request.id, exc)

    def stopped(**_: object) -> None:
        watch.stop()
        try:
            liveness.leave(worker)
        except StoreUnavailable as exc:
            log.warning("could not remove this worker's liveness record: %s", exc)

    worker_init.connect(started, weak=False)
    task_received.connect(received, weak=False)
    task_postrun.connect(finished, weak=False)
    worker_shutdown.connect(stopped, weak=False)
