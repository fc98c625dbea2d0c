"""Entry point of the search worker: ``python -m geopin_searcher.worker [celery options]``."""

from __future__ import annotations

from celery import Celery
from geopin.queue import SEARCH_QUEUE, make_celery, run_worker
from geopin.settings import Settings

from .tasks import register_tasks


def create_worker_app(settings: Settings) -> Celery:
    app = make_celery(settings, "geopin-searcher")
    register_tasks(app, settings)
    return app


def worker_options(settings: Settings) -> list[str]:
    # Searches wait on Elasticsearch, not the CPU: a few threads keep it busy cheaply.
    return [
        f"--queues={SEARCH_QUEUE}",
        "--pool=threads",
        "--concurrency=4",
        "--hostname=searcher@%h",
    ]


def main() -> None:
    run_worker(create_worker_app, worker_options)


if __name__ == "__main__":
    main()
