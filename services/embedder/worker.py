"""Entry point of the embedding worker: ``python -m services.embedder.worker [celery options]``."""

from __future__ import annotations

from celery import Celery

from shared.celery_app import EMBED_QUEUE, make_celery, run_worker
from shared.settings import Settings

from .tasks import register_tasks


def create_worker_app(settings: Settings) -> Celery:
    app = make_celery(settings, "geopin-embedder")
    register_tasks(app, settings)
    return app


def main() -> None:
    # One process per host by default: ONNX Runtime already uses every core for one image.
    run_worker(
        create_worker_app, [f"--queues={EMBED_QUEUE}", "--concurrency=1", "--hostname=embedder@%h"]
    )


if __name__ == "__main__":
    main()
