"""Entry point of the embedding worker: ``python -m geopin_embedder.worker [celery options]``."""

from __future__ import annotations

from celery import Celery
from geopin.queue import EMBED_QUEUE, make_celery, run_worker
from geopin.settings import Settings

from .tasks import register_tasks


def create_worker_app(settings: Settings) -> Celery:
    app = make_celery(settings, "geopin-embedder")
    register_tasks(app, settings)
    return app


def worker_options(settings: Settings) -> list[str]:
    # One process per host, ONNX Runtime using every core; as many task threads as photos
    # in a batch, so the micro-batcher can gather a full batch.
    return [
        f"--queues={EMBED_QUEUE}",
        "--pool=threads",
        f"--concurrency={settings.model.max_batch}",
        "--hostname=embedder@%h",
    ]


def main() -> None:
    run_worker(create_worker_app, worker_options)


if __name__ == "__main__":
    main()
