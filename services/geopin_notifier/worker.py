"""Entry point of the webhook notifier: ``python -m geopin_notifier.worker [celery options]``."""

from __future__ import annotations

from celery import Celery
from geopin.queue import WEBHOOK_QUEUE, make_celery, run_worker
from geopin.settings import Settings

from .tasks import register_tasks


def create_worker_app(settings: Settings) -> Celery:
    app = make_celery(settings, "geopin-notifier")
    register_tasks(app, settings)
    return app


def worker_options(settings: Settings) -> list[str]:
    # Deliveries wait on receivers, not the CPU: threads keep many in flight cheaply.
    return [
        f"--queues={WEBHOOK_QUEUE}",
        "--pool=threads",
        "--concurrency=8",
        "--hostname=notifier@%h",
    ]


def main() -> None:
    run_worker(create_worker_app, worker_options)


if __name__ == "__main__":
    main()
