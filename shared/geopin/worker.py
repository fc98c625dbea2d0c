"""Start a GeoPin worker: ``python -m geopin.worker embed|search|notify [celery worker options]``.

One entry point for the three workers, driven by :data:`WORKERS`: each names the queue it
consumes, its pool and concurrency, the node name its health checks ping, and the module of
its tasks, which Celery imports (by name, so this library does not import the services).
Before handing over to ``celery worker`` it configures logging, starts recording task
metrics and serving them, keeps the worker's liveness record (so that the tasks of a worker
that dies run again within seconds, :mod:`geopin.liveness`), and logs which backends it
uses. Options given after the worker's name go to Celery after these defaults, so they win.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from geopin.liveness.signals import watch_over_tasks
from geopin.logs import configure_logging
from geopin.metrics import start_worker_server
from geopin.per_process import process_settings
from geopin.queue import EMBED_QUEUE, SEARCH_QUEUE, WEBHOOK_QUEUE, app, requeue
from geopin.settings import Settings
from geopin.task_metrics import observe_tasks
from geopin.wiring import liveness, log_choice

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Worker:
    queue: str
    tasks: str  # the module declaring its tasks, which Celery imports
    pool: str
    concurrency: Callable[[Settings], int]
    node: str  # Celery names the node <node>@<host>; health checks ping that name

    def celery_options(self, settings: Settings) -> list[str]:
        return [
            f"--queues={self.queue}",
            f"--pool={self.pool}",
            f"--concurrency={self.concurrency(settings)}",
            f"--hostname={self.node}@%h",
        ]


WORKERS = {
    # One process per host with ONNX Runtime using every core; two batches' worth of task
    # threads, so the next batch is decoded while the micro-batcher runs one: with only one
    # batch's worth, the model sat idle while each batch's photos were received and decoded.
    "embed": Worker(
        EMBED_QUEUE, "geopin_embedder.tasks", "threads", lambda s: 2 * s.model.max_batch, "embedder"
    ),
    # Searches wait on Elasticsearch, not the CPU: a few threads keep it busy cheaply.
    "search": Worker(SEARCH_QUEUE, "geopin_searcher.tasks", "threads", lambda _: 4, "searcher"),
    # Deliveries wait on receivers, not the CPU: threads keep many in flight cheaply.
    "notify": Worker(WEBHOOK_QUEUE, "geopin_notifier.tasks", "threads", lambda _: 8, "notifier"),
}


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in WORKERS:
        sys.exit(f"usage: python -m geopin.worker {{{'|'.join(WORKERS)}}} [celery worker options]")
    worker = WORKERS[args[0]]
    settings = process_settings()
    configure_logging(settings.log_level, settings.log_format)
    observe_tasks()
    watch_over_tasks(liveness(settings), partial(requeue, app), settings.celery)
    start_worker_server(settings.metrics.port)
    log_choice(settings, worker.node)
    app.conf.include = [worker.tasks]
    options = worker.celery_options(settings)
    app.worker_main(["worker", f"--loglevel={settings.log_level}", *options, *args[1:]])


if __name__ == "__main__":
    main()
